"""Whether a file's content in the work tree is what git's index will commit."""

from __future__ import annotations

import os
from pathlib import Path


def index_matches_file(path: Path, index_file: str | None = None) -> bool:
    """Whether git's index holds ``path`` with the content it has on disk.

    ``index_file`` is the index git is committing from (a partial ``git commit PATH``
    uses a temporary one, named in the hook's GIT_INDEX_FILE), else the repository's.
    """
    from dulwich.index import Index
    from dulwich.objects import Blob
    from dulwich.repo import Repo as GitRepo

    with GitRepo.discover(path.parent) as git:
        index = Index(index_file) if index_file else git.open_index()
        rel = os.path.relpath(path.resolve(), Path(git.path).resolve())
    key = Path(rel).as_posix().encode()
    if key not in index:
        return False
    staged = getattr(index[key], "sha", None)
    return staged == Blob.from_string(path.read_bytes()).id
