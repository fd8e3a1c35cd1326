"""The model that the stateful working tree tests hold mlv to, in plain Python."""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

FILE = "file"
SYMLINK = "symlink"
DIR = "dir"
OTHER = "other"

# (kind, bytes: the content, or the symlink target; executable). A folder is (DIR, b"", False).
Node = tuple[str, bytes, bool]
Snapshot = dict[str, Node]

# Names the scan passes over without a word, at any depth (repo/ignore.py ALWAYS_IGNORED).
SILENTLY_SKIPPED = frozenset({".mlv", ".git", "mlv.lock"})
# Names no tree may hold, in any case (core/paths.py RESERVED_NAMES).
RESERVED = frozenset({".mlv", ".git"})
NAME_MAX_BYTES = 255
# mlv's own temporary files beside the file they replace (core/paths.py is_temporary_name).
TEMPORARY = re.compile(r"\..+\.mlv-(?:[0-9a-f]{8}|[0-9a-f]{12})\.tmp")


def skip_reason(path: str, node: Node) -> str | None:
    """Why ``mlv add`` leaves this working tree file or symlink out; None when it tracks it.

    The one rule the model follows: add tracks exactly what checkout would write
    back, so that nothing checkout refuses ever reaches a commit. "silent": skipped
    without a warning; anything else is skipped with one.
    """
    names = path.split("/")
    # A temporary is a file of mlv's; a folder named like one is content like any other.
    if any(name in SILENTLY_SKIPPED for name in names) or TEMPORARY.fullmatch(names[-1]):
        return "silent"
    if node[0] not in (FILE, SYMLINK):
        return "not a file"
    bad = next((name for name in names if not name_is_safe(name)), None)
    if bad is not None:
        return f"name {bad!r}"
    if node[0] == SYMLINK and not link_stays_inside(path, os.fsdecode(node[1])):
        return "symlink out of the tree"
    return None


def tracks(path: str, node: Node) -> bool:
    return skip_reason(path, node) is None


def name_is_safe(name: str) -> bool:
    """A single path component that checkout writes (core/paths.py name_problem)."""
    return (
        name not in ("", ".", "..")
        and not any(c in name for c in "/\\\x00")
        and name.lower() not in RESERVED
        and len(name.encode("utf-8", "surrogateescape")) <= NAME_MAX_BYTES
    )


def link_stays_inside(path: str, target: str) -> bool:
    """A symlink target that checkout writes (core/paths.py symlink_problem)."""
    if not target or target.startswith("/") or "\x00" in target:
        return False
    named = False
    for part in target.split("/"):
        if part == ".." and named:
            return False  # '..' after a name climbs out of wherever that name leads
        named = named or part not in ("", ".", "..")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if resolved == ".." or resolved.startswith("../"):
        return False
    return resolved.split("/")[0].lower() not in RESERVED


# -- the working tree as it is ------------------------------------------------------


def snapshot(root: Path, *, skip_top: str | None = ".mlv") -> Snapshot:
    """Every entry under ``root`` (folders too), symlinks read, never followed."""
    found: Snapshot = {}
    stack = [("", str(root))]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if not prefix and entry.name == skip_top:
                    continue
                rel = prefix + entry.name
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    found[rel] = (SYMLINK, os.fsencode(os.readlink(entry.path)), False)
                elif stat.S_ISDIR(mode):
                    found[rel] = (DIR, b"", False)
                    stack.append((rel + "/", entry.path))
                elif stat.S_ISREG(mode):
                    with open(entry.path, "rb") as f:
                        found[rel] = (FILE, f.read(), bool(mode & stat.S_IXUSR))
                else:
                    found[rel] = (OTHER, b"", False)
    return found


def files_of(snap: Mapping[str, Node]) -> Snapshot:
    """The files and symlinks of a snapshot (what a commit can hold), folders left out."""
    return {p: n for p, n in snap.items() if n[0] in (FILE, SYMLINK)}


def under(path: str, prefix: str) -> bool:
    return prefix == "" or path == prefix or path.startswith(prefix + "/")


def ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def describe_difference(want: Mapping[str, Node], have: Mapping[str, Node]) -> str:
    """A short account of how two snapshots differ, for an assertion message."""
    lines = []
    for path in sorted(want.keys() | have.keys()):
        a, b = want.get(path), have.get(path)
        if a != b:
            lines.append(f"  {path!r}: expected {_short(a)}, found {_short(b)}")
    return "\n".join(lines[:12]) + (f"\n  … {len(lines) - 12} more" if len(lines) > 12 else "")


def _short(node: Node | None) -> str:
    if node is None:
        return "nothing"
    kind, data, executable = node
    shown = data[:24] + (b"..." if len(data) > 24 else b"")
    return f"{kind}({shown!r}{', +x' if executable else ''}, {len(data)} bytes)"


# -- what add, checkout and merge should do --------------------------------------------


def staged_after_add(stage: Snapshot, disk: Snapshot, rels: Iterable[str]) -> Snapshot:
    """The stage after ``add(rels)``: under each path, exactly the tracked files on disk.

    A staged file where a newly staged path needs a folder goes, as in git: the file
    ``a`` became the folder that holds ``a/x``.
    """
    rels = list(rels)
    found = {
        p: n for p, n in files_of(disk).items() if any(under(p, r) for r in rels) and tracks(p, n)
    }
    kept = {p: n for p, n in stage.items() if not any(under(p, r) for r in rels)}
    return replace_in(kept, found)


def replace_in(stage: Snapshot, new: Snapshot) -> Snapshot:
    """``stage`` with ``new`` staged over it: a stage never holds a file and a folder by
    one name, so a new path pushes out the file above it and whatever was below it."""
    folders = {a for p in new for a in ancestors(p)}
    kept = {
        p: n
        for p, n in stage.items()
        if p not in folders and not any(under(p, q) and p != q for q in new)
    }
    return {**kept, **new}


class Move:
    """What moving the working tree from HEAD's content to ``target`` should do.

    Without ``force``, a path whose content HEAD and the target share is left alone
    (local changes and all), as git does; so are files staged but never committed.
    With ``force`` every path of the target is written as the target has it, and
    files staged but never committed stay on disk, no longer staged. ``carry`` False
    (a merge) writes the whole target. ``whole`` False (restoring some paths) writes
    the target's paths and leaves every other path, and its stage, as it is.
    """

    def __init__(
        self,
        disk: Snapshot,
        stage: Snapshot,
        head: Snapshot,
        target: Snapshot,
        *,
        force: bool,
        carry: bool = True,
        whole: bool = True,
    ) -> None:
        self.disk, self.stage, self.head, self.target, self.force = disk, stage, head, target, force

        def carried(p: str) -> bool:
            return carry and not force and p in head and head[p] == target[p]

        self.writes = {p: n for p, n in target.items() if not carried(p)}
        self.kept_same = [p for p in target if carried(p)]
        never_committed = {p: n for p, n in stage.items() if p not in target and p not in head}
        self.removals = sorted(p for p in stage if p not in target and p not in never_committed)
        self.kept_new = never_committed if carry and not force else {}
        self.whole = whole
        if not whole:
            self.removals = []

    def new_stage(self) -> Snapshot:
        if not self.whole:
            return replace_in(self.stage, self.writes)
        same = {p: self.stage[p] for p in self.kept_same if p in self.stage}
        return replace_in(self.kept_new, {**same, **self.writes})

    def disk_after(self) -> Snapshot:
        files = files_of(self.disk)
        for p in self.removals:
            files.pop(p, None)
        files.update(self.writes)
        return files

    def at_risk(self) -> list[str]:
        """Files with content HEAD does not hold that the move would overwrite or delete."""
        if self.force:
            return []
        files = files_of(self.disk)
        risky = [
            p
            for p, want in self.writes.items()
            if p in files and files[p] != want and files[p] != self.head.get(p)
        ]
        risky += [p for p in self.removals if p in files and files[p] != self.head.get(p)]
        return sorted(risky)

    def refusal_reasons(self) -> list[str]:
        """Every reason a careful checkout has to refuse this move (empty: it must succeed)."""
        reasons = [f"{p!r} holds uncommitted work" for p in self.at_risk()]
        removing = set(self.removals)
        for p, node in self.writes.items():
            if not tracks(p, node):
                reasons.append(f"the target holds {p!r}, which checkout refuses")
            here = self.disk.get(p)
            if here is not None and here[0] == DIR:
                reasons.append(f"a folder is in the way of {p!r}")
            if any(under(q, p) and q != p for q in self.kept_new):
                reasons.append(f"files below {p!r} are staged, never committed")
            for a in ancestors(p):
                there = self.disk.get(a)
                if there is not None and there[0] != DIR and a not in removing:
                    reasons.append(f"{a!r} is a {there[0]} where {p!r} needs a folder")
                if a in self.kept_new:
                    reasons.append(f"{a!r} is staged, never committed, where {p!r} needs a folder")
        return reasons


def three_way(
    base: Snapshot, ours: Snapshot, theirs: Snapshot, prefer: str | None
) -> tuple[Snapshot, list[str]]:
    """File-level three-way merge: (merged content, conflicting paths).

    A path changed on one side takes that side; changed alike on both, no conflict;
    else ``prefer`` ("ours"/"theirs") settles it or it conflicts. A file on one side
    where the other has a folder conflicts, or with ``prefer`` takes that side's subtree.
    """
    merged: Snapshot = {}
    conflicts: list[str] = []
    for path in sorted(base.keys() | ours.keys() | theirs.keys()):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if o == t or b == t:
            result = o
        elif b == o:
            result = t
        elif prefer == "ours":
            result = o
        elif prefer == "theirs":
            result = t
        else:
            conflicts.append(path)
            continue
        if result is not None:
            merged[path] = result
    folders = {a for p in merged for a in ancestors(p)}
    clashes = [p for p in merged if p in folders]
    if prefer is not None:
        side = ours if prefer == "ours" else theirs
        for clash in clashes:
            for q in [q for q in merged if under(q, clash)]:
                del merged[q]
            merged.update((q, n) for q, n in side.items() if under(q, clash))
        clashes = []
    return merged, sorted(set(conflicts) | set(clashes))


def best_common_ancestors(parents: Mapping[str, tuple[str, ...]], a: str, b: str) -> list[str]:
    """The common ancestors of ``a`` and ``b`` that no other common ancestor descends from."""
    common = reachable(parents, [a]) & reachable(parents, [b])
    redundant = reachable(parents, [p for c in common for p in parents[c]])
    return sorted(common - redundant)


def reachable(parents: Mapping[str, tuple[str, ...]], starts: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        c = stack.pop()
        if c not in seen:
            seen.add(c)
            stack.extend(parents[c])
    return seen
