"""Edits of a TOML settings file that touch only the table or line they are about.

A person's ``config.toml`` holds comments, other tools' tables and keys mlv does not
know; rewriting it from what mlv parsed would drop them. Each edit here works on the
text: it cuts out one table (and its sub-tables), renames a header, replaces one
``key = value`` line or appends a table. The caller then checks that the edited text
parses to the document it meant (``Edit.check``), and refuses the edit otherwise.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mlv.errors import FormatError
from mlv.repo.config import parses_to

# A table header: `[a.b]`, `[ a . "b" ]`, with a comment after it or not. Not `[[a]]`.
_HEADER = re.compile(r"^[ \t]*\[(?!\[)(?P<name>[^\]\r\n]*)\][ \t]*(?:#[^\r\n]*)?\r?$", re.M)
_PART = re.compile(
    r"""[ \t]*(?:"(?P<basic>[^"\\]*)"|'(?P<literal>[^']*)'|(?P<bare>[A-Za-z0-9_-]+))[ \t]*"""
)


def header_path(name: str) -> tuple[str, ...] | None:
    """The keys of a header's name (``remote . "x"`` → ``("remote", "x")``); None for a
    name with escapes or anything else this module does not read."""
    parts = []
    for piece in name.split("."):
        match = _PART.fullmatch(piece)
        if match is None:
            return None
        parts.append(next(g for g in match.group("basic", "literal", "bare") if g is not None))
    return tuple(parts)


def _key(name: str) -> str:
    """A key as a header writes it: bare where it can be, else quoted."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else toml_string(name)


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string: JSON's escapes are TOML's too, and TOML also
    wants DEL (U+007F) escaped, which JSON leaves as it is."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _headers(text: str) -> list[tuple[int, int, tuple[str, ...] | None]]:
    """(start, end, keys) of every table header line, in order."""
    return [(m.start(), m.end(), header_path(m.group("name"))) for m in _HEADER.finditer(text)]


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _block_end(text: str, start: int, next_header: int) -> int:
    """Where a table that starts at ``start`` ends: before the comments just above the
    next header, which belong to the table they describe (blank lines go with it)."""
    end = next_header
    at = next_header
    lines = text[start:next_header].splitlines(keepends=True)
    for line in reversed(lines[1:]):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        at -= len(line)
        if stripped:
            end = at
    return end


def _content_end(text: str, header_end: int, next_header: int) -> int:
    """Just after the last line of a table that is neither blank nor a comment (its
    header line, for an empty table)."""
    at = header_end
    newline = text.find("\n", at)
    at = len(text) if newline < 0 or newline >= next_header else newline + 1
    last = at
    for line in text[at:next_header].splitlines(keepends=True):
        at += len(line)
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            last = at
    return last


def without_tables(text: str, keys: tuple[str, ...]) -> str:
    """``text`` without the table ``keys`` and its sub-tables."""
    headers = _headers(text)
    pieces, kept_from = [], 0
    for i, (start, _, found) in enumerate(headers):
        if found is None or found[: len(keys)] != keys:
            continue
        following = headers[i + 1][0] if i + 1 < len(headers) else len(text)
        pieces.append(text[kept_from:start])
        kept_from = _block_end(text, start, following)
    pieces.append(text[kept_from:])
    return "".join(pieces)


def with_table_renamed(text: str, keys: tuple[str, ...], new_last: str) -> str:
    """``text`` with the headers of table ``keys`` and its sub-tables naming ``new_last``
    in place of the last of ``keys``."""
    out, at = [], 0
    for match in _HEADER.finditer(text):
        found = header_path(match.group("name"))
        if found is None or found[: len(keys)] != keys:
            continue
        renamed = ".".join(_key(k) for k in (*keys[:-1], new_last, *found[len(keys) :]))
        out.append(text[at : match.start("name")] + renamed)
        at = match.end("name")
    out.append(text[at:])
    return "".join(out)


def with_key(text: str, keys: tuple[str, ...], key: str, value: str | None) -> str:
    """``text`` with ``key = value`` (a TOML value, already written) in table ``keys``:
    its line replaced, or added under the header; removed for None. A table that is
    not there is added at the end (unless removing)."""
    headers = _headers(text)
    line = f"{key} = {value}" if value is not None else None
    pattern = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=[^\r\n]*", re.M)
    for i, (_, end, found) in enumerate(headers):
        if found != keys:
            continue
        following = headers[i + 1][0] if i + 1 < len(headers) else len(text)
        existing = pattern.search(text, end, following)
        if existing is not None:
            if line is not None:
                return text[: existing.start()] + line + text[existing.end() :]
            after = existing.end()
            after += len(_newline(text)) if text.startswith(_newline(text), after) else 0
            return text[: existing.start()] + text[after:]
        if line is None:
            return text
        # After the table's last key: the lines already there keep their order.
        nl = _newline(text)
        at = _content_end(text, end, following)
        head = text[:at] if text[:at].endswith("\n") else text[:at] + nl
        return f"{head}{line}{nl}{text[at:]}"
    if line is None:
        return text
    return appended(text, keys, {key: value})


def appended(text: str, keys: tuple[str, ...], lines: dict[str, str | None]) -> str:
    """``text`` with a table ``keys`` at its end holding ``lines`` (TOML values)."""
    nl = _newline(text)
    body = "".join(f"{k} = {v}{nl}" for k, v in lines.items() if v is not None)
    head = text.rstrip("\r\n")
    return (
        f"{head}{nl}{nl}[{'.'.join(keys)}]{nl}{body}" if head else f"[{'.'.join(keys)}]{nl}{body}"
    )


@dataclass(frozen=True)
class Edit:
    """An edited text and the document it must parse to."""

    path: Path
    text: str
    expected: dict[str, object]

    def check(self) -> Edit:
        if not parses_to(self.text, self.expected):
            raise FormatError(
                f"{self.path} is written in a way mlv cannot edit safely (dotted keys, "
                "inline tables or escapes in the remote or core tables): edit it by hand"
            )
        return self
