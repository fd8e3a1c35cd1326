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
    from mlv.repo.protocols import ObjectReader, RevisionResolver, StageReader


class WorktreeTables:
    """Tables in the working tree under ``root``; with ``stage``, only changed files:
    those its stat cache says are staged as they are are left out."""

    def __init__(self, root: Path, stage: StageReader | None = None) -> None:
        from mlv.repo.ignore import IgnoreRules

        self.root = root
        self.ignore = IgnoreRules.load(root)
        self.cache = stage.load_stat_cache() if stage is not None else None

    def under(self, rel: str) -> list[str]:
        """The files at or under ``rel``; a path that is not there is an error unless
        only changed files are wanted (then it is a deletion being staged)."""
        from mlv.repo.worktree import scan

        if not os.path.lexists(self.root / rel):
            if self.cache is not None:
                return []
            raise NotFoundError(f"path {rel or '.'} matches no file; check the spelling")
        return sorted(scan(self.root, [rel], self.ignore, self.cache).files)

    def matching(self, pattern: str) -> list[str]:
        if not any(ch in pattern for ch in "*?["):
            return [pattern] if os.path.isfile(self.root / pattern) else []
        folder = fixed_folder(pattern)
        if not os.path.isdir(self.root / folder):
            return []
        return [p for p in self.under(folder) if config_for([TableConfig(pattern)], p)]

    def file(self, path: str) -> Local:
        return Local(self.root / path)


class RevisionTables:
    """Tables in a commit's tree, each written to a temporary file while it is checked."""

    def __init__(self, objects: ObjectReader, revisions: RevisionResolver, rev: str) -> None:
        self.objects, self.rev = objects, rev
        from mlv.model.objects import KIND_FILE

        self.tree = objects.read_commit(revisions.resolve(rev)).tree
        flat = objects.flatten(self.tree)
        self.flat = {p: e for p, e in flat.items() if e.kind == KIND_FILE}

    def under(self, rel: str) -> list[str]:
        if rel and self.objects.entry_at(self.tree, rel) is None:
            raise NotFoundError(f"path {rel} does not exist in {self.rev}")
        return sorted(p for p in self.flat if not rel or p == rel or p.startswith(rel + "/"))

    def matching(self, pattern: str) -> list[str]:
        return sorted(p for p in self.flat if config_for([TableConfig(pattern)], p))

    def file(self, path: str) -> Local:
        return Local(None, self.objects, self.flat[path].id, path)


class StagedTables:
    """The staged content of some paths: the working file (under ``root``) when its stat
    says it is the staged content, else a temporary copy from ``objects``."""

    def __init__(
        self, rels: list[str], *, root: Path, stage: StageReader, objects: ObjectReader
    ) -> None:
        self.root, self.objects = root, objects
        self.staged = dict(stage.load_paths(rels))
        for rel in rels:
            self.staged.update(stage.load_under(rel))

    def under(self, rel: str) -> list[str]:
        return sorted(p for p in self.staged if not rel or p == rel or p.startswith(rel + "/"))

    def file(self, path: str) -> Local:
        entry = self.staged[path]
        try:
            st = os.lstat(self.root / path)
            same = (st.st_mtime_ns, st.st_size, st.st_ino) == (
                entry.mtime_ns,
                entry.size,
                entry.ino,
            )
        except OSError:
            same = False
        if same:
            return Local(self.root / path)
        return Local(None, self.objects, entry.id, path)


class Local:
    """A context manager for a table as a local file: the file itself, or a temporary copy
    of a stored content, removed afterwards."""

    def __init__(
        self,
        path: Path | None,
        objects: ObjectReader | None = None,
        file_id: str = "",
        name: str = "",
    ) -> None:
        self.path, self.objects, self.file_id, self.name = path, objects, file_id, name
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        if self.path is not None:
            return self.path
        assert self.objects is not None
        self._tmp = tempfile.TemporaryDirectory(prefix="mlv-check-")
        # The name keeps its suffix: the suffix says which format the table is in.
        target = Path(self._tmp.name) / PurePosixPath(self.name).name
        with open(target, "wb") as out:
            for chunk in self.objects.iter_content(self.file_id):
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
