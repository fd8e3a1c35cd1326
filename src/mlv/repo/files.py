"""Crash-safe file writes: a temporary file in the same folder, fsync, rename into place."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mlv.core.crashpoints import crash_point
from mlv.core.paths import fsync_path, temporary_name


def atomic_write(path: Path, data: bytes, *, fsync: bool = True, mode: int = 0o666) -> None:
    """Replace ``path`` with ``data`` whole or not at all; ``mode`` (less the umask) is
    the new file's, from its first byte: a file of secrets is never readable by others."""
    tmp = path.with_name(temporary_name(path.name))
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        with open(os.open(tmp, flags, mode), "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        crash_point("file.before-rename")
        os.replace(tmp, path)
        if fsync:
            # The rename itself is durable only once its folder is synced.
            fsync_path(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
