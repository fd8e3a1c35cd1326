"""The git repository around an mlv project, read with dulwich: where it is, HEAD, the index."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dulwich.repo import Repo as GitRepo

# Git index modes: only files and symlinks are source; submodules (gitlinks) are not.
S_IFMT = 0o170000
S_IFLNK = 0o120000
S_IFREG = 0o100000


@dataclass(frozen=True)
class GitHead:
    """Where git's HEAD is: a commit ("" before the first) and a branch ("" when detached)."""

    commit: str
    branch: str
    shallow: bool


def find_git(root: Path) -> GitRepo | None:
    """The git repository whose work tree holds ``root``, or None outside git.

    A bare repository, or a ``.git`` that dulwich cannot read, counts as no git.
    """
    here = root.resolve()
    if not any((folder / ".git").exists() for folder in (here, *here.parents)):
        return None  # and dulwich, 30 ms to import, is not needed
    from dulwich.errors import NotGitRepository
    from dulwich.repo import Repo as GitRepo

    try:
        git = GitRepo.discover(str(root))
    except (NotGitRepository, OSError, ValueError):
        return None
    if git.bare:
        git.close()
        return None
    return git


def git_head(git: GitRepo) -> GitHead:
    """HEAD's commit and branch; a detached HEAD has an empty branch, not an error."""
    chain, sha = git.refs.follow(b"HEAD")  # type: ignore[arg-type]
    target = chain[-1] if chain else b"HEAD"
    branch = ""
    if target.startswith(b"refs/heads/"):
        branch = target[len(b"refs/heads/") :].decode("utf-8", "replace")
    commit = sha.decode("ascii") if sha and sha in git.object_store else ""
    return GitHead(commit, branch, bool(git.get_shallow()))


def prefix_of(git: GitRepo, root: Path) -> str:
    """The mlv root's path inside the git work tree, "" or ending in "/"."""
    rel = os.path.relpath(os.path.realpath(root), os.path.realpath(git.path))
    return "" if rel == "." else rel.replace(os.sep, "/") + "/"


def head_files(git: GitRepo, commit: str, prefix: str) -> dict[str, tuple[str, int]]:
    """HEAD's files under ``prefix``, relative to it: path -> (blob id, mode)."""
    if not commit:
        return {}
    tree = git[commit.encode("ascii")].tree  # type: ignore[attr-defined]
    found: dict[str, tuple[str, int]] = {}
    start = prefix.encode("utf-8")
    for item in git.object_store.iter_tree_contents(tree):
        path = item.path
        if path is None or item.sha is None or item.mode is None or not path.startswith(start):
            continue
        found[os.fsdecode(path[len(start) :])] = (item.sha.decode("ascii"), item.mode)
    return found
