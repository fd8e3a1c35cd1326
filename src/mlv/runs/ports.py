"""What runs need of a repository beyond ``mlv.repo.protocols``: staging paths as
``mlv add`` does, changing the staging area, writing tree content back, and the
records of runs and code versions together."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from mlv.repo.protocols import CodeIndex, RunIndex, StageReader, WorkingFiles

if TYPE_CHECKING:
    from mlv.repo.checkout import Materialiser
    from mlv.repo.staging import Staged
    from mlv.store.objectstore import ObjectStore


class Tracker(Protocol):
    """Stages paths as ``mlv add`` does: the core repository's ``add``, extensions and all."""

    def add(self, paths: Iterable[str]) -> object: ...


class Staging(StageReader, Protocol):
    """The staging area, read and changed (``repo.staging``)."""

    def apply(
        self, upserts: Iterable[tuple[str, Staged]] = (), deletes: Iterable[str] = ()
    ) -> None:
        """Change the staging area in one transaction."""
        ...


class WorkTree(WorkingFiles, Protocol):
    """The working tree, with what writes tree content into it (``repo.worktree``)."""

    def materialiser(self, store: ObjectStore) -> Materialiser:
        """What writes tree content into the working tree; the caller holds the write lock."""
        ...


class Records(RunIndex, CodeIndex, Protocol):
    """The run records, and the code versions captured with each run (``repo.records``)."""
