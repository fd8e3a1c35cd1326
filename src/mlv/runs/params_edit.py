"""Changing values in a params file in place: only the values named, every other byte kept.

A params file is written by people: its comments, key order and quoting are theirs.
So a value is changed by replacing the text of that one scalar, never by dumping the
document again. Each edit is checked by reading the new text back and comparing it
with the document intended; an edit that cannot be made that way is refused.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlv.core.yamlio import load_yaml
from mlv.errors import InvalidArgumentError, ParamsKeyError
from mlv.repo.files import atomic_write
from mlv.runs.params import PARAMS_SUFFIXES, load_params, lookup, split_key

Scalar = bool | int | float | str | None

# Words that YAML 1.1 or 1.2 reads as something other than a string when unquoted.
# Compared in lower case.
_YAML_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"})
_YAML_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
# What YAML may hold unescaped (PyYAML's reader refuses the rest).
# Read as line breaks by YAML 1.1, editors and ``str.splitlines``, though not by JSON.
_LINE_BREAKS = "\x85\u2028\u2029"
_YAML_PRINTABLE = re.compile("[\t\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


@dataclass(frozen=True)
class ParamsEdit:
    """A params file's text before and after an edit, not yet written."""

    path: Path
    name: str
    old_text: str
    new_text: str

    @property
    def changed(self) -> bool:
        return self.old_text != self.new_text

    def diff(self) -> str:
        """The edit as a unified diff (empty when nothing changes)."""
        lines = difflib.unified_diff(
            self.old_text.splitlines(keepends=True),
            self.new_text.splitlines(keepends=True),
            fromfile=f"a/{self.name}",
            tofile=f"b/{self.name}",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def plan_params_edit(
    path: Path, changes: Mapping[str, Scalar], *, name: str | None = None
) -> ParamsEdit:
    """What ``path`` would hold with each dotted key of ``changes`` set to its value.

    Every key must exist already and hold a single value (not a list or mapping);
    the values are scalars. Raises ``InvalidArgumentError`` (``ParamsKeyError`` for
    a key that is not there) when the edit cannot be made exactly.
    """
    shown = name or path.name
    suffix = path.suffix.lower()
    if suffix not in PARAMS_SUFFIXES:
        raise InvalidArgumentError(f"{shown}: not a params file (.yaml, .yml, .json or .toml)")
    doc = load_params(path, name=shown)
    text = path.read_text(encoding="utf-8")
    intended = _unshared(doc)
    for key, value in changes.items():
        _check_settable(doc, key, value, shown)
        _assign(intended, key, value)
    editor = _EDITORS[".yaml" if suffix == ".yml" else suffix]
    new_text = text
    for key, value in changes.items():
        new_text = editor(new_text, split_key(key), value, shown)
    reread = _reader(suffix)(new_text, shown)
    if not same_document(reread, intended):
        raise InvalidArgumentError(
            f"{shown}: the edit would not read back as intended, so it was not made; "
            "change the file by hand"
        )
    return ParamsEdit(path, shown, text, new_text)


def write_params_edit(edit: ParamsEdit) -> None:
    """Write a planned edit, whole or not at all; refused if the file changed since."""
    if edit.path.read_text(encoding="utf-8") != edit.old_text:
        raise InvalidArgumentError(
            f"{edit.name} changed while the edit was prepared; look at it again and retry"
        )
    if edit.changed:
        mode = edit.path.stat().st_mode & 0o777
        atomic_write(edit.path, edit.new_text.encode("utf-8"), mode=mode)


def set_params(path: Path, changes: Mapping[str, Scalar], *, name: str | None = None) -> ParamsEdit:
    """Set the dotted keys of ``changes`` in the params file ``path``; return the edit."""
    edit = plan_params_edit(path, changes, name=name)
    write_params_edit(edit)
    return edit


_WHOLE = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def parse_like(text: str, like: Scalar, key: str) -> Scalar:
    """``text`` (as typed in a form) read as a value of the type of ``like``.

    Raises ``InvalidArgumentError`` when it cannot be: ``"abc"`` for a number, say.
    """
    raw = text.strip()
    if isinstance(like, bool):
        lowered = raw.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise InvalidArgumentError(f"{key} is true or false, not {text!r}")
    if isinstance(like, int):
        # As YAML and JSON write one: no "1_000", no spaces inside.
        if not _WHOLE.fullmatch(raw):
            raise InvalidArgumentError(f"{key} is a whole number, not {text!r}")
        return int(raw, 10)
    if isinstance(like, float):
        number = float(raw) if _DECIMAL.fullmatch(raw) else math.nan
        if not math.isfinite(number):
            raise InvalidArgumentError(
                f"{key} is a number (finite, such as 0.01 or 1e-3), not {text!r}"
            )
        return number
    if isinstance(like, str):
        return text
    raise InvalidArgumentError(f"{key} holds {_kind(like)}, which cannot be edited here")


def same_document(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (``True`` is not ``1``, NaN is NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_document(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_document(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _check_settable(doc: Any, key: str, value: Any, shown: str) -> None:
    current = lookup(doc, key)  # ParamsKeyError when there is no such key
    if isinstance(current, (list, dict)):
        raise InvalidArgumentError(
            f"{shown}: '{key}' holds {_kind(current)}; only single values can be set"
        )
    if value is not None and not isinstance(value, (bool, int, float, str)):
        raise InvalidArgumentError(f"{shown}: '{key}' cannot be set to {_kind(value)}")


def _unshared(value: Any) -> Any:
    """A copy in which no two places share a value, as aliases in YAML make them.

    An edit through an anchor changes every alias of it: compared with this copy,
    such an edit reads back as more than was asked, and is refused.
    """
    if isinstance(value, dict):
        return {k: _unshared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unshared(v) for v in value]
    return value


def _assign(doc: Any, key: str, value: Any) -> None:
    parts = split_key(key)
    node = doc
    for part in parts[:-1]:
        node = node[_container_key(node, part)]
    node[_container_key(node, parts[-1])] = value


def _container_key(node: Any, part: str) -> Any:
    if isinstance(node, list):
        return int(part)
    if part in node:
        return part
    return next(k for k in node if not isinstance(k, str) and str(k) == part)


def _reader(suffix: str) -> Callable[[str, str], Any]:
    def read(text: str, shown: str) -> Any:
        if suffix == ".json":
            doc = json.loads(text) if text.strip() else None
        elif suffix == ".toml":
            doc = tomllib.loads(text)
        else:
            doc = load_yaml(text, shown)
        return {} if doc is None else doc

    return read


def _cannot(shown: str, key: list[str], why: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{shown}: cannot change '{'.'.join(key)}' in place ({why}); change it by hand"
    )


# -- YAML ------------------------------------------------------------------------------


def _edit_yaml(text: str, key: list[str], value: Scalar, shown: str) -> str:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        raise _cannot(shown, key, "the file does not parse as plain YAML") from None
    node = root
    for part in key:
        node = _yaml_child(node, part, shown, key)
    if not isinstance(node, yaml.ScalarNode):
        raise _cannot(shown, key, "it is not a single value")
    if node.style in ("|", ">"):
        raise _cannot(shown, key, "it is a block scalar")
    start, end = node.start_mark.index, node.end_mark.index
    written = text[start:end]
    if written[:1] in ("&", "*", "!"):
        raise _cannot(shown, key, "it carries an anchor, alias or tag")
    replacement = _yaml_scalar(value, node.style)
    if start == end and text[start - 1 : start] == ":":
        replacement = " " + replacement
    return text[:start] + replacement + text[end:]


def _yaml_child(node: yaml.Node, part: str, shown: str, key: list[str]) -> yaml.Node:
    if isinstance(node, yaml.MappingNode):
        found = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part]
        if len(found) == 1:
            return found[0]
        raise _cannot(shown, key, "the key is written through a merge or in another spelling")
    if isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
        return node.value[int(part)]
    raise _cannot(shown, key, "its place in the file could not be found")


def _yaml_scalar(value: Scalar, style: str | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _yaml_float(value)
    if any(char in _LINE_BREAKS for char in value):
        return _yaml_double_quoted(value)  # the only style that escapes them
    if style == "'" and "\n" not in value and _YAML_PRINTABLE.fullmatch(value or " "):
        return "'" + value.replace("'", "''") + "'"
    if style is None and _YAML_PLAIN.fullmatch(value) and value.lower() not in _YAML_RESERVED:
        return value
    return _yaml_double_quoted(value)


def _yaml_float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return "-.inf" if value < 0 else ".inf"
    text = repr(value)
    # YAML 1.1 readers (PyYAML) take a float only with a dot and a signed exponent.
    mantissa, e, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if e and exponent[0] not in "+-":
        exponent = "+" + exponent
    return mantissa + (e + exponent if e else "")


def _yaml_double_quoted(value: str) -> str:
    out = []
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif _YAML_PRINTABLE.fullmatch(char) and char not in "\x85\u2028\u2029\ufeff":
            out.append(char)
        else:
            code = ord(char)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else f"\\u{code:04x}"
                if code < 0x10000
                else f"\\U{code:08x}"
            )
    return '"' + "".join(out) + '"'


# -- JSON ------------------------------------------------------------------------------

_JSON = json.JSONDecoder()
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _edit_json(text: str, key: list[str], value: Scalar, shown: str) -> str:
    start = _JSON_SPACE.match(text, 0).end()  # type: ignore[union-attr]
    for part in key:
        start = _json_child(text, start, part, shown, key)
    _, end = _JSON.raw_decode(text, start)
    if text[start] in "[{":
        raise _cannot(shown, key, "it is not a single value")
    return text[:start] + _json_scalar(value, shown, key) + text[end:]


def _json_child(text: str, at: int, part: str, shown: str, key: list[str]) -> int:
    """Where the value under ``part`` starts in the container starting at ``at``."""
    opening = text[at]
    if opening not in "[{":
        raise _cannot(shown, key, "its place in the file could not be found")
    index = 0
    found: int | None = None
    pos = _JSON_SPACE.match(text, at + 1).end()  # type: ignore[union-attr]
    while text[pos] not in "]}":
        name: str | None = None
        if opening == "{":
            name, pos = _JSON.raw_decode(text, pos)
            pos = _JSON_SPACE.match(text, pos).end() + 1  # type: ignore[union-attr]  # the ':'
            pos = _JSON_SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if (name == part) if opening == "{" else (str(index) == part):
            if found is not None:
                raise _cannot(shown, key, "the key appears twice")
            found = pos
        _, pos = _JSON.raw_decode(text, pos)
        pos = _JSON_SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if text[pos] == ",":
            pos = _JSON_SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        index += 1
    if found is None:
        raise _cannot(shown, key, "its place in the file could not be found")
    return found


def _json_scalar(value: Scalar, shown: str, key: list[str]) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise _cannot(shown, key, "JSON holds no NaN or infinity")
    return _escape_breaks(json.dumps(value, ensure_ascii=False))


def _escape_breaks(text: str) -> str:
    """JSON (or TOML) text with the characters that editors and ``str.splitlines`` take
    for line breaks written as escapes: an edit must stay on its one line."""
    for char in _LINE_BREAKS:
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


# -- TOML ------------------------------------------------------------------------------

_TOML_TABLE = re.compile(r"\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?")
_TOML_ARRAY_TABLE = re.compile(r"\s*\[\[")
_TOML_KEY = re.compile(
    r"\s*((?:[A-Za-z0-9_-]+|\"[^\"\\]*\")(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"\\]*\"))*)\s*=\s*"
)
_TOML_AFTER = re.compile(r"\s*(?:#.*)?")


def _toml_parts(dotted: str) -> list[str]:
    return [p.strip().strip('"') for p in re.findall(r"\"[^\"]*\"|[^.]+", dotted)]


def _edit_toml(text: str, key: list[str], value: Scalar, shown: str) -> str:
    lines = text.splitlines(keepends=True)
    table: list[str] = []
    for n, line in enumerate(lines):
        if _TOML_ARRAY_TABLE.match(line):
            table = ["\x00"]  # an array of tables: nothing in it is edited here
            continue
        header = _TOML_TABLE.fullmatch(line.rstrip("\r\n"))
        if header:
            table = _toml_parts(header.group(1))
            continue
        assignment = _TOML_KEY.match(line)
        if not assignment or table + _toml_parts(assignment.group(1)) != key:
            continue
        start = assignment.end()
        end = _toml_value_end(line, start)
        if end is None:
            raise _cannot(shown, key, "its value does not fit on one line")
        lines[n] = line[:start] + _toml_scalar(value, shown, key) + line[end:]
        return "".join(lines)
    raise _cannot(shown, key, "it is written inline or under an array of tables")


def _toml_value_end(line: str, start: int) -> int | None:
    body = line.rstrip("\r\n")
    for end in range(start + 1, len(body) + 1):
        if not _TOML_AFTER.fullmatch(body, end):
            continue
        try:
            tomllib.loads("v = " + body[start:end])
        except tomllib.TOMLDecodeError:
            continue
        return end
    return None


def _toml_scalar(value: Scalar, shown: str, key: list[str]) -> str:
    if value is None:
        raise _cannot(shown, key, "TOML holds no null")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "-inf" if value < 0 else "inf"
        return repr(value)
    return _escape_breaks(json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f"))


_EDITORS: dict[str, Callable[[str, list[str], Scalar, str], str]] = {
    ".yaml": _edit_yaml,
    ".json": _edit_json,
    ".toml": _edit_toml,
}

__all__ = [
    "ParamsEdit",
    "ParamsKeyError",
    "parse_like",
    "plan_params_edit",
    "same_document",
    "set_params",
    "write_params_edit",
]
