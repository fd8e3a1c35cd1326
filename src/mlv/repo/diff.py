"""Comparing two flat views of a tree: what was added, removed and modified."""

from __future__ import annotations

from typing import NamedTuple

from mlv.repo.trees import Entry, Flat

ADDED = "added"
REMOVED = "removed"
MODIFIED = "modified"


class Change(NamedTuple):
    status: str
    path: str
    old: Entry | None
    new: Entry | None

    @property
    def size_delta(self) -> int:
        return (self.new.size if self.new else 0) - (self.old.size if self.old else 0)


def same(a: Entry, b: Entry) -> bool:
    return (a.kind, a.id, a.executable) == (b.kind, b.id, b.executable)


def diff_flat(old: Flat, new: Flat) -> list[Change]:
    changes: list[Change] = []
    for path in sorted(old.keys() | new.keys()):
        before, after = old.get(path), new.get(path)
        if before is None:
            changes.append(Change(ADDED, path, None, after))
        elif after is None:
            changes.append(Change(REMOVED, path, before, None))
        elif not same(before, after):
            changes.append(Change(MODIFIED, path, before, after))
    return changes
