"""A checkout's three views of each path side by side, in path order, and cut into
batches: what lets a checkout of a million files hold a batch of them at a time.

The views are what the checkout writes (the target), what HEAD commits and what
the stage holds. Each comes as a stream sorted by path, the order of the staging
table (code points, as SQLite compares UTF-8 and Python compares ``str``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from mlv.repo.staging import Staged
from mlv.repo.trees import Entry

# Paths a checkout looks at, writes and stages at a time. A batch costs about 3 KB a
# path while it is worked on; a checkout of fewer paths is one batch, planned once.
BATCH_PATHS = 25_000


class PathRow(NamedTuple):
    """One path: what the target, HEAD and the stage hold there (None: nothing)."""

    path: str
    target: Entry | None
    head: Entry | None
    staged: Staged | None


def merge_rows(
    target: Iterable[tuple[str, Entry]],
    head: Iterable[tuple[str, Entry]] | None,
    staged: Iterable[tuple[str, Staged]],
) -> Iterator[PathRow]:
    """The union of three path-sorted streams, one row per path; ``head`` None where
    HEAD holds what the target holds (a restore from HEAD: one tree walked, not two)."""
    if head is None:
        yield from _merge_as_head(target, staged)
        return
    targets, heads, stages = iter(target), iter(head), iter(staged)
    t, h, s = next(targets, None), next(heads, None), next(stages, None)
    while t is not None or h is not None or s is not None:
        path = min(x[0] for x in (t, h, s) if x is not None)
        row_target = row_head = row_staged = None
        if t is not None and t[0] == path:
            row_target, t = t[1], next(targets, None)
        if h is not None and h[0] == path:
            row_head, h = h[1], next(heads, None)
        if s is not None and s[0] == path:
            row_staged, s = s[1], next(stages, None)
        yield PathRow(path, row_target, row_head, row_staged)


def _merge_as_head(
    target: Iterable[tuple[str, Entry]], staged: Iterable[tuple[str, Staged]]
) -> Iterator[PathRow]:
    """``merge_rows`` where HEAD is the target."""
    targets, stages = iter(target), iter(staged)
    t, s = next(targets, None), next(stages, None)
    while t is not None and s is not None:
        if t[0] == s[0]:
            yield PathRow(t[0], t[1], t[1], s[1])
            t, s = next(targets, None), next(stages, None)
        elif t[0] < s[0]:
            yield PathRow(t[0], t[1], t[1], None)
            t = next(targets, None)
        else:
            yield PathRow(s[0], None, None, s[1])
            s = next(stages, None)
    while t is not None:
        yield PathRow(t[0], t[1], t[1], None)
        t = next(targets, None)
    while s is not None:
        yield PathRow(s[0], None, None, s[1])
        s = next(stages, None)


def in_batches(rows: Iterable[PathRow], size: int | None = None) -> Iterator[list[PathRow]]:
    """``rows`` in lists of about ``size`` (``BATCH_PATHS``), never cutting a path
    from those below it.

    A file replaced by a folder, or the reverse, must be removed and written by
    the same batch: so a batch ends only where no path in it can have more below
    it. Everything below a path follows it closely in path order, so a batch
    outgrows ``size`` only by the paths below its last few.
    """
    size = BATCH_PATHS if size is None else size
    batch: list[PathRow] = []
    seen: set[str] = set()
    for row in rows:
        if len(batch) >= size and not _may_precede_below(row.path, seen):
            yield batch
            batch, seen = [], set()
        batch.append(row)
        seen.add(row.path)
    if batch:
        yield batch


def _may_precede_below(path: str, paths: set[str]) -> bool:
    """Whether one of ``paths`` may still have paths below it at or after ``path``.

    In path order everything below "a" ("a/…") comes after "a" but also after
    "a.b" or "a b": a path in ``paths`` that ``path`` starts with, followed by a
    character that sorts at or before "/", is still open.
    """
    return any(char <= "/" and path[:end] in paths for end, char in enumerate(path) if end)
