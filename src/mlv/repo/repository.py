"""The core repository: files, trees, commits and refs, built from its parts.

``Repository`` holds the parts (store, refs, staging area, working tree, index,
write lock, config) and delegates each operation to the module of its concern:
``tracking`` (add, rm, status, commit), ``browsing`` (log, show, diff, file
content), ``switching`` (checkout, restore, switch, merge), ``branches`` (branches
and tags). Capabilities
join add and commit at the extension points of ``repo.extensions``
(``mlv.repo.extensions``); ``mlv.Repo`` (``mlv.api``) is the public facade that
registers them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from mlv.errors import InvalidArgumentError, NotARepositoryError
from mlv.model.objects import Commit, Person
from mlv.model.runs import Env, Reproduction, Run
from mlv.repo.base import Objects, Revisions, WorkTree
from mlv.repo.branches import Branches
from mlv.repo.browsing import Browsing
from mlv.repo.config import Config
from mlv.repo.contentfile import ContentFile, ReadStats
from mlv.repo.database import open_database
from mlv.repo.diff import Change
from mlv.repo.extensions import Extensions
from mlv.repo.layout import DEFAULT_BRANCH, Layout, find_root
from mlv.repo.locking import DEFAULT_LOCK_TIMEOUT, WriteLock
from mlv.repo.records import RunRecords
from mlv.repo.refs import HEADS, RefStore, check_ref_name
from mlv.repo.results import (
    AddResult,
    CheckoutResult,
    CommitDetails,
    FsckReport,
    LogEntry,
    MergeResult,
    NoProgress,
    Progress,
    Status,
)
from mlv.repo.staging import StagingArea
from mlv.repo.switching import Switching
from mlv.repo.tracking import Tracking
from mlv.repo.trees import Flat
from mlv.store.objectstore import ObjectStore


class Repository:
    """A repository: a working tree with a ``.mlv`` folder at its root.

    Paths given to methods are relative to the repository root, or absolute.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ".",
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        on_lock_wait: Callable[[str], None] | None = None,
    ) -> None:
        root = find_root(Path(path))
        if root is None:
            raise NotARepositoryError(
                f"not an mlv repository (or any parent up to /): {Path(path).resolve()}; "
                "run 'mlv init' first"
            )
        self.root = root
        self.layout = Layout(root)
        self.config = Config.load(self.layout.config)
        # index.db: the object index, the staging area and the run records.
        self.index = open_database(self.layout.index_db)
        self.store = ObjectStore(
            self.layout.packs, self.index, compression_level=self.config.compression_level
        )
        self.staging = StagingArea(self.index)
        self.records = RunRecords(self.index)
        self.refs = RefStore(self.layout)
        self.objects = Objects(self.store)
        self.trees = self.objects.trees
        self.revisions = Revisions(self.objects, self.refs)
        self.worktree = WorkTree(root, self.layout.tmp)
        self.write_lock = WriteLock(self.layout.lock, lock_timeout, on_lock_wait)
        self.extensions = Extensions()
        self.tracking = Tracking(
            self.worktree,
            self.objects,
            self.revisions,
            self.store,
            self.staging,
            self.records,
            self.refs,
            self.write_lock,
            self.extensions,
        )
        self.browsing = Browsing(
            self.worktree, self.objects, self.revisions, self.refs, self.staging
        )
        self.branching = Branches(self.objects, self.revisions, self.refs, self.write_lock)
        self.switching = Switching(
            self.worktree,
            self.objects,
            self.revisions,
            self.store,
            self.staging,
            self.refs,
            self.write_lock,
            self.tracking,
            self.branching,
        )

    # -- setting up -------------------------------------------------------------

    @classmethod
    def init(cls, path: str | os.PathLike[str] = ".", *, branch: str = DEFAULT_BRANCH) -> Self:
        """Create a repository in ``path`` (created if missing) and open it."""
        return cls(create(path, branch=branch))

    def close(self) -> None:
        self.store.close()
        self.index.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Repo({str(self.root)!r})"

    # -- paths, revisions and objects -------------------------------------------

    def relpath(self, path: str | os.PathLike[str]) -> str:
        """A path as the repository names it: POSIX, relative to the root
        (``WorkTree.relpath``)."""
        return self.worktree.relpath(path)

    def resolve(self, rev: str) -> str:
        """The commit id a revision names (``HEAD~2``, ``main``, ``v1``, ``3fa9``, …)."""
        return self.revisions.resolve(rev)

    def read_commit(self, commit_id: str) -> Commit:
        return self.objects.read_commit(commit_id)

    def read_run(self, run_id: str) -> Run:
        return self.objects.read_run(run_id)

    def read_env(self, env_id: str) -> Env:
        return self.objects.read_env(env_id)

    def read_reproduction(self, reproduction_id: str) -> Reproduction:
        return self.objects.read_reproduction(reproduction_id)

    def flat_tree(self, rev: str, paths: Iterable[str] | None = None) -> Flat:
        """The files and symlinks of ``rev``, by path; only under ``paths`` if given."""
        return self.revisions.flat_tree(rev, paths)

    # -- tracking ---------------------------------------------------------------

    def add(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        progress: Progress | None = None,
        strict: bool | None = None,
    ) -> AddResult:
        """Stage files and folders: store new content, record deletions under the paths.

        The ``before_add`` and ``after_add`` extensions run around it; ``strict`` asks
        their checks to refuse rather than warn (None: their own default).
        """
        return self.tracking.add(paths, progress=progress, strict=strict)

    def rm(
        self, paths: Iterable[str | os.PathLike[str]], *, cached: bool = False, force: bool = False
    ) -> list[str]:
        """Stop tracking paths; delete the files too unless ``cached``.

        A file whose content differs from what is committed or staged is kept on
        disk unless ``force``: mlv never deletes work it does not hold.
        """
        return self.tracking.rm(paths, cached=cached, force=force)

    def status(self) -> Status:
        """What is staged against HEAD, and what the working tree changed against the stage."""
        return self.tracking.status()

    def commit(
        self,
        message: str,
        *,
        author: Person | None = None,
        allow_empty: bool = False,
        when: datetime | None = None,
        extra_parents: Iterable[str] = (),
        code: dict[str, Any] | None = None,
        strict: bool | None = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> str:
        """Record the staging area as a new commit on the current branch; return its id.

        ``code`` is the code version that goes with it (None: what a ``before_commit``
        extension sets, if any). Warnings of the extensions go to ``on_warning``.
        """
        return self.tracking.commit(
            message,
            author=author,
            allow_empty=allow_empty,
            when=when,
            extra_parents=extra_parents,
            code=code,
            strict=strict,
            on_warning=on_warning,
        )

    # -- browsing ---------------------------------------------------------------

    def ref_names(self) -> dict[str, list[str]]:
        """Commit id -> the branch and tag names pointing at it (for decorating logs)."""
        return self.browsing.ref_names()

    def log(
        self,
        revs: Iterable[str] | None = None,
        *,
        max_count: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        author: str | None = None,
        paths: Iterable[str | os.PathLike[str]] | None = None,
        all_refs: bool = False,
    ) -> list[LogEntry]:
        """Commits reachable from ``revs`` (default HEAD), children before parents."""
        return self.browsing.log(
            revs,
            max_count=max_count,
            since=since,
            until=until,
            author=author,
            paths=paths,
            all_refs=all_refs,
        )

    def show(self, rev: str = "HEAD") -> CommitDetails:
        """A commit and the files it changed against its first parent."""
        return self.browsing.show(rev)

    def change_counts(self, rev: str = "HEAD") -> dict[str, int]:
        """How many files a commit added, modified and removed against its first parent."""
        return self.browsing.change_counts(rev)

    def open_file(self, rev: str, path: str | os.PathLike[str]) -> Iterator[bytes]:
        """Stream a file's content as it was at ``rev``, verified against its id."""
        return self.browsing.open_file(rev, path)

    def read_bytes(self, rev: str, path: str | os.PathLike[str]) -> bytes:
        """A file's content as it was at ``rev``."""
        return self.browsing.read_bytes(rev, path)

    def open(
        self, path: str | os.PathLike[str], rev: str = "HEAD", *, stats: ReadStats | None = None
    ) -> ContentFile:
        """The file at ``path`` as it was at ``rev``, opened read-only for random access:
        a read fetches only the chunks that hold its bytes, each verified against its id
        (``mlv.repo.contentfile``). ``stats`` counts what reads take from the store."""
        return self.browsing.open(path, rev, stats=stats)

    def diff(
        self,
        a: str | None = None,
        b: str | None = None,
        paths: Iterable[str | os.PathLike[str]] | None = None,
    ) -> list[Change]:
        """Changes from ``a`` (default HEAD) to ``b`` (default: the working tree)."""
        return self.browsing.diff(a, b, paths)

    def worktree_flat(self, paths: list[str] | None = None) -> Flat:
        """The tracked part of the working tree as it is on disk now (content hashed as needed)."""
        return self.browsing.worktree_flat(paths)

    # -- switching --------------------------------------------------------------

    def checkout(
        self,
        rev: str,
        paths: Iterable[str | os.PathLike[str]] | None = None,
        *,
        force: bool = False,
        progress: Progress | None = None,
    ) -> CheckoutResult:
        """Make the working tree match ``rev``; with ``paths``, restore only those paths.

        Without paths HEAD moves to ``rev`` (onto the branch when ``rev`` is a branch
        name). Files with uncommitted changes are never overwritten or deleted
        unless ``force``.
        """
        return self.switching.checkout(rev, paths, force=force, progress=progress)

    def restore(
        self, paths: Iterable[str | os.PathLike[str]], *, progress: Progress | None = None
    ) -> CheckoutResult:
        """Discard working tree changes to tracked paths: put back the staged content."""
        return self.switching.restore(paths, progress=progress)

    def branches(self) -> dict[str, str]:
        """Branch name -> commit id."""
        return self.branching.branches()

    def current_branch(self) -> str | None:
        return self.branching.current_branch()

    def create_branch(self, name: str, rev: str = "HEAD") -> str:
        return self.branching.create_branch(name, rev)

    def delete_branch(self, name: str, *, force: bool = False) -> str:
        """Delete a branch; one not merged into HEAD only with ``force``."""
        return self.branching.delete_branch(name, force=force)

    def switch(self, branch: str, *, create: bool = False, force: bool = False) -> CheckoutResult:
        """Move to another branch (creating it from HEAD with ``create``)."""
        return self.switching.switch(branch, create=create, force=force)

    def tags(self) -> dict[str, str]:
        """Tag name -> commit id."""
        return self.branching.tags()

    def create_tag(self, name: str, rev: str = "HEAD", *, force: bool = False) -> str:
        return self.branching.create_tag(name, rev, force=force)

    def delete_tag(self, name: str) -> str:
        return self.branching.delete_tag(name)

    def merge(
        self,
        rev: str,
        *,
        prefer: str | None = None,
        message: str | None = None,
        author: Person | None = None,
    ) -> MergeResult:
        """Merge ``rev`` into the current branch: fast-forward, or a three-way file merge.

        On conflict nothing is changed and ``MergeConflictError`` lists the paths,
        unless ``prefer`` (``"ours"`` or ``"theirs"``) settles them.
        """
        return self.switching.merge(rev, prefer=prefer, message=message, author=author)

    # -- checking ---------------------------------------------------------------

    def fsck(self, progress: Progress | None = None) -> FsckReport:
        """Verify every object against its id and everything each ref reaches."""
        from mlv.repo.fsck import check_repository

        return check_repository(self, progress or NoProgress())


# The core class under its earlier name, for the modules that name it so.
Repo = Repository


def create(path: str | os.PathLike[str] = ".", *, branch: str = DEFAULT_BRANCH) -> Path:
    """Lay out a new repository in ``path`` (created if missing); return its root."""
    root = Path(path).resolve()
    layout = Layout(root)
    if layout.head.exists():
        raise InvalidArgumentError(f"{root} is already an mlv repository")
    check_ref_name(branch)
    if root.exists() and not root.is_dir():
        raise InvalidArgumentError(f"{root} is a file: name a folder for the repository")
    root.mkdir(parents=True, exist_ok=True)
    layout.mlv.mkdir(exist_ok=True)
    for folder in (layout.refs / "heads", layout.refs / "tags", layout.packs, layout.logs):
        folder.mkdir(parents=True, exist_ok=True)
    Config.default().save(layout.config)
    # Everything but the config stays out of git: data lives in mlv's own store.
    (layout.mlv / ".gitignore").write_text("/*\n!/.gitignore\n!/config.toml\n")
    open_database(layout.index_db).close()
    RefStore(layout).set_head_ref(HEADS + branch)
    return root
