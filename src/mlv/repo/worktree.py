"""Scanning the working tree: which files exist under the given paths, and their stat."""

from __future__ import annotations

import os
import stat
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
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


class FolderStatCache:
    """The stat cache read one folder at a time, as a scan reaches it.

    Holding the rows of the folder being scanned only, its memory follows the largest
    folder rather than the number of tracked files. It also finds the tracked paths a
    scan did not see: those of a folder it scanned that were not there (``missing``),
    and, once it is done, those of folders it never read (``unvisited``).
    """

    def __init__(
        self,
        rows_in: Callable[[str], dict[str, StatRow]],
        rows_of: Callable[[list[str]], dict[str, StatRow]],
    ) -> None:
        self._rows_in = rows_in
        self._rows_of = rows_of
        self._folder: str | None = None
        self._rows: dict[str, StatRow] = {}
        self.loaded: set[str] = set()
        self.loaded_rows = 0
        self.missing: list[str] = []

    def get(self, rel: str) -> StatRow | None:
        """The row of ``rel``, a file of the folder being scanned."""
        folder = rel.rpartition("/")[0]
        if folder != self._folder:
            self._folder = folder
            self._rows = self._rows_in(folder)
            self.loaded.add(folder)
            self.loaded_rows += len(self._rows)
        return self._rows.get(rel)

    def lookup(self, rel: str) -> StatRow | None:
        """The row of a file named outright, without reading its whole folder."""
        return self._rows_of([rel]).get(rel)

    def leave(self, folder: str, present: set[str]) -> None:
        """The scan is done with ``folder`` and found ``present`` there."""
        if folder == self._folder:
            self.missing.extend(p for p in self._rows if p not in present)
            self._folder, self._rows = None, {}

    def unvisited(self, paths: Iterable[str], seen: Iterable[str] = ()) -> Iterator[str]:
        """Of ``paths``, those in no folder this cache read, and not in ``seen``."""
        loaded, skip = self.loaded, set(seen)
        for path in paths:
            if path.rpartition("/")[0] not in loaded and path not in skip:
                yield path


class ScanResult(NamedTuple):
    files: dict[str, FileStat]
    warnings: list[str]
    # With a stat cache: how many files were left out of ``files`` because their stat matched.
    unchanged: int
    # Files and folders skipped because they could not be read: what they hold is
    # unknown, so tracked paths at or under them must not count as deleted.
    unreadable: list[str]


def scan(
    root: Path,
    rel_paths: Iterable[str],
    ignore: IgnoreRules | None,
    cache: Mapping[str, StatRow] | None = None,
) -> ScanResult:
    """Find every file and symlink at or under ``rel_paths`` (POSIX, relative to root).

    Symlinks are recorded, never followed. Unreadable folders are reported in
    ``warnings`` and skipped, so one bad folder does not stop the scan. Given a
    stat ``cache``, a file whose stat matches its row is only counted in
    ``unchanged``: on a large tree where little changed, that is most of them,
    and it spares building a record for each.
    """
    walk = Scan(root, rel_paths, ignore, cache)
    files = {rel: info for rel, info, _row in walk}
    return ScanResult(files, walk.warnings, walk.unchanged, walk.unreadable)


class Scan:
    """A walk of the working tree that yields (path, stat, stat-cache row or None) for
    each file found, folder by folder, as it goes: a caller that streams them never
    holds the whole tree. ``warnings``, ``unchanged`` and ``unreadable`` are complete
    once the walk is.

    With a ``FolderStatCache`` the cache is read folder by folder, and told what
    each folder held, so that it knows which tracked paths the walk did not see.
    """

    def __init__(
        self,
        root: Path,
        rel_paths: Iterable[str],
        ignore: IgnoreRules | None,
        cache: Mapping[str, StatRow] | FolderStatCache | None = None,
    ) -> None:
        self.root = root
        self.rel_paths = list(rel_paths)
        self.ignore = ignore
        self.cache = cache
        self.warnings: list[str] = []
        self.unchanged = 0
        self.unreadable: list[str] = []
        # Files named outright (not found inside a folder), and how many are tracked.
        self.outright: list[str] = []
        self.outright_staged = 0

    def __iter__(self) -> Iterator[tuple[str, FileStat, StatRow | None]]:
        root_str = str(self.root)
        cache, ignore = self.cache, self.ignore
        warnings, unreadable = self.warnings, self.unreadable
        frontier: list[str] = []
        for rel in self.rel_paths:
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
                self.outright.append(rel)
                if cache is None:
                    row = None
                elif isinstance(cache, FolderStatCache):
                    row = cache.lookup(rel)
                else:
                    row = cache.get(rel)
                self.outright_staged += row is not None
                yield rel, info, row
            else:
                warnings.append(f"skipped {rel}: {_other_kind(st)}")
        seen: set[str] = set()
        by_folder = cache if isinstance(cache, FolderStatCache) else None
        while frontier:
            folder = frontier.pop()
            if folder in seen:
                continue
            seen.add(folder)
            found, kept, subdirs, problems = _scan_folder(
                root_str, folder, ignore, cache, unreadable
            )
            self.unchanged += len(kept)
            frontier.extend(subdirs)
            warnings.extend(problems)
            if by_folder is not None:
                by_folder.leave(folder, {*kept, *(rel for rel, _, _ in found)})
            yield from found


def _scan_folder(
    root: str,
    rel_dir: str,
    ignore: IgnoreRules | None,
    cache: Mapping[str, StatRow] | FolderStatCache | None,
    unreadable: list[str],
) -> tuple[list[tuple[str, FileStat, StatRow | None]], list[str], list[str], list[str]]:
    """The files (with their cache rows), the files the cache vouches for, the
    subfolders and the problems of one folder."""
    files: list[tuple[str, FileStat, StatRow | None]] = []
    kept: list[str] = []
    subdirs: list[str] = []
    problems: list[str] = []
    prefix = rel_dir + "/" if rel_dir else ""
    try:
        entries = list(os.scandir(os.path.join(root, rel_dir)))
    except OSError as exc:
        unreadable.append(rel_dir)
        return files, kept, subdirs, [f"skipped {rel_dir or '.'}: {exc.strerror}"]
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
        row = None
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
                kept.append(rel)
                continue
        if kind == KIND_SYMLINK and (problem := _link_problem(root, rel)) is not None:
            problems.append(f"skipped {rel}: {problem}")
            continue
        # tuple.__new__ builds the named tuple without the cost of its __new__.
        info = new(FileStat, (kind, st.st_size, executable, st.st_mtime_ns, st.st_ino))
        files.append((rel, info, row))
    return files, kept, subdirs, problems


class FileList:
    """Files found by a scan, a few bytes each beside the path: the list of what ``add``
    will read, which a million files must not make large."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.sizes = array("q")
        self._symlink = bytearray()
        self._staged = bytearray()

    def append(self, path: str, info: FileStat, staged: bool) -> None:
        self.paths.append(path)
        self.sizes.append(info.size)
        self._symlink.append(info.kind == KIND_SYMLINK)
        self._staged.append(staged)

    def __len__(self) -> int:
        return len(self.paths)

    def chunks(self, size: int) -> Iterator[tuple[list[tuple[str, FileStat]], list[str]]]:
        """(path, stat) items ``size`` at a time, with those of their paths that were staged.

        The stats carry kind and size only: what storing a file needs before reading it.
        """
        new = tuple.__new__
        for start in range(0, len(self.paths), size):
            end = start + size
            paths = self.paths[start:end]
            kinds = self._symlink[start:end]
            items = [
                (path, new(FileStat, (KIND_SYMLINK if link else KIND_FILE, n, False, 0, 0)))
                for path, n, link in zip(paths, self.sizes[start:end], kinds, strict=True)
            ]
            staged = [p for p, was in zip(paths, self._staged[start:end], strict=True) if was]
            yield items, staged


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
