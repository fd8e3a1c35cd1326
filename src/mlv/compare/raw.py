"""Byte and line comparison: the fallback for any file no structured family can read."""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

from mlv.compare.result import Comparison, differ, fmt_count, plural
from mlv.model.runs import DIFFERENT

_CHUNK = 1 << 20
# Line diffs read both files whole; past this size the byte offset is all we report.
TEXT_LIMIT = 32 << 20
# difflib is quadratic at worst: beyond this many changed lines we count positions instead.
_DIFFLIB_LINES = 5_000


def same_bytes(recorded: Path, rebuilt: Path) -> bool:
    if recorded.stat().st_size != rebuilt.stat().st_size:
        return False
    with recorded.open("rb") as a, rebuilt.open("rb") as b:
        while True:
            x, y = a.read(_CHUNK), b.read(_CHUNK)
            if x != y:
                return False
            if not x:
                return True


def first_difference(recorded: Path, rebuilt: Path) -> int | None:
    """The 1-based position of the first byte that differs; None when the bytes are equal."""
    offset = 0
    with recorded.open("rb") as a, rebuilt.open("rb") as b:
        while True:
            x, y = a.read(_CHUNK), b.read(_CHUNK)
            if x != y:
                n = min(len(x), len(y))
                at = next((i for i in range(n) if x[i] != y[i]), n)
                return offset + at + 1
            if not x:
                return None
            offset += len(x)


def _text(path: Path) -> str | None:
    if path.stat().st_size > TEXT_LIMIT:
        return None
    data = path.read_bytes()
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _lines_differ(a: list[str], b: list[str]) -> tuple[int, int]:
    """How many lines changed (removed, added or rewritten) and the first such line, 1-based."""
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    mid_a, mid_b = a[head : len(a) - tail], b[head : len(b) - tail]
    if not mid_a and not mid_b:
        return 0, 0
    if max(len(mid_a), len(mid_b)) <= _DIFFLIB_LINES:
        import difflib

        matcher = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False)
        kept = sum(block.size for block in matcher.get_matching_blocks())
        changed = max(len(mid_a), len(mid_b)) - kept
    else:
        changed = sum(1 for x, y in zip_longest(mid_a, mid_b) if x != y)
    return changed, head + 1


def _text_detail(a: str, b: str) -> str:
    la, lb = a.splitlines(), b.splitlines()
    changed, first = _lines_differ(la, lb)
    counts = f"lines {fmt_count(len(la))} → {fmt_count(len(lb))}; " if len(la) != len(lb) else ""
    if changed == 0:
        return counts + "same lines; line endings or the final newline differ"
    total = max(len(la), len(lb))
    return (
        f"{counts}{fmt_count(changed)} of {plural(total, 'line')} {differ(changed)}, "
        f"first at line {first:,}"
    )


def compare_raw(recorded: Path, rebuilt: Path, note: str = "") -> Comparison:
    """Describe how two files whose bytes differ differ, as text when both are UTF-8.

    ``note`` is appended to the detail, e.g. why a structured comparison was not possible.
    """
    a, b = _text(recorded), _text(rebuilt)
    if a is not None and b is not None:
        detail = _text_detail(a, b)
    else:
        size_a, size_b = recorded.stat().st_size, rebuilt.stat().st_size
        if size_a == size_b:
            size = f"same size ({plural(size_a, 'byte')})"
        else:
            size = f"size {fmt_count(size_a)} → {fmt_count(size_b)} bytes"
        at = first_difference(recorded, rebuilt)
        detail = size if at is None else f"{size}; first difference at byte {at:,}"
    return Comparison(DIFFERENT, f"{detail}; {note}" if note else detail)
