"""Scanning the working tree: which files exist under the given paths, and their stat."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from mlv.core.paths import is_temporary_name, lstat_or_none, name_problem, symlink_problem
from mlv.repo.ignore import ALWAYS_IGNORED, IgnoreRules

KIND_FILE = "file"
KIND_SYMLINK = "symlink"


_FMT_MASK = 0o170000
_KINDS = {stat.S_IFREG: "file", stat.S_IFLNK: "symlink"}
# What the other kinds of entry are called in a warning.
_OTHER_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


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


# A stat cache row as ``StagingArea.load_stat_cache`` gives it:
# (path, mtime_ns, size, ino, kind, executable).
StatRow = tuple[str, int, int, int, str, int]


class ScanResult(NamedTuple):
    files: dict[str, FileStat]
    warnings: list[str]
    # With a stat cache: the paths left out of ``files`` because their stat matched.
    unchanged: list[str]
    # Files and folders skipped because they could not be read: what they hold is
    # unknown, so tracked paths at or under them must not count as deleted.
    unreadable: list[str]


def scan(
    root: Path,
    rel_paths: Iterable[str],
    ignore: IgnoreRules | None,
    cache: dict[str, StatRow] | None = None,
) -> ScanResult:
    """Find every file and symlink at or under ``rel_paths`` (POSIX, relative to root).

    Symlinks are recorded, never followed. Unreadable folders are reported in
    ``warnings`` and skipped, so one bad folder does not stop the scan. Given a
    stat ``cache``, a file whose stat matches its row is only named in
    ``unchanged``: on a large tree where little changed, that is most of them,
    and it spares building a record for each.
    """
    files: dict[str, FileStat] = {}
    unchanged: list[str] = []
    warnings: list[str] = []
    unreadable: list[str] = []
    root_str = str(root)
    frontier: list[str] = []
    for rel in rel_paths:
        if rel in ("", "."):
            frontier.append("")
            continue
        try:
            st = os.lstat(os.path.join(root_str, rel))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            warnings.append(f"skipped {rel}: {exc.strerror}")
            unreadable.append(rel)
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        problem = _path_problem(root_str, rel, st)
        if problem is not None:
            warnings.append(f"skipped {rel!r}: {problem}")
        elif ignore and ignore.ignores(rel, is_dir=is_dir):
            # Named outright but ignored: say so rather than do nothing in silence.
            warnings.append(f"skipped {rel}: it matches .mlvignore")
        elif is_dir:
            frontier.append(rel)
        elif (info := stat_of(st)) is not None:
            files[rel] = info
        else:
            warnings.append(f"skipped {rel}: {_other_kind(st)}")
    seen: set[str] = set()
    while frontier:
        folder = frontier.pop()
        if folder in seen:
            continue
        seen.add(folder)
        found, subdirs, problems = _scan_folder(
            root_str, folder, ignore, cache, unchanged, unreadable
        )
        files.update(found)
        frontier.extend(subdirs)
        warnings.extend(problems)
    return ScanResult(files, warnings, unchanged, unreadable)


def _scan_folder(
    root: str,
    rel_dir: str,
    ignore: IgnoreRules | None,
    cache: dict[str, StatRow] | None,
    unchanged: list[str],
    unreadable: list[str],
) -> tuple[dict[str, FileStat], list[str], list[str]]:
    """The files, subfolders and problems of one folder; cache hits go to ``unchanged``."""
    files: dict[str, FileStat] = {}
    subdirs: list[str] = []
    problems: list[str] = []
    prefix = rel_dir + "/" if rel_dir else ""
    try:
        entries = list(os.scandir(os.path.join(root, rel_dir)))
    except OSError as exc:
        unreadable.append(rel_dir)
        return files, subdirs, [f"skipped {rel_dir or '.'}: {exc.strerror}"]
    new = tuple.__new__
    for entry in entries:
        name = entry.name
        if name in ALWAYS_IGNORED:
            continue
        rel = prefix + name
        problem = name_problem(name)
        if problem is not None:
            problems.append(f"skipped {rel!r}: {problem}; rename it")
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                if not (ignore and ignore.ignores(rel, is_dir=True)):
                    subdirs.append(rel)
                continue
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            problems.append(f"skipped {rel}: {exc.strerror}")
            unreadable.append(rel)
            continue
        kind = _KINDS.get(st.st_mode & _FMT_MASK)
        if (ignore and ignore.ignores(rel)) or is_temporary_name(name):
            continue  # a temporary: a write of mlv's that was interrupted, never content
        if kind is None:
            problems.append(f"skipped {rel}: {_other_kind(st)}")
            continue
        executable = kind == KIND_FILE and bool(st.st_mode & stat.S_IXUSR)
        if cache is not None:
            row = cache.get(rel)
            if (
                row is not None
                and row[1] == st.st_mtime_ns
                and row[2] == st.st_size
                and row[3] == st.st_ino
                and row[4] == kind
                and row[5] == executable
            ):
                unchanged.append(rel)
                continue
        if kind == KIND_SYMLINK and (problem := _link_problem(root, rel)) is not None:
            problems.append(f"skipped {rel}: {problem}")
            continue
        # tuple.__new__ builds the named tuple without the cost of its __new__.
        files[rel] = new(FileStat, (kind, st.st_size, executable, st.st_mtime_ns, st.st_ino))
    return files, subdirs, problems


def _path_problem(root: str, rel: str, st: os.stat_result) -> str | None:
    """Why a path named outright cannot be tracked: a bad name in it, or a bad symlink."""
    for part in rel.split("/"):
        problem = name_problem(part)
        if problem is not None:
            return f"{problem}; rename it"
    if not stat.S_ISDIR(st.st_mode) and is_temporary_name(rel.rsplit("/", 1)[-1]):
        return "it is a temporary file that an interrupted mlv command left; delete it"
    if stat.S_ISLNK(st.st_mode):
        return _link_problem(root, rel)
    return None


def _link_problem(root: str, rel: str) -> str | None:
    """Why a symlink cannot be tracked: checkout would refuse to write it back."""
    try:
        target = os.readlink(os.path.join(root, rel))
    except OSError as exc:
        return f"cannot read the symlink: {exc.strerror}"
    problem = symlink_problem(rel, target)
    if problem is None:
        return None
    return f"the symlink {problem}; mlv tracks only symlinks that stay inside the working tree"


def _other_kind(st: os.stat_result) -> str:
    what = _OTHER_KINDS.get(st.st_mode & _FMT_MASK, "not a file, folder or symlink")
    return f"it is {what}; mlv tracks files, folders and symlinks"


def tracked_roots(paths: Iterable[str]) -> list[str]:
    """The folders (and top-level files) a scan of tracked content starts from.

    These are the first components of the tracked paths: status and diff look
    for changes there, not in whatever else lives in the project.
    """
    return sorted({p.partition("/")[0] for p in paths})


def under(path: str, prefixes: Iterable[str]) -> bool:
    """True when ``path`` is one of ``prefixes`` or lies below one of them."""
    return any(p in ("", ".") or path == p or path.startswith(p + "/") for p in prefixes)


def lstat_file(path: Path) -> FileStat | None:
    """The stat of a file or symlink at ``path``; None if absent or of another kind."""
    st = lstat_or_none(path)
    return None if st is None else stat_of(st)
