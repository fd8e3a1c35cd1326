"""The write lock, `.mlv/lock`: one writer at a time; others wait, then fail clearly."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from mlv.errors import LockError

DEFAULT_LOCK_TIMEOUT = 600.0


class WriteLock:
    """An advisory ``flock`` on ``.mlv/lock``, re-entrant within one process.

    The kernel drops the lock when its holder dies, so a killed process never
    leaves a stale lock behind.
    """

    def __init__(
        self,
        path: Path,
        timeout: float = DEFAULT_LOCK_TIMEOUT,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.on_wait = on_wait
        self._fd: int | None = None
        self._depth = 0

    def acquire(self) -> None:
        if self._depth:
            self._depth += 1
            return
        fd = self._open()
        try:
            self._wait_for(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise self._unusable(exc) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._depth = 1

    def _open(self) -> int:
        # Never through a symlink: the pid written below would land wherever it points.
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise self._unusable(exc) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self._unusable(OSError(errno.EINVAL, "not a regular file"))
        return fd

    def _wait_for(self, fd: int) -> None:
        deadline = time.monotonic() + self.timeout
        warned = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockError(
                        f"another mlv process is writing to this repository ({self.holder()}); "
                        "try again when it has finished"
                    ) from None
                if not warned and self.on_wait is not None:
                    self.on_wait(f"waiting for another mlv process ({self.holder()})")
                    warned = True
                time.sleep(0.05)

    def _unusable(self, exc: OSError) -> LockError:
        """Why the lock file cannot be used, and what to do, in one line."""
        where = str(self.path)
        if exc.errno == errno.EISDIR:
            return LockError(
                f"{where} is a folder, but mlv keeps its lock file there; "
                "move the folder away and run the command again"
            )
        if exc.errno in (errno.ELOOP, errno.EINVAL):
            return LockError(
                f"{where} is not a regular file (a symbolic link, a pipe or a device); "
                "mlv writes its lock file there: remove it and run the command again"
            )
        if exc.errno in (errno.EACCES, errno.EPERM):
            return LockError(
                f"cannot open the lock file {where}: permission denied; commands that "
                f"change the repository must write to {self.path.parent}: check its "
                "permissions, or run mlv as the user who owns the repository"
            )
        if exc.errno == errno.EROFS:
            return LockError(
                f"cannot open the lock file {where}: the file system is read-only; "
                "commands that change the repository need it writable"
            )
        if exc.errno == errno.ENOLCK:
            return LockError(
                f"cannot lock {where}: the file system does not support locks; "
                "keep the repository on a local disk"
            )
        return LockError(
            f"cannot use the lock file {where}: {exc.strerror or exc}; "
            "check the disk and the permissions of the .mlv folder"
        )

    def holder(self) -> str:
        try:
            pid = self.path.read_text().strip()
        except OSError:
            pid = ""
        return f"pid {pid}" if pid else "unknown pid"

    def release(self) -> None:
        self._depth -= 1
        if self._depth or self._fd is None:
            return
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
