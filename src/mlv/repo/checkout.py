"""Writing tree content into the working tree, refusing anything that would escape it."""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from mlv.errors import UncommittedChangesError, UnsafePathError
from mlv.model.objects import check_entry_name
from mlv.repo.blobs import iter_content, read_content
from mlv.repo.staging import Staged, trusted_mtime
from mlv.repo.trees import Entry
from mlv.repo.worktree import KIND_SYMLINK, stat_of
from mlv.store.objectstore import ObjectStore

WRITE_WORKERS = 4
PARALLEL_WRITE_MIN = 64


def check_path(path: str) -> None:
    """Refuse a repository path that is not a plain relative path inside the tree."""
    if path.startswith("/") or not path:
        raise UnsafePathError(f"unsafe path {path!r}: refusing to write it")
    for part in path.split("/"):
        check_entry_name(part)


def check_symlink_target(path: str, target: str) -> None:
    """Refuse a symlink whose target is absolute or climbs out of the working tree."""
    if posixpath.isabs(target) or "\x00" in target:
        raise UnsafePathError(f"symlink {path} points to {target!r}, outside the working tree")
    # A ".." after a name climbs out of wherever that name leads, perhaps another symlink
    # (`a -> b/c/..` with `b/c -> ..`), which normpath cannot see: only leading ".." pass.
    named = False
    for part in target.split("/"):
        if part == ".." and named:
            raise UnsafePathError(f"symlink {path} points to {target!r}: '..' after a name")
        named = named or part not in ("", ".", "..")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafePathError(f"symlink {path} points to {target!r}, outside the working tree")
    first = resolved.split("/")[0].lower()
    if first in (".mlv", ".git"):
        raise UnsafePathError(f"symlink {path} points into {first}: refusing it")


class Materialiser:
    """Writes and removes working tree files for checkout, restore and merge."""

    def __init__(self, root: Path, store: ObjectStore) -> None:
        self.root = root
        self.store = store

    def validate(self, writes: dict[str, Entry], removes: Iterable[str] = ()) -> None:
        """Check every path and symlink before anything is written."""
        removing = set(removes)
        checked: set[str] = set()
        for path, entry in writes.items():
            check_path(path)
            if entry.kind == KIND_SYMLINK:
                target = os.fsdecode(read_content(self.store, entry.id))
                check_symlink_target(path, target)
            self._check_in_the_way(path, removing, checked)

    def _check_in_the_way(self, path: str, removing: set[str], checked: set[str]) -> None:
        """Refuse up front what the writes would trip on, so that a refusal changes nothing."""
        parts = path.split("/")
        if any("/".join(parts[:depth]) in removing for depth in range(1, len(parts))):
            return  # a file removed first makes way; the write itself checks again
        folder = path.rpartition("/")[0]
        if folder not in checked:
            self._check_parents(path)
            checked.add(folder)
        full = os.path.join(self.root, path)
        if (
            os.path.isdir(full)
            and not os.path.islink(full)
            and not any(r.startswith(path + "/") for r in removing)
        ):
            raise UncommittedChangesError(
                f"a folder is in the way of {path}; move it away or commit it first"
            )

    def apply(
        self,
        writes: dict[str, Entry],
        removes: list[str],
        advance: Callable[[int], None] | None = None,
    ) -> dict[str, Staged]:
        """Remove, then write; return the staged entries (with stat) of what was written.

        Folders are written on a few threads, one folder per thread at a time:
        creating a file waits on the file system's journal more than on the CPU,
        so creators in different folders overlap their waits.
        """
        self.validate(writes, removes)
        for path in removes:
            check_path(path)
            self._check_parents(path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.root, path))
            self._prune_empty_parents(path)
        self.store.prefetch(entry.id for entry in writes.values())
        by_folder: dict[str, list[tuple[str, Entry]]] = {}
        for path, entry in sorted(writes.items()):
            by_folder.setdefault(path.rpartition("/")[0], []).append((path, entry))
        for items in by_folder.values():
            self._make_parents(items[0][0])

        def write_folder(items: list[tuple[str, Entry]]) -> list[tuple[str, Staged]]:
            done = []
            for path, entry in items:
                done.append((path, self._write_one(path, entry)))
                if advance is not None:
                    advance(entry.size)
            return done

        groups = list(by_folder.values())
        if len(groups) <= 1 or len(writes) < PARALLEL_WRITE_MIN:
            return {p: s for group in groups for p, s in write_folder(group)}
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(WRITE_WORKERS) as pool:
            return {p: s for done in pool.map(write_folder, groups) for p, s in done}

    def _check_parents(self, path: str) -> None:
        current = self.root
        for part in path.split("/")[:-1]:
            current = current / part
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                return
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePathError(
                    f"{current.relative_to(self.root)} is a symlink: refusing to write "
                    f"{path} through it"
                )
            if not stat.S_ISDIR(st.st_mode):
                raise UncommittedChangesError(
                    f"{current.relative_to(self.root)} is a file where {path} needs a folder; "
                    "move it away or commit it first"
                )

    def _make_parents(self, path: str) -> None:
        self._check_parents(path)
        parent = (self.root / path).parent
        parent.mkdir(parents=True, exist_ok=True)

    def _write_one(self, path: str, entry: Entry) -> Staged:
        full = os.path.join(self.root, path)
        folder, _, name = full.rpartition("/")
        tmp = f"{folder}/.{name}.mlv-{os.urandom(4).hex()}.tmp"
        try:
            if entry.kind == KIND_SYMLINK:
                os.symlink(os.fsdecode(read_content(self.store, entry.id)), tmp)
            else:
                mode = 0o777 if entry.executable else 0o666
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
                try:
                    for block in iter_content(self.store, entry.id):
                        _write_fully(fd, block)
                finally:
                    os.close(fd)
            if os.path.isdir(full) and not os.path.islink(full):
                raise UncommittedChangesError(
                    f"a folder is in the way of {path}; move it away or commit it first"
                )
            os.replace(tmp, full)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        info = stat_of(os.lstat(full))
        assert info is not None
        return Staged(
            entry.kind,
            entry.id,
            entry.size,
            entry.executable,
            trusted_mtime(info.mtime_ns),
            info.ino,
        )

    def _prune_empty_parents(self, path: str) -> None:
        parent = (self.root / path).parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                return
            parent = parent.parent


def _write_fully(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
