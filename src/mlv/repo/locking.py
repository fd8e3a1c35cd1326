"""The repository write lock: one writer at a time; others wait, then fail clearly."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from mlv.errors import LockError

DEFAULT_LOCK_TIMEOUT = 600.0


class RepoLock:
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
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        warned = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockError(
                        f"another mlv process is writing to this repository ({self.holder()}); "
                        "try again when it has finished"
                    ) from None
                if not warned and self.on_wait is not None:
                    self.on_wait(f"waiting for another mlv process ({self.holder()})")
                    warned = True
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        self._depth = 1

    @property
    def held(self) -> bool:
        """Whether this process holds the lock (inside a ``with repo.lock`` block)."""
        return self._depth > 0

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

    def __enter__(self) -> RepoLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
