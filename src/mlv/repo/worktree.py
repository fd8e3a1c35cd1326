"""Scanning the working tree: which files exist under the given paths, and their stat."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from mlv.repo.ignore import ALWAYS_IGNORED, IgnoreRules

KIND_FILE = "file"
KIND_SYMLINK = "symlink"


class FileStat(NamedTuple):
    kind: str
    size: int
    executable: bool
    mtime_ns: int
    ino: int


def stat_of(st: os.stat_result) -> FileStat | None:
    """The parts of a stat mlv tracks; None for anything but a file or symlink."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return FileStat(KIND_FILE, st.st_size, bool(mode & stat.S_IXUSR), st.st_mtime_ns, st.st_ino)
    if stat.S_ISLNK(mode):
        return FileStat(KIND_SYMLINK, st.st_size, False, st.st_mtime_ns, st.st_ino)
    return None


class ScanResult(NamedTuple):
    files: dict[str, FileStat]
    warnings: list[str]


def scan(root: Path, rel_paths: Iterable[str], ignore: IgnoreRules | None) -> ScanResult:
    """Find every file and symlink at or under ``rel_paths`` (POSIX, relative to root).

    Symlinks are recorded, never followed. Unreadable folders are reported in
    ``warnings`` and skipped, so one bad folder does not stop the scan.
    """
    files: dict[str, FileStat] = {}
    warnings: list[str] = []
    root_str = str(root)
    pending: list[str] = []
    for rel in rel_paths:
        if rel in ("", "."):
            pending.append("")
            continue
        try:
            st = os.lstat(os.path.join(root_str, rel))
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if not (ignore and ignore.ignores(rel, is_dir=True)):
                pending.append(rel)
        elif (info := stat_of(st)) is not None and not (ignore and ignore.ignores(rel)):
            files[rel] = info
    seen_dirs: set[str] = set()
    while pending:
        rel_dir = pending.pop()
        if rel_dir in seen_dirs:
            continue
        seen_dirs.add(rel_dir)
        prefix = rel_dir + "/" if rel_dir else ""
        try:
            entries = list(os.scandir(os.path.join(root_str, rel_dir)))
        except OSError as exc:
            warnings.append(f"skipped {rel_dir or '.'}: {exc.strerror}")
            continue
        for entry in entries:
            name = entry.name
            if name in ALWAYS_IGNORED:
                continue
            rel = prefix + name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not (ignore and ignore.ignores(rel, is_dir=True)):
                        pending.append(rel)
                    continue
                info = stat_of(entry.stat(follow_symlinks=False))
            except OSError as exc:
                warnings.append(f"skipped {rel}: {exc.strerror}")
                continue
            if info is not None and not (ignore and ignore.ignores(rel)):
                files[rel] = info
    return ScanResult(files, warnings)


def under(path: str, prefixes: Iterable[str]) -> bool:
    """True when ``path`` is one of ``prefixes`` or lies below one of them."""
    return any(p in ("", ".") or path == p or path.startswith(p + "/") for p in prefixes)
