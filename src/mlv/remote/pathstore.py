"""A remote in a folder, local or mounted: one file per key, compare-and-swap by lock file.

Every write goes to a temporary file beside its key, fsynced, then renamed (``put``,
``replace``) or hard-linked (``create``) into place, so no reader sees half a file.
``replace`` and ``delete`` hold ``<key>.lock``, created exclusively, while they compare
and write. The token of a version is the BLAKE3 hash of its bytes.

Nothing is reached through a symlink: every parent of a key is checked with ``lstat``,
and a symlink found inside the remote makes it a damaged remote, never followed. The
root alone may be one, since the user named it: it is resolved once, when opened.

``delete`` removes the folders it leaves empty, up to the root; a write that finds its
folder removed under it this way makes it again (``_WRITE_TRIES``).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import stat
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from mlv.core.hashing import hash_bytes
from mlv.core.paths import fsync_path, is_temporary_name, lstat_or_none, temporary_name
from mlv.errors import RemoteError
from mlv.remote.storage import (
    CHUNK_SIZE,
    LOCK_SUFFIX,
    Entry,
    LocalFile,
    Progress,
    Upload,
    changed_error,
    check_key,
    check_prefix,
    check_ranges,
    missing,
    open_local,
    truncated,
    write_download,
)
from mlv.repo.files import atomic_write

# How long replace and delete wait for another writer's lock before giving up.
LOCK_TIMEOUT_S = 5.0
_LOCK_POLL_MAX_S = 0.1
# What a file system without hard links (some SMB and FUSE mounts) answers os.link with.
_NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS)
# How often a write makes a key's folders again when a delete removed them, empty,
# between the making and the writing.
_WRITE_TRIES = 5


class PathStorage:
    """A remote in the folder ``root``, which must exist."""

    def __init__(self, root: Path, *, lock_timeout: float = LOCK_TIMEOUT_S) -> None:
        given = Path(root).absolute()
        self.url = str(given)
        self.lock_timeout = lock_timeout
        # The root itself may be a symlink, since the user named it: followed once, here,
        # and never again; every path below is checked against symlinks.
        self.root = Path(os.path.realpath(given))
        try:
            st = os.stat(self.root)
        except FileNotFoundError:
            raise RemoteError(
                f"remote folder {self.url} does not exist: create it (mkdir) or fix the path"
            ) from None
        except OSError as exc:
            raise RemoteError(f"cannot open remote folder {self.url}: {exc.strerror}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise RemoteError(f"remote {self.url} is not a folder: name a folder to hold it")

    def get(self, key: str) -> bytes | None:
        with self._os_errors("read", key):
            return self._read(self._path(key))

    def get_with_token(self, key: str) -> tuple[bytes, str] | None:
        data = self.get(key)
        return None if data is None else (data, hash_bytes(data))

    def put(self, key: str, data: bytes) -> None:
        with self._os_errors("write", key):
            for tries_left in reversed(range(_WRITE_TRIES)):
                try:
                    atomic_write(self._path(key, make_parents=True), data)
                    return
                except FileNotFoundError:
                    if not tries_left:
                        raise

    def create(self, key: str, data: bytes) -> str | None:
        with self._os_errors("create", key):
            for tries_left in reversed(range(_WRITE_TRIES)):
                try:
                    return self._create(key, data)
                except FileNotFoundError:
                    if not tries_left:
                        raise
        raise AssertionError("unreachable")

    def _create(self, key: str, data: bytes) -> str | None:
        path = self._path(key, make_parents=True)
        tmp = path.with_name(temporary_name(path.name))
        try:
            _write_new(tmp, data)
            try:
                # Unlike a rename, a link fails when the key exists: only one creator wins.
                os.link(tmp, path, follow_symlinks=False)
            except FileExistsError:
                return None
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                return self._create_locked(path, data)
            fsync_path(path.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return hash_bytes(data)

    def replace(self, key: str, data: bytes, token: str) -> str | None:
        with self._os_errors("replace", key):
            path = self._path(key)
            try:
                with self._locked(path):
                    current = self._read(path)
                    if current is None or hash_bytes(current) != token:
                        return None
                    atomic_write(path, data)
            except _FolderGone:
                return None  # the key is gone, and so is its folder: nothing to lock
            return hash_bytes(data)

    def delete(self, key: str) -> None:
        with self._os_errors("delete", key):
            path = self._path(key)
            try:
                # Under the lock, so that a replace in flight cannot bring the key back.
                with self._locked(path), contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            except _FolderGone:
                return
            self._remove_empty_folders(path.parent)

    def _remove_empty_folders(self, folder: Path) -> None:
        """Remove ``folder`` and each one above it while empty, up to the root (kept).

        Best effort: a folder that is not empty, is gone, or cannot be removed ends it.
        Never through a symlink: each one is checked with ``lstat`` first.
        """
        while folder != self.root and self.root in folder.parents:
            st = lstat_or_none(folder)
            if st is not None:
                if not stat.S_ISDIR(st.st_mode):
                    return
                try:
                    os.rmdir(folder)
                except FileNotFoundError:
                    pass  # another delete removed it: go on with the one above
                except OSError:
                    return  # not empty (ENOTEMPTY, EEXIST), or not ours to remove
            folder = folder.parent

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        for entry in self.entries(prefix):
            yield entry.key, entry.size

    def entries(self, prefix: str) -> Iterator[Entry]:
        folder = check_prefix(prefix)
        with self._os_errors("list", folder or "the remote"):
            start = self._path(folder) if folder else self.root
            st = lstat_or_none(start)
            if st is None or stat.S_ISREG(st.st_mode):
                return
            if not stat.S_ISDIR(st.st_mode):
                raise self._damaged(folder or "its folder", "a symlink or special file")
            pending = [folder]
            while pending:
                current = pending.pop()
                with os.scandir(self.root / current) as entries:
                    for entry in entries:
                        rel = f"{current}/{entry.name}" if current else entry.name
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(rel)
                        elif not entry.is_file(follow_symlinks=False):
                            raise self._damaged(rel, "a symlink or special file")
                        elif not _is_own_file(entry.name):
                            st = entry.stat(follow_symlinks=False)
                            yield Entry(rel, st.st_size, st.st_mtime)

    def put_file(self, key: str, path: Path, *, progress: Progress | None = None) -> None:
        check_key(key)
        source, size = open_local(self.url, key, path)
        with source, self._os_errors("write", key):
            reader = LocalFile(source, size, progress)
            target, tmp, out = self._new_temporary(key)
            try:
                with out:
                    try:
                        while True:
                            chunk = reader.read(CHUNK_SIZE)
                            if not chunk:
                                break
                            out.write(chunk)
                    except OSError:
                        if reader.changed:
                            raise changed_error(self.url, key, path) from None
                        raise
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)
                fsync_path(target.parent)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                raise

    def open_upload(self, folder: str, scratch: Path, progress: Progress | None) -> Upload:
        # Written where it will land, so that landing it is a rename: its bytes are
        # written once, not staged and copied.
        with self._os_errors("write", check_prefix(folder)):
            _, tmp, out = self._new_temporary(f"{folder}/upload")
        return _FolderUpload(self, tmp, out, progress)

    def sweep_uploads(self, folder: str, cutoff: float, *, dry_run: bool) -> builtins.list[Entry]:
        found: builtins.list[Entry] = []
        with self._os_errors("clean", check_prefix(folder)):
            start = self._path(f"{folder}/x")  # checks each folder above for symlinks
            st = lstat_or_none(start.parent)
            if st is None or not stat.S_ISDIR(st.st_mode):
                return found
            with os.scandir(start.parent) as entries:
                for entry in entries:
                    if not (is_temporary_name(entry.name) and entry.is_file(follow_symlinks=False)):
                        continue
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # a push renamed it into place meanwhile
                    if info.st_mtime <= cutoff:
                        found.append(Entry(f"{folder}/{entry.name}", info.st_size, info.st_mtime))
                        if not dry_run:
                            with contextlib.suppress(FileNotFoundError):
                                os.unlink(entry.path)
        return found

    def _new_temporary(self, key: str) -> tuple[Path, Path, BinaryIO]:
        """The file of ``key``, a temporary beside it and that temporary, opened to write."""
        for tries_left in reversed(range(_WRITE_TRIES)):
            target = self._path(key, make_parents=True)
            tmp = target.with_name(temporary_name(target.name))
            try:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
                # Once it exists its folder is not empty: no delete can remove it under us.
                return target, tmp, open(os.open(tmp, flags, 0o666), "wb")
            except FileNotFoundError:
                if not tries_left:
                    raise
        raise AssertionError("unreachable")

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self.get_ranges(key, [(start, length)])[0]

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> builtins.list[bytes]:
        check_ranges(ranges)
        with self._os_errors("read", key):
            fd = self._open(self._path(key))
            if fd is None:
                raise missing(self.url, key)
            try:
                size = os.fstat(fd).st_size
                for start, length in ranges:
                    if start + length > size:
                        raise truncated(self.url, key, size, start, length)
                found = [os.pread(fd, length, start) for start, length in ranges]
            finally:
                os.close(fd)
        for data, (start, length) in zip(found, ranges, strict=True):
            if len(data) != length:  # shortened since the fstat
                raise truncated(self.url, key, start + len(data), start, length)
        return found

    def get_to_file(self, key: str, path: Path, *, progress: Progress | None = None) -> int | None:
        with self._os_errors("read", key):
            fd = self._open(self._path(key))
        if fd is None:
            return None
        with open(fd, "rb") as f:
            return write_download(self.url, key, path, self._chunks(f, key), progress)

    def _chunks(self, f: BinaryIO, key: str) -> Iterator[bytes]:
        while True:
            with self._os_errors("read", key):
                chunk = f.read(CHUNK_SIZE)
            if not chunk:
                return
            yield chunk

    def _path(self, key: str, make_parents: bool = False) -> Path:
        """The file of ``key``, after checking (or making) each folder above it."""
        parts = check_key(key).split("/")
        current = self.root
        for depth, part in enumerate(parts[:-1], start=1):
            current = current / part
            st = lstat_or_none(current)
            if st is None and make_parents:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(current)
                # Checked after the mkdir too: something may have raced a symlink in.
                st = os.lstat(current)
            if st is None:
                break  # nothing below a missing folder: reads find nothing
            if not stat.S_ISDIR(st.st_mode):
                what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a folder"
                raise self._damaged("/".join(parts[:depth]), what)
        return self.root / key

    def _read(self, path: Path) -> bytes | None:
        fd = self._open(path)
        if fd is None:
            return None
        with open(fd, "rb") as f:
            return f.read()

    def _open(self, path: Path) -> int | None:
        """A descriptor of the file ``path``, never through a symlink; None when absent."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._damaged(self._rel(path), "a symlink") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self._damaged(self._rel(path), "not a file")
        return fd

    def _create_locked(self, path: Path, data: bytes) -> str | None:
        """``create`` where hard links are not supported: every creator there comes here."""
        with self._locked(path):
            if lstat_or_none(path) is not None:
                return None
            atomic_write(path, data)
        return hash_bytes(data)

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        lock = path.with_name(path.name + LOCK_SUFFIX)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.005
        while True:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                break
            except FileNotFoundError:
                if lstat_or_none(lock.parent) is None:
                    raise _FolderGone from None
                raise
            except FileExistsError:
                if time.monotonic() >= deadline:
                    raise RemoteError(
                        f"remote {self.url}: {self._rel(lock)} is held by another writer "
                        f"(waited {self.lock_timeout:g} s); if no mlv is using this remote, "
                        f"remove {lock} and try again"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, _LOCK_POLL_MAX_S)
        try:
            try:
                # Who holds it, for whoever finds it left behind.
                os.write(fd, f"{os.getpid()}\n".encode())
            finally:
                os.close(fd)
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)

    @contextlib.contextmanager
    def _os_errors(self, action: str, key: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise RemoteError(
                f"remote {self.url}: cannot {action} {key}: {exc.strerror or exc}"
            ) from None

    def _damaged(self, rel: str, found: str) -> RemoteError:
        return RemoteError(
            f"remote {self.url} is damaged: {rel} is {found}, and mlv does not follow or "
            "replace it; move it out of the remote folder and try again"
        )

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


class _FolderUpload:
    """An upload written in a temporary beside its key, then fsynced and renamed."""

    def __init__(
        self, storage: PathStorage, tmp: Path, out: BinaryIO, progress: Progress | None
    ) -> None:
        self.storage, self.tmp, self.out, self.progress = storage, tmp, out, progress

    def write(self, data: bytes) -> None:
        with self.storage._os_errors("write", self.storage._rel(self.tmp)):
            self.out.write(data)
        if self.progress is not None:
            self.progress(len(data))

    def finish(self, key: str) -> None:
        try:
            with self.storage._os_errors("write", key):
                self.out.flush()
                os.fsync(self.out.fileno())
                self.out.close()
                target = self.storage._path(key, make_parents=True)
                # The temporary lies in the key's own folder: the rename cannot cross one.
                if target.parent != self.tmp.parent:
                    raise ValueError(f"{key} is not in the folder of its upload")
                os.replace(self.tmp, target)
                fsync_path(target.parent)
        finally:
            self.abandon()

    def abandon(self) -> None:
        # A close after a failed write (a full disk) fails again, flushing what is left:
        # the temporary goes all the same, and the first error is the one raised.
        with contextlib.suppress(OSError):
            self.out.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()


class _FolderGone(FileNotFoundError):
    """The folder of a key to lock is missing: so is the key."""


def _is_own_file(name: str) -> bool:
    """A file this backend writes beside a key, never a key: a temporary or a lock."""
    return name.endswith(LOCK_SUFFIX) or is_temporary_name(name)


def _write_new(path: Path, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
