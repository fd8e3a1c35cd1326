"""Files inside ``.mlv`` reached without following a symlink: each folder opened from its parent."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from mlv.core.crashpoints import crash_point
from mlv.core.paths import temporary_name
from mlv.errors import BlockedPathError

FOLDER = "a folder"
FILE = "a file"
SYMLINK = "a symbolic link"
SPECIAL = "a special file"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
# O_NONBLOCK: opening a FIFO for reading would wait for a writer; this returns, and
# fstat then refuses it.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


def kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return SYMLINK
    if stat.S_ISDIR(mode):
        return FOLDER
    return FILE if stat.S_ISREG(mode) else SPECIAL


class ConfinedDir:
    """Reads and writes files under ``base`` by relative ``/``-separated paths.

    No symlink is followed on the way or at the end: one, or a file where a folder
    is needed, raises ``BlockedPathError``. ``base`` itself may be reached any way.
    """

    def __init__(self, base: Path) -> None:
        self.base = base

    def read(self, rel: str, limit: int = -1) -> bytes | None:
        """Up to ``limit`` bytes of the file (all with -1); None when it does not exist."""
        *parents, name = rel.split("/")
        folder = self._open_folder(parents, create=False)
        if folder is None:
            return None
        try:
            try:
                fd = os.open(name, _READ_FLAGS, dir_fd=folder)
            except FileNotFoundError:
                return None
            except OSError:
                self._refuse_unless(folder, name, rel, FILE)
                raise
            found = kind_of(os.fstat(fd).st_mode)
            if found != FILE:
                os.close(fd)
                raise BlockedPathError(rel, found, FILE)
            with open(fd, "rb") as f:
                return f.read(limit)
        finally:
            os.close(folder)

    def write(self, rel: str, data: bytes) -> None:
        """Replace the file atomically (see files.atomic_write), creating its folders."""
        *parents, name = rel.split("/")
        folder = self._open_folder(parents, create=True)
        assert folder is not None
        tmp = temporary_name(name)
        try:
            with open(os.open(tmp, _NEW_FLAGS, 0o666, dir_fd=folder), "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            crash_point("ref.before-rename")
            try:
                os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
            except OSError:
                self._refuse_unless(folder, name, rel, FILE)
                raise
            os.fsync(folder)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=folder)
            raise
        finally:
            os.close(folder)

    def append(self, rel: str, data: bytes) -> None:
        """Append ``data`` with one write, creating the file and its folders."""
        *parents, name = rel.split("/")
        folder = self._open_folder(parents, create=True)
        assert folder is not None
        try:
            try:
                fd = os.open(name, _APPEND_FLAGS, 0o666, dir_fd=folder)
            except OSError:
                self._refuse_unless(folder, name, rel, FILE)
                raise
            try:
                found = kind_of(os.fstat(fd).st_mode)
                if found != FILE:
                    raise BlockedPathError(rel, found, FILE)
                os.write(fd, data)
            finally:
                os.close(fd)
        finally:
            os.close(folder)

    def prepare(self, rel: str) -> None:
        """Create the folders ``rel`` needs; refuse anything in their way, or at ``rel``
        anything but a file."""
        *parents, name = rel.split("/")
        folder = self._open_folder(parents, create=True)
        assert folder is not None
        try:
            found = kind_of(os.lstat(name, dir_fd=folder).st_mode)
        except FileNotFoundError:
            return
        finally:
            os.close(folder)
        if found != FILE:
            raise BlockedPathError(rel, found, FILE)

    def remove(self, rel: str, keep: int) -> None:
        """Delete the file (a missing one is fine), then the folders it leaves empty,
        keeping the first ``keep`` components of ``rel``."""
        *parents, name = rel.split("/")
        folder = self._open_folder(parents, create=False)
        if folder is None:
            return
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=folder)
        finally:
            os.close(folder)
        self.prune(rel, keep)

    def prune(self, rel: str, keep: int) -> None:
        """Delete the empty folders on the way to ``rel``, deepest first, keeping the
        first ``keep`` components."""
        parts = rel.split("/")
        for depth in range(len(parts) - 1, keep, -1):
            folder = self._open_folder(parts[: depth - 1], create=False)
            if folder is None:
                continue
            try:
                os.rmdir(parts[depth - 1], dir_fd=folder)
            except OSError:
                return  # a folder that still holds something stays, and so do its parents
            finally:
                os.close(folder)

    def walk(self, rel: str) -> list[tuple[str, str]]:
        """``(path under rel, kind)`` of every entry that is not a folder, sorted.

        Folders are entered, symlinks never; a missing ``rel`` holds nothing.
        """
        found: list[tuple[str, str]] = []
        stack = [rel.split("/")]
        start = len(stack[0])
        while stack:
            parts = stack.pop()
            folder = self._open_folder(parts, create=False)
            if folder is None:
                continue
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append([*parts, entry.name])
                        else:
                            mode = entry.stat(follow_symlinks=False).st_mode
                            found.append(("/".join([*parts[start:], entry.name]), kind_of(mode)))
            finally:
                os.close(folder)
        return sorted(found)

    def _open_folder(self, parts: Sequence[str], *, create: bool) -> int | None:
        """A descriptor of ``base/parts``, or None when it is missing and not ``create``."""
        folder = os.open(self.base, os.O_RDONLY | os.O_DIRECTORY)
        for depth, part in enumerate(parts, 1):
            try:
                child = self._open_child(folder, part, "/".join(parts[:depth]), create)
            finally:
                os.close(folder)
            if child is None:
                return None
            folder = child
        return folder

    def _open_child(self, folder: int, name: str, rel: str, create: bool) -> int | None:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=folder)
        except FileNotFoundError:
            if not create:
                return None
        except OSError:
            self._refuse_unless(folder, name, rel, FOLDER)
            raise
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, dir_fd=folder)
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=folder)
        except OSError:
            self._refuse_unless(folder, name, rel, FOLDER)
            raise

    @staticmethod
    def _refuse_unless(folder: int, name: str, rel: str, wanted: str) -> None:
        """Raise ``BlockedPathError`` when ``name`` is not ``wanted``; return if it is
        (the caller re-raises its own error) or when it vanished."""
        try:
            found = kind_of(os.lstat(name, dir_fd=folder).st_mode)
        except OSError:
            return
        if found != wanted:
            raise BlockedPathError(rel, found, wanted)
