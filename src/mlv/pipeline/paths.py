"""Repository-relative POSIX paths, as pipeline files name deps, outs and params files."""

from __future__ import annotations

import posixpath
import re

from mlv.core.paths import name_problem

# mlv and git keep their own state there; a stage must never read or write it.
PROTECTED_DIRS = (".mlv", ".git")

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
        if part.lower() in PROTECTED_DIRS:
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
