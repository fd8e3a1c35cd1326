"""``mlv.Repo``: the public Python API. Every CLI command is one call into this class."""

from __future__ import annotations

from mlv.repo.results import FsckReport, NoProgress, Progress
from mlv.repo.switching import SwitchingOps


class Repo(SwitchingOps):
    """A repository: a working tree with a ``.mlv`` folder at its root.

    The public Python API: every CLI command is one call on this class. Its
    methods live in one module per concern: ``base`` (opening, paths,
    revisions), ``tracking`` (add, rm, status, commit), ``browsing`` (log,
    show, diff, file content), ``switching`` (checkout, restore, branches,
    tags, merge). Paths given to methods are relative to the repository root,
    or absolute.
    """

    def fsck(self, progress: Progress | None = None) -> FsckReport:
        """Verify every object against its id and everything each ref reaches."""
        from mlv.repo.fsck import check_repository

        return check_repository(self, progress or NoProgress())
