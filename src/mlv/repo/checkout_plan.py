"""Phase one of a checkout: every path, symlink and obstacle checked, and the way
each path is written chosen, before anything is written (see ``mlv.repo.checkout``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from mlv.core.paths import (
    TreeGate,
    check_relpath,
    check_symlink_target,
    lstat_or_none,
    name_problem,
    open_folder,
)
from mlv.errors import InvalidArgumentError, UncommittedChangesError, UnsafePathError
from mlv.repo.blobs import read_content
from mlv.repo.trees import Entry
from mlv.repo.worktree import KIND_SYMLINK
from mlv.store.objectstore import ObjectStore

# Where an unnamed file (O_TMPFILE) is reached to give it a name with linkat.
PROC_FD = "/proc/self/fd"
O_TMPFILE = getattr(os, "O_TMPFILE", 0)
TMPFILE_FLAGS = os.O_WRONLY | os.O_CLOEXEC | O_TMPFILE

# What phase one found at a folder of a path to write.
_REAL, _ABSENT, _BLOCKED = 0, 1, 2


class FolderState(NamedTuple):
    state: int  # _REAL, _ABSENT (made in the writing phase) or _BLOCKED
    near: str  # the nearest real folder at or above it
    dev: int  # the device of that folder


class WriteItem(NamedTuple):
    """One path to write, as phase one found its place."""

    path: str
    name: str
    entry: Entry
    # The folder it is written in: its own, or (for a temporary, while a file phase
    # two removes stands in the way of its own) the nearest real folder above.
    place: str
    in_place: bool  # named when complete; otherwise a temporary renamed in phase two
    # The topmost folder this checkout makes above the path ("" where its folder
    # exists, or where none can be built in `.mlv/tmp`): the path is then written
    # into that folder's copy there.
    fresh: str
    over_folder: bool  # an empty folder stands at the path now (phase two removes it)
    link_target: str | None  # a symlink's target, read and checked in phase one


class Planner:
    """Phase one of a ``Materialiser``: looks at the working tree, writes nothing."""

    def __init__(
        self, root: Path, store: ObjectStore, gate: TreeGate, journal_dir: Path | None
    ) -> None:
        self.root = root
        self._root = str(root)
        self.store = store
        self.gate = gate
        self.journal_dir = journal_dir
        self._tmpfile_ok: dict[int, bool] = {}  # device -> whether O_TMPFILE + linkat work
        self._scratch_dev: int | None = None  # the device of `.mlv/tmp`, once looked at

    def validate(self, writes: dict[str, Entry], removes: Iterable[str] = ()) -> list[WriteItem]:
        """Check every path, symlink and obstacle before anything is written; return
        each path to write with the way it will be written, sorted by path."""
        removing = set(removes)
        names_ok: set[str] = {""}
        for path in removing:
            self._check_names(path, names_ok)
        folders: dict[str, FolderState] = {}
        items: list[WriteItem] = []
        for path, entry in sorted(writes.items()):
            self._check_names(path, names_ok)
            link_target = None
            if entry.kind == KIND_SYMLINK:
                link_target = os.fsdecode(read_content(self.store, entry.id))
                check_symlink_target(path, link_target)
            folder, _, name = path.rpartition("/")
            where = self._folder(folder, path, removing, folders)
            over_folder = False
            fresh = ""
            if where.state == _REAL:
                st = lstat_or_none(f"{self._root}/{path}")
                in_place = st is None and self._tmpfile_works(where)
                if st is not None and stat.S_ISDIR(st.st_mode):
                    self._check_not_in_the_way(path, removing)
                    over_folder = True
                place = folder
            elif where.state == _ABSENT:
                in_place, place = True, folder
                if self._can_build_in_scratch(where):
                    fresh = _topmost_new(where.near, folder)
                else:
                    in_place = self._tmpfile_works(where)
            else:
                in_place, place = False, where.near
            items.append(
                WriteItem(path, name, entry, place, in_place, fresh, over_folder, link_target)
            )
        self._check_writable({p.rpartition("/")[0] for p in (*writes, *removing)})
        return items

    def _check_names(self, path: str, names_ok: set[str]) -> None:
        """``check_relpath``, each folder's names checked once."""
        folder, _, name = path.rpartition("/")
        if folder not in names_ok:
            if any(name_problem(part) is not None for part in folder.split("/")):
                check_relpath(path)
            names_ok.add(folder)
        if (not folder and path.startswith("/")) or name_problem(name) is not None:
            check_relpath(path)

    def _folder(
        self, folder: str, path: str, removing: set[str], known: dict[str, FolderState]
    ) -> FolderState:
        """What stands at ``folder`` and above it, looked at once per folder.

        Each folder above a path must be a real folder, absent, or a file or symlink
        that phase two removes first; anything else refuses the checkout.
        """
        found = known.get(folder)
        if found is not None:
            return found
        parts = folder.split("/") if folder else []
        depth = len(parts)
        while depth and "/".join(parts[:depth]) not in known:
            depth -= 1
        if depth == 0 and "" not in known:
            known[""] = FolderState(_REAL, "", os.stat(self.root).st_dev)
        above = known["/".join(parts[:depth])]
        for end in range(depth + 1, len(parts) + 1):
            current = "/".join(parts[:end])
            if above.state == _REAL:
                st = lstat_or_none(f"{self._root}/{current}")
                if st is None:
                    above = FolderState(_ABSENT, above.near, above.dev)
                elif stat.S_ISDIR(st.st_mode):
                    above = FolderState(_REAL, current, st.st_dev)
                elif current in removing:
                    above = FolderState(_BLOCKED, above.near, above.dev)
                else:
                    self._check_parents(path, removing)  # says what is wrong
                    raise UnsafePathError(
                        f"{current} changed while mlv looked at it; run the command again"
                    )
            known[current] = above
        return above

    def _can_build_in_scratch(self, where: FolderState) -> bool:
        """Whether a folder made at ``where`` can be built in `.mlv/tmp` and renamed there."""
        if self.journal_dir is None:
            return False
        if self._scratch_dev is None:
            # `.mlv/tmp` may not exist yet; it is made beside the rest of `.mlv`.
            found = lstat_or_none(self.journal_dir.parent)
            self._scratch_dev = found.st_dev if found is not None else -1
        return where.dev == self._scratch_dev

    def _tmpfile_works(self, where: FolderState) -> bool:
        """Whether files on ``where``'s device can be written unnamed, then named."""
        works = self._tmpfile_ok.get(where.dev)
        if works is None:
            works = self._tmpfile_ok[where.dev] = self._probe_tmpfile(where.near)
        return works

    def _probe_tmpfile(self, folder: str) -> bool:
        if not O_TMPFILE or not os.path.isdir(PROC_FD):
            return False
        try:
            folder_fd = open_folder(self.root, folder)
        except OSError:
            return False
        try:
            os.close(os.open(".", os.O_WRONLY | O_TMPFILE, 0o600, dir_fd=folder_fd))
        except OSError:
            return False  # no support, or no permission: _check_writable then says so
        finally:
            os.close(folder_fd)
        return True

    def _check_writable(self, folders: set[str]) -> None:
        """Each folder a file is created, renamed or removed in (or the nearest one that
        exists, where the others are made) must let us write: found now, not half-way."""
        nearest: set[Path] = set()
        for folder in folders:
            current = self.root / folder
            while current != self.root and not current.is_dir():
                current = current.parent
            nearest.add(current)
        for place in sorted(nearest):
            if not os.access(place, os.W_OK | os.X_OK):
                shown = place.relative_to(self.root).as_posix() or "the repository root"
                raise InvalidArgumentError(
                    f"cannot write in {shown}: permission denied; "
                    "give yourself write permission there and run the command again"
                )

    def _check_parents(self, path: str, removing: set[str]) -> None:
        """Each folder above ``path`` must be a real folder, absent, or something removed first."""
        self.gate.check_parents(
            path, removing, advice="move the symlink away and run the command again"
        )

    def _check_not_in_the_way(self, path: str, removing: set[str]) -> None:
        """A real folder at ``path`` must hold only files the checkout removes."""
        full = self.root / path
        for base, dirs, names in os.walk(full):
            # A symlink to a folder is listed with the folders; it is an entry to remove.
            links = [d for d in dirs if os.path.islink(os.path.join(base, d))]
            for name in [*names, *links]:
                rel = Path(base, name).relative_to(self.root).as_posix()
                if rel not in removing:
                    raise UncommittedChangesError(
                        f"a folder is in the way of {path} (it holds {rel}); "
                        "move it away or commit it first"
                    )


def _topmost_new(near: str, folder: str) -> str:
    """The folder just below ``near`` (the nearest real one) on the way to ``folder``."""
    rest = folder[len(near) + 1 :] if near else folder
    top = rest.split("/", 1)[0]
    return f"{near}/{top}" if near else top
