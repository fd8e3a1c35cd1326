"""Where the bytes of a table to check are: the working tree, a commit, or the staging area.

Each source lists the table paths at or under a path and gives each as a local file
(``Local``): the working file itself, or a temporary copy of a stored content, removed
when the check is done.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from mlv.errors import NotFoundError
from mlv.tables.config import TableConfig, config_for

if TYPE_CHECKING:
    from mlv.repo.repository import Repo


class WorktreeTables:
    """Tables in the working tree; ``changed_only`` leaves out files the stat cache
    says are staged as they are."""

    def __init__(self, repo: Repo, changed_only: bool = False) -> None:
        from mlv.repo.ignore import IgnoreRules

        self.repo = repo
        self.ignore = IgnoreRules.load(repo.root)
        self.cache = repo.staging.load_stat_cache() if changed_only else None

    def under(self, rel: str) -> list[str]:
        """The files at or under ``rel``; a path that is not there is an error unless
        only changed files are wanted (then it is a deletion being staged)."""
        from mlv.repo.worktree import scan

        if not os.path.lexists(self.repo.root / rel):
            if self.cache is not None:
                return []
            raise NotFoundError(f"path {rel or '.'} matches no file; check the spelling")
        return sorted(scan(self.repo.root, [rel], self.ignore, self.cache).files)

    def matching(self, pattern: str) -> list[str]:
        if not any(ch in pattern for ch in "*?["):
            return [pattern] if os.path.isfile(self.repo.root / pattern) else []
        folder = fixed_folder(pattern)
        if not os.path.isdir(self.repo.root / folder):
            return []
        return [p for p in self.under(folder) if config_for([TableConfig(pattern)], p)]

    def file(self, path: str) -> Local:
        return Local(self.repo.root / path)


class RevisionTables:
    """Tables in a commit's tree, each written to a temporary file while it is checked."""

    def __init__(self, repo: Repo, rev: str) -> None:
        self.repo, self.rev = repo, rev
        from mlv.model.objects import KIND_FILE

        self.tree = repo.read_commit(repo.resolve(rev)).tree
        flat = repo.trees.flatten(self.tree)
        self.flat = {p: e for p, e in flat.items() if e.kind == KIND_FILE}

    def under(self, rel: str) -> list[str]:
        if rel and self.repo.trees.entry_at(self.tree, rel) is None:
            raise NotFoundError(f"path {rel} does not exist in {self.rev}")
        return sorted(p for p in self.flat if not rel or p == rel or p.startswith(rel + "/"))

    def matching(self, pattern: str) -> list[str]:
        return sorted(p for p in self.flat if config_for([TableConfig(pattern)], p))

    def file(self, path: str) -> Local:
        return Local(None, self.repo, self.flat[path].id, path)


class StagedTables:
    """The staged content of some paths: the working file when its stat says it is the
    staged content, else a temporary copy from the store."""

    def __init__(self, repo: Repo, rels: list[str]) -> None:
        self.repo = repo
        self.staged = dict(repo.staging.load_paths(rels))
        for rel in rels:
            self.staged.update(repo.staging.load_under(rel))

    def under(self, rel: str) -> list[str]:
        return sorted(p for p in self.staged if not rel or p == rel or p.startswith(rel + "/"))

    def file(self, path: str) -> Local:
        entry = self.staged[path]
        try:
            st = os.lstat(self.repo.root / path)
            same = (st.st_mtime_ns, st.st_size, st.st_ino) == (
                entry.mtime_ns,
                entry.size,
                entry.ino,
            )
        except OSError:
            same = False
        if same:
            return Local(self.repo.root / path)
        return Local(None, self.repo, entry.id, path)


class Local:
    """A context manager for a table as a local file: the file itself, or a temporary copy
    of a stored content, removed afterwards."""

    def __init__(
        self, path: Path | None, repo: Repo | None = None, file_id: str = "", name: str = ""
    ) -> None:
        self.path, self.repo, self.file_id, self.name = path, repo, file_id, name
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        if self.path is not None:
            return self.path
        from mlv.repo.blobs import iter_content

        assert self.repo is not None
        self._tmp = tempfile.TemporaryDirectory(prefix="mlv-check-")
        # The name keeps its suffix: the suffix says which format the table is in.
        target = Path(self._tmp.name) / PurePosixPath(self.name).name
        with open(target, "wb") as out:
            for chunk in iter_content(self.repo.store, self.file_id):
                out.write(chunk)
        return target

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def fixed_folder(pattern: str) -> str:
    """The folder part of a glob before its first wildcard: the only place to look."""
    parts = pattern.split("/")
    fixed = []
    for part in parts[:-1]:
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    return "/".join(fixed)
