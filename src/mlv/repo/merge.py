"""Three-way merge at file level: take each side's change, and name the paths both changed."""

from __future__ import annotations

from typing import NamedTuple

from mlv.errors import InvalidArgumentError
from mlv.repo.diff import same
from mlv.repo.trees import Entry, Flat

OURS = "ours"
THEIRS = "theirs"


class MergeOutcome(NamedTuple):
    merged: Flat
    conflicts: list[str]


def _equal(a: Entry | None, b: Entry | None) -> bool:
    if a is None or b is None:
        return a is b
    return same(a, b)


def three_way(base: Flat, ours: Flat, theirs: Flat, prefer: str | None = None) -> MergeOutcome:
    """Merge two flat trees against their common base.

    A path changed on one side only takes that side. A path changed on both sides
    the same way is no conflict. Otherwise it is a conflict, settled by ``prefer``
    when given (``"ours"`` or ``"theirs"``), else listed in ``conflicts``.
    """
    if prefer not in (None, OURS, THEIRS):
        raise InvalidArgumentError(f"unknown merge preference {prefer!r}")
    merged: Flat = {}
    conflicts: list[str] = []
    for path in sorted(base.keys() | ours.keys() | theirs.keys()):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if _equal(o, t) or _equal(b, t):
            result = o
        elif _equal(b, o):
            result = t
        elif prefer == OURS:
            result = o
        elif prefer == THEIRS:
            result = t
        else:
            conflicts.append(path)
            continue
        if result is not None:
            merged[path] = result
    # A file on one side where the other side has a folder cannot be merged by name.
    folders: set[str] = set()
    for path in merged:
        parts = path.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clashes = [p for p in merged if p in folders]
    if prefer is not None:
        # The preferred side is a real tree: under a clashing name, take all of it.
        side = ours if prefer == OURS else theirs
        for clash in clashes:
            folder = clash + "/"
            for q in [q for q in merged if q == clash or q.startswith(folder)]:
                del merged[q]
            merged.update((q, e) for q, e in side.items() if q == clash or q.startswith(folder))
        clashes = []
    conflicts.extend(sorted(set(clashes) - set(conflicts)))
    return MergeOutcome(merged, sorted(conflicts))
