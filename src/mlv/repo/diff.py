"""Comparing two flat views of a tree: what was added, removed and modified."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from mlv.model.objects import KIND_DIR, TreeEntry
from mlv.repo.protocols import TreeSource
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


def change_at(path: str, before: Entry | None, after: Entry | None) -> Change | None:
    """What happened at ``path`` between two versions; None when nothing did."""
    if before is None:
        return None if after is None else Change(ADDED, path, None, after)
    if after is None:
        return Change(REMOVED, path, before, None)
    return None if same(before, after) else Change(MODIFIED, path, before, after)


def diff_flat(old: Flat, new: Flat) -> list[Change]:
    changes = (change_at(p, old.get(p), new.get(p)) for p in sorted(old.keys() | new.keys()))
    return [c for c in changes if c is not None]


def diff_sorted(old: Iterable[tuple[str, Entry]], new: Iterable[tuple[str, Entry]]) -> list[Change]:
    """``diff_flat`` of two (path, entry) streams in path order, merged as they come:
    neither side is ever held whole."""
    changes: list[Change] = []
    left, right = iter(old), iter(new)
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            changes.append(Change(REMOVED, a[0], a[1], None))
            a = next(left, None)
        elif a is None or b[0] < a[0]:
            changes.append(Change(ADDED, b[0], None, b[1]))
            b = next(right, None)
        else:
            if (change := change_at(a[0], a[1], b[1])) is not None:
                changes.append(change)
            a, b = next(left, None), next(right, None)
    return changes


def diff_trees(
    reader: TreeSource, old: str | None, new: str | None, paths: list[str] | None = None
) -> list[Change]:
    """Changes between two stored trees, by path, never opening a subtree both sides share."""
    return sorted(iter_tree_changes(reader, old, new, paths), key=lambda c: c.path)


def iter_tree_changes(
    reader: TreeSource, old: str | None, new: str | None, paths: list[str] | None = None
) -> Iterator[Change]:
    """The changes of ``diff_trees`` in no set order, as they are found: a caller that
    keeps only some of them (the tables, say) never holds a change per file."""
    stack: list[tuple[str, str | None, str | None]] = [("", old, new)]
    while stack:
        prefix, a, b = stack.pop()
        if a == b:
            continue
        left = {e.name: e for e in reader.tree(a).entries} if a else {}
        right = {e.name: e for e in reader.tree(b).entries} if b else {}
        for name in left.keys() | right.keys():
            path = prefix + name
            if paths is not None and not any(
                path == p or path.startswith(p + "/") or p.startswith(path + "/") for p in paths
            ):
                continue
            x, y = left.get(name), right.get(name)
            x_dir = x is not None and x.kind == KIND_DIR
            y_dir = y is not None and y.kind == KIND_DIR
            if x_dir or y_dir:
                stack.append(
                    (path + "/", x.id if x and x_dir else None, y.id if y and y_dir else None)
                )
            if paths is not None and not any(path == p or path.startswith(p + "/") for p in paths):
                continue
            change = change_at(
                path,
                _as_entry(x) if x is not None and not x_dir else None,
                _as_entry(y) if y is not None and not y_dir else None,
            )
            if change is not None:
                yield change


def same_files(reader: TreeSource, old: str, new: str) -> bool:
    """Whether two stored trees hold the same files, symlinks and modes, whatever their
    ids (a format-1 tree names table profiles too); stops at the first difference."""
    stack = [(old, new)]
    while stack:
        a, b = stack.pop()
        if a == b:
            continue
        left = {e.name: e for e in reader.tree(a).entries}
        right = {e.name: e for e in reader.tree(b).entries}
        if left.keys() != right.keys():
            return False
        for name, x in left.items():
            y = right[name]
            if x.kind != y.kind:
                return False
            if x.kind == KIND_DIR:
                stack.append((x.id, y.id))
            elif not same(_as_entry(x), _as_entry(y)):
                return False
    return True


def _as_entry(entry: TreeEntry) -> Entry:
    return Entry(entry.kind, entry.id, entry.size, entry.executable)
