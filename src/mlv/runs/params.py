"""Params files (YAML, JSON, TOML) and the dotted keys that name values inside them."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlv.core.yamlio import load_yaml
from mlv.errors import ParamsKeyError, PipelineError

PARAMS_SUFFIXES = (".yaml", ".yml", ".json", ".toml")

_INDEX = re.compile(r"\[\s*(-?\d+)\s*\]")


def load_params(path: Path, *, name: str | None = None) -> dict[str, Any]:
    """The document in ``path``, read by its extension; an empty file is ``{}``.

    ``name`` is how errors refer to the file (the repository-relative path, say).
    """
    shown = name or str(path)
    suffix = path.suffix.lower()
    if suffix not in PARAMS_SUFFIXES:
        raise PipelineError(
            f"{shown}: params files must end in .yaml, .yml, .json or .toml, not '{suffix}'; "
            "convert it to one of those"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(f"{shown}: no such params file; create it or fix the path") from None
    except IsADirectoryError:
        raise PipelineError(f"{shown}: is a folder, not a params file; fix the path") from None
    except UnicodeDecodeError:
        raise PipelineError(f"{shown}: not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise PipelineError(f"{shown}: cannot read: {exc.strerror}") from None

    doc: Any
    if suffix in (".yaml", ".yml"):
        doc = load_yaml(text, shown)
    elif suffix == ".json":
        try:
            doc = json.loads(text) if text.strip() else None
        except json.JSONDecodeError as exc:
            raise PipelineError(
                f"{shown}: line {exc.lineno}: {exc.msg}; fix the JSON there"
            ) from None
    else:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PipelineError(f"{shown}: {exc}; fix the TOML there") from None

    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise PipelineError(
            f"{shown}: the top level must be a mapping of names to values, "
            f"not a {type(doc).__name__}"
        )
    return doc


def split_key(dotted_key: str) -> list[str]:
    """``a.b[0].c`` and ``a.b.0.c`` both become ``["a", "b", "0", "c"]``."""
    return _INDEX.sub(r".\1", dotted_key).split(".")


def _step(node: Any, part: str) -> tuple[bool, Any]:
    if isinstance(node, Mapping):
        if part in node:
            return True, node[part]
        # YAML keys such as `1:` load as ints; a dotted key can only spell them as text.
        for key in node:
            if not isinstance(key, str) and str(key) == part:
                return True, node[key]
        return False, None
    if isinstance(node, list) and part.isascii() and part.isdigit():
        index = int(part)
        if index < len(node):
            return True, node[index]
    return False, None


def lookup(doc: Any, dotted_key: str) -> Any:
    """The value at ``dotted_key`` (``train.lr``, ``layers.0.units``); ParamsKeyError if none."""
    parts = split_key(dotted_key)
    if not dotted_key or any(not part for part in parts):
        raise ParamsKeyError(dotted_key, f"'{dotted_key}' is not a valid key")
    node = doc
    for depth, part in enumerate(parts):
        found, node_next = _step(node, part)
        if not found:
            raise ParamsKeyError(dotted_key, _missing(dotted_key, parts, depth, node))
        node = node_next
    return node


def _missing(dotted_key: str, parts: list[str], depth: int, node: Any) -> str:
    parent = ".".join(parts[:depth])
    part = parts[depth]
    if isinstance(node, list):
        detail = f"'{parent}' is a list of {len(node)} item(s), with no index {part}"
    elif isinstance(node, Mapping):
        detail = f"'{parent}' has no '{part}'" if parent else ""
    else:
        detail = f"'{parent}' is a single value ({_kind(node)}), with nothing under it"
    return f"no key '{dotted_key}'" + (f": {detail}" if detail else "")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), type(value).__name__
    )


def flatten(doc: Mapping[Any, Any]) -> dict[str, Any]:
    """Every leaf under its dotted key; lists and empty mappings are leaves."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Mapping[Any, Any]) -> None:
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping) and value:
                walk(path, value)
            else:
                out[path] = value

    walk("", doc)
    return out


def select(doc: Mapping[Any, Any], keys: Iterable[str]) -> dict[str, Any]:
    """Dotted key -> value for each key asked; every leaf (``flatten``) when none are asked."""
    wanted = list(keys)
    if not wanted:
        return flatten(doc)
    return {key: lookup(doc, key) for key in wanted}
