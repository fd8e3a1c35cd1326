"""Folders compared file by file under the same relative paths; the worst file decides."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mlv.compare.files import compare_entry
from mlv.compare.result import (
    Comparison,
    capped,
    differ,
    fmt_count,
    max_or_none,
    plural,
    worst,
)
from mlv.model.runs import CLOSE, DIFFERENT, EQUIVALENT, IDENTICAL

_VERB = {CLOSE: "close", EQUIVALENT: "equivalent"}
# Each file's own detail is cut to this many characters inside the folder's one line.
_DETAIL_CHARS = 60


def list_files(root: Path) -> list[str]:
    """Relative POSIX paths of every file and symlink under root, sorted; folders are entered."""
    found: list[str] = []
    stack = [""]
    while stack:
        prefix = stack.pop()
        with os.scandir(root / prefix if prefix else root) as entries:
            for entry in entries:
                rel = f"{prefix}/{entry.name}" if prefix else entry.name
                # A symlink to a folder is compared by its target, never followed.
                if entry.is_dir(follow_symlinks=False):
                    stack.append(rel)
                else:
                    found.append(rel)
    return sorted(found)


def _short(detail: str) -> str:
    return detail if len(detail) <= _DETAIL_CHARS else detail[: _DETAIL_CHARS - 1] + "…"


def compare_folders(
    recorded: Path,
    rebuilt: Path,
    *,
    rtol: float,
    atol: float,
    exact: bool,
    skip: Callable[[str], bool] | None = None,
) -> Comparison:
    old, new = list_files(recorded), list_files(rebuilt)
    if skip is not None:
        old, new = [p for p in old if not skip(p)], [p for p in new if not skip(p)]
    old_set, new_set = set(old), set(new)
    added = [p for p in new if p not in old_set]
    removed = [p for p in old if p not in new_set]
    results = {
        p: compare_entry(recorded / p, rebuilt / p, rtol=rtol, atol=atol, exact=exact)
        for p in old
        if p in new_set
    }
    parts: list[str] = []
    if added:
        parts.append(f"{plural(len(added), 'file')} added: {capped(added)}")
    if removed:
        count = fmt_count(len(removed)) if added else plural(len(removed), "file")
        parts.append(f"{count} removed: {capped(removed)}")
    result = worst(c.result for c in results.values())
    if result != IDENTICAL:
        named = [
            f"{p} ({_short(c.detail)})" if c.detail else p
            for p, c in results.items()
            if c.result == result
        ]
        verb = _VERB.get(result) or differ(len(named))
        count = f"{fmt_count(len(named))} of {plural(len(results), 'file')}"
        parts.append(f"{count} {verb}: {capped(named, shown=3)}")
    moved = [c.values_moved for c in results.values() if c.values_moved is not None]
    return Comparison(
        DIFFERENT if added or removed else result,
        "; ".join(parts),
        max_or_none(c.max_rel_diff for c in results.values()),
        sum(moved) if moved else None,
    )
