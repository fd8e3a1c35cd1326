"""Which names and paths mlv tracks, and the gate every write or delete in a tree goes through.

One rule decides a name everywhere: ``add`` skips (with a warning) what the rule
refuses, a tree that holds such a name is damaged, and checkout refuses to write
it. So nothing that reaches a commit can fail to come back out of it.

The gate (:class:`TreeGate`) resolves each parent of a path with ``lstat``, never
following a symlink: whatever a pipeline file, a run object or a damaged tree
says, a write or delete lands inside the tree it was meant for.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import re
import shutil
import stat
from collections.abc import Collection
from pathlib import Path

from mlv.errors import FormatError, UncommittedChangesError, UnsafePathError

# mlv and git keep their own state there. Compared without case: on a case-folding
# file system (macOS, Windows) `.GIT` is `.git`.
RESERVED_NAMES = frozenset({".mlv", ".git"})
# Longest name most file systems accept, in bytes of UTF-8.
NAME_MAX_BYTES = 255
# A file mlv is writing, beside the one it will replace: `.<name>.mlv-<hex>.tmp`.
# Eight hex digits are what mlv 0.2 wrote; twelve are written now.
_TEMPORARY_NAME_BYTES = 200
_TEMPORARY = re.compile(r"\..+\.mlv-(?:[0-9a-f]{8}|[0-9a-f]{12})\.tmp")


def temporary_name(name: str, token: str | None = None) -> str:
    """The name under which mlv writes ``name`` before renaming it into place.

    ``token`` (12 hex digits) marks every temporary of one operation; a random one
    by default. A long name is shortened so the temporary's stays a legal name.
    """
    short = name.encode("utf-8", "surrogateescape")[:_TEMPORARY_NAME_BYTES]
    shown = short.decode("utf-8", "ignore") or "x"
    return f".{shown}.mlv-{token or os.urandom(6).hex()}.tmp"


def is_temporary_name(name: str) -> bool:
    """Whether ``name`` is one of mlv's temporary files, never content to track."""
    return name.endswith(".tmp") and _TEMPORARY.fullmatch(name) is not None


# What Windows and macOS also open as `.git` or `.mlv` (git refuses the same, since
# CVE-2014-9390): the 8.3 short names, and names that differ only in trailing dots or
# spaces (NTFS drops them) or in code points HFS+ ignores.
_SHORT_NAMES = frozenset({"git~1", "mlv~1"})
_HFS_IGNORED = dict.fromkeys(
    [0x200C, 0x200D, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)


def _folded(name: str) -> str:
    """``name`` as a case-folding, dot-dropping, HFS+-ignoring file system sees it."""
    return name.translate(_HFS_IGNORED).rstrip(". ").lower()


def name_problem(name: str) -> str | None:
    """Why mlv cannot track a file or folder called ``name``; None when it can."""
    if not name or name in (".", ".."):
        return "it is not a name"
    if "/" in name or "\x00" in name:
        return "it holds a path separator or a NUL byte"
    if "\\" in name:
        # A separator on Windows: the name could not be checked out there, and
        # `a\..\..\x` would climb out of the tree.
        return "it holds a backslash, a path separator on Windows"
    if _folded(name) in RESERVED_NAMES or name.lower() in _SHORT_NAMES:
        return f"{name} is where a repository keeps its own state, on some file system"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates
        return "it is not valid UTF-8"
    if len(encoded) > NAME_MAX_BYTES:
        return f"it is longer than {NAME_MAX_BYTES} bytes"
    return None


def check_relpath(path: str) -> None:
    """Refuse a path that is not a plain relative path of safe names."""
    if not path or path.startswith("/"):
        raise UnsafePathError(f"unsafe path {path!r}: refusing to write it")
    for part in path.split("/"):
        problem = name_problem(part)
        if problem is not None:
            raise UnsafePathError(f"unsafe path {path!r}: {part!r}: {problem}; refusing it")


def symlink_problem(path: str, target: str) -> str | None:
    """Why a symlink at ``path`` pointing to ``target`` would lead out of its tree; or None.

    The rule is lexical, on purpose: it is the same on every machine, whatever
    the targets happen to exist there.
    """
    if not target or posixpath.isabs(target) or "\x00" in target:
        return f"points to {target!r}, outside the working tree"
    # A ".." after a name climbs out of wherever that name leads, perhaps another symlink
    # (`a -> b/c/..` with `b/c -> ..`), which normpath cannot see: only leading ".." pass.
    named = False
    for part in target.split("/"):
        if part == ".." and named:
            return f"points to {target!r}: '..' after a name"
        named = named or part not in ("", ".", "..")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if resolved == ".." or resolved.startswith("../"):
        return f"points to {target!r}, outside the working tree"
    first = _folded(resolved.split("/")[0])
    if first in RESERVED_NAMES or first in _SHORT_NAMES:
        return f"points into {first}"
    return None


def check_symlink_target(path: str, target: str) -> None:
    """Refuse a symlink whose target is absolute or climbs out of the working tree."""
    problem = symlink_problem(path, target)
    if problem is not None:
        raise UnsafePathError(f"symlink {path} {problem}: refusing it")


def open_regular_file(path: str | os.PathLike[str]) -> int:
    """A read-only fd on ``path``, refusing anything but a regular file.

    O_NONBLOCK: opening a FIFO left where mlv expects a file would otherwise wait,
    forever, for a writer.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "it is not a regular file", os.fspath(path))
    return fd


def read_regular_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the regular file at ``path`` (see :func:`open_regular_file`)."""
    with open(open_regular_file(path), "rb") as f:
        return f.read()


def read_text_file(path: Path, fix: str) -> str | None:
    """The UTF-8 text of the regular file at ``path``; None when there is none.

    Anything else there (not UTF-8, a FIFO, unreadable) is one ``FormatError`` line
    naming the file and ending with ``fix``, what the user should do.
    """
    try:
        return read_regular_file(path).decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise FormatError(f"{path.name} is not UTF-8 text; {fix}") from None
    except OSError as exc:
        raise FormatError(f"cannot read {path.name}: {exc.strerror}; {fix}") from None


# Paths as pipeline files and runs name them (deps, outs, params files): POSIX,
# relative to the repository root, normalised; "" is the root.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def repo_path(raw: str, wdir: str = "") -> str:
    """``raw``, relative to ``wdir``, as a normalised repository-relative path.

    ``""`` is the repository root. Raises ``ValueError`` with the reason (to be
    completed into a sentence by the caller) when the path cannot be used.
    """
    if not raw.strip():
        raise ValueError("is empty")
    if _URL.match(raw):
        raise ValueError("is a URL; mlv pipelines only read and write paths in the repository")
    if raw.startswith(("/", "\\")) or _DRIVE.match(raw):
        raise ValueError("is absolute; write it relative to the stage's wdir")
    joined = posixpath.normpath(posixpath.join(wdir, raw))
    if joined == ".":
        return ""
    if joined == ".." or joined.startswith("../"):
        raise ValueError("leads outside the repository; keep it inside the project")
    for part in joined.split("/"):
        if part.lower() in RESERVED_NAMES:
            raise ValueError(f"is inside {part}, which stages may not touch")
        problem = name_problem(part)
        if problem is not None:
            raise ValueError(f"has a name mlv cannot track ({part!r}: {problem})")
    return joined


def normalise_target(raw: str) -> str:
    """A path typed on the command line, as ``repo_path`` writes it (``./a/b/`` -> ``a/b``)."""
    joined = posixpath.normpath(raw.replace("\\", "/")) if raw else "."
    return "" if joined == "." else joined


def is_within(path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` or lies under it (every path lies under ``""``)."""
    return not folder or path == folder or path.startswith(folder + "/")


def overlaps(a: str, b: str) -> bool:
    """True when one path is the other or lies inside it."""
    return is_within(a, b) or is_within(b, a)


def parents(path: str) -> list[str]:
    """The folders above ``path``, nearest first (``a/b/c`` -> ``a/b``, ``a``)."""
    found = []
    while "/" in path:
        path = path.rsplit("/", 1)[0]
        found.append(path)
    return found


# Where a path cannot be reached: it is then not there, for every check of the gate.
_UNREACHABLE = (errno.ELOOP, errno.ENAMETOOLONG)


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file, or a folder's entries (what a rename or link into it changed), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lstat_or_none(path: str | os.PathLike[str]) -> os.stat_result | None:
    """``os.lstat``, or None where nothing can be found at ``path``: absent, under a
    file, or only reachable through a symlink loop or a name too long."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno in _UNREACHABLE:
            return None
        raise


def open_folder(root: Path, path: str) -> int:
    """An fd on the real folder ``path`` under ``root``, opened one component at a time
    without following a symlink: what is then created or renamed through it (``dir_fd``)
    lands in that folder, whatever is swapped in at its path meanwhile."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in path.split("/") if path else []:
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePathError(
                        f"{path} is not a folder (something changed it while mlv worked); "
                        "run the command again"
                    ) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


class TreeGate:
    """Every path mlv writes or deletes under ``root`` passes here first.

    Paths are POSIX and relative to ``root``. A parent that is a symlink is
    refused, even one that points inside: what lies behind it is another path,
    tracked (or not) under its own name.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def full(self, path: str) -> Path:
        """``path`` made absolute after checking its names and its parents."""
        if path == "":
            return self.root
        check_relpath(path)
        self.check_parents(path)
        return self.root / path

    def check_parents(
        self,
        path: str,
        removing: Collection[str] = (),
        advice: str = "name the folder it points to instead",
    ) -> None:
        """Refuse a parent of ``path`` that is a symlink or a file; missing ones are fine,
        and so is one in ``removing`` (a tracked entry a checkout removes first)."""
        current = self.root
        for part in path.split("/")[:-1]:
            current = current / part
            st = lstat_or_none(current)
            if st is None:
                return
            if stat.S_ISDIR(st.st_mode):
                continue
            if self._rel(current) in removing:
                return
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePathError(
                    f"{self._rel(current)} is a symlink: refusing to write or delete "
                    f"{path} through it; {advice}"
                )
            if not stat.S_ISDIR(st.st_mode):
                raise UncommittedChangesError(
                    f"{self._rel(current)} is a file where {path} needs a folder; "
                    "move it away or commit it first"
                )

    def folder(self, path: str) -> Path:
        """An existing folder at ``path`` (every component a real folder), made absolute."""
        full = self.full(path)
        st = lstat_or_none(full)
        if st is None:
            raise UnsafePathError(f"folder {path} does not exist")
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePathError(
                f"{path} is a symlink: refusing to work inside it; name the folder it points to"
            )
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePathError(f"{path} is not a folder")
        return full

    def make_parents(self, path: str) -> Path:
        """Create the folders above ``path``, one at a time, none through a symlink."""
        full = self.full(path)
        self._make_folders(path, path.split("/")[:-1])
        return full

    def make_folder(self, path: str) -> Path:
        """Create the folder ``path`` and those above it, none through a symlink."""
        full = self.full(path)
        if path:
            self._make_folders(path, path.split("/"))
        return full

    def _make_folders(self, path: str, parts: list[str]) -> None:
        current = self.root
        for part in parts:
            current = current / part
            with contextlib.suppress(FileExistsError):
                os.mkdir(current)
            # Checked after the mkdir too: something may have raced a symlink in.
            st = os.lstat(current)
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafePathError(
                    f"{self._rel(current)} is not a folder: refusing to write {path} under it"
                )

    def remove(self, path: str) -> None:
        """Delete the file, symlink or folder at ``path``: a symlink itself, never its target."""
        full = self.full(path)
        st = lstat_or_none(full)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            # rmtree unlinks the symlinks it finds inside, never what they point to.
            shutil.rmtree(full)
        else:
            os.unlink(full)

    def _rel(self, full: Path) -> str:
        return full.relative_to(self.root).as_posix()
