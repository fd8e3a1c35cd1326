"""JSON and YAML documents compared as values: key order, white space and 1 vs 1.0 ignored."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlv.compare.result import Comparison, capped, rel_diff, settled, within
from mlv.model.runs import DIFFERENT

JSON_SUFFIXES = frozenset({".json"})
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
SUFFIXES = JSON_SUFFIXES | YAML_SUFFIXES

_SHOW_CHARS = 40


def _load(path: Path) -> Any:
    data = path.read_bytes()
    if path.suffix.lower() in JSON_SUFFIXES:
        return json.loads(data)
    import yaml

    from mlv.core.yamlio import BoundedSafeLoader

    try:
        # Bounded: an alias bomb in an output must not take the machine's memory.
        docs = list(yaml.load_all(data, Loader=BoundedSafeLoader))
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from exc
    # A stream of several documents is compared as the list of them.
    return docs[0] if len(docs) == 1 else docs


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _show(value: object) -> str:
    if isinstance(value, dict):
        return "{" + f"{len(value)} key{'' if len(value) == 1 else 's'}" + "}"
    if isinstance(value, list):
        return f"[{len(value)} item{'' if len(value) == 1 else 's'}]"
    if value is None or isinstance(value, bool | str):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = repr(value) if isinstance(value, float) else str(value)
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 1] + "…"


def _key(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _item(path: str, index: int) -> str:
    return f"{path}[{index}]"


@dataclass
class _Walk:
    rtol: float
    atol: float
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Keys, lengths or kinds of value differ: the documents cannot be merely close.
    reshaped: bool = False
    moved: int = 0
    max_rel: float | None = None

    def numbers(self, path: str, a: float, b: float) -> None:
        if a == b or (_is_nan(a) and _is_nan(b)):
            return
        self.moved += 1
        try:
            rel = rel_diff(a, b)
            ok = within(a, b, self.rtol, self.atol)
        except OverflowError:  # integers too large for a float
            rel, ok = math.inf, False
        self.max_rel = rel if self.max_rel is None else max(self.max_rel, rel)
        if not ok:
            self.changed.append(f"{path or '(root)'} {_show(a)} → {_show(b)}")

    def run(self, recorded: Any, rebuilt: Any) -> None:
        # An explicit stack: documents can nest deeper than Python's recursion limit.
        stack: list[tuple[str, Any, Any]] = [("", recorded, rebuilt)]
        while stack:
            path, a, b = stack.pop()
            if isinstance(a, dict) and isinstance(b, dict):
                self.added.extend(_key(path, k) for k in b if k not in a)
                self.removed.extend(_key(path, k) for k in a if k not in b)
                self.reshaped |= a.keys() != b.keys()
                common = [k for k in a if k in b]
                stack.extend((_key(path, k), a[k], b[k]) for k in reversed(common))
            elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
                stack.extend((_item(path, i), a[i], b[i]) for i in reversed(range(len(a))))
            elif _is_number(a) and _is_number(b):
                self.numbers(path, a, b)
            elif type(a) is not type(b) or a != b:
                self.moved += 1
                self.reshaped |= isinstance(a, dict | list) or isinstance(b, dict | list)
                self.changed.append(f"{path or '(root)'} {_show(a)} → {_show(b)}")


def compare_structured(
    recorded: Path, rebuilt: Path, rtol: float, atol: float
) -> Comparison | None:
    """Compare two JSON or YAML documents; None when either side does not parse."""
    try:
        a, b = _load(recorded), _load(rebuilt)
    except (ValueError, RecursionError):  # JSON, UTF-8 and YAML syntax errors alike
        return None
    walk = _Walk(rtol, atol)
    walk.run(a, b)
    if walk.reshaped or walk.changed:
        parts = [
            f"{label}: {capped(items)}"
            for label, items in (
                ("changed", walk.changed),
                ("added", walk.added),
                ("removed", walk.removed),
            )
            if items
        ]
        return Comparison(DIFFERENT, "; ".join(parts), walk.max_rel, walk.moved)
    return settled(walk.moved, walk.max_rel, "same values; formatting or key order differs")
