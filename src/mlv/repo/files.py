"""Crash-safe file writes: a temporary file in the same folder, fsync, rename into place."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mlv.core.crashpoints import crash_point
from mlv.core.paths import temporary_name


def atomic_write(path: Path, data: bytes, *, fsync: bool = True) -> None:
    tmp = path.with_name(temporary_name(path.name))
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        crash_point("file.before-rename")
        os.replace(tmp, path)
        if fsync:
            # The rename itself is durable only once its folder is synced.
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
