"""The small interfaces capabilities take instead of the whole repository.

A capability that reads objects takes an ``ObjectReader``, one that stores them an
``ObjectWriter``, one that names revisions a ``RevisionResolver``: it can then be
given the repository's parts (``repo.objects``, ``repo.store``, ``repo.revisions``)
or anything else that holds the objects, such as a remote's store later. Those that
touch the working tree take ``WorkingFiles`` (``repo.worktree``) and ``StageReader``
(``repo.staging``); the caches in ``index.db`` they use are ``ProfileIndex``,
``CodeIndex`` and ``RunIndex`` (all ``repo.records``); the write lock is a ``Lock``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from types import TracebackType

    from mlv.model.objects import Commit, Tree, TreeEntry
    from mlv.model.runs import Env, Reproduction, Run
    from mlv.repo.refs import Head
    from mlv.repo.staging import Staged
    from mlv.repo.trees import Flat
    from mlv.repo.worktree import FileStat, StatRow


class ObjectReader(Protocol):
    """Reads stored objects by id, each verified against its id."""

    def has(self, object_id: str) -> bool: ...

    def get(self, object_id: str) -> bytes:
        """A metadata object's canonical bytes (a commit, tree, run, profile, …)."""
        ...

    def iter_content(self, file_id: str) -> Iterator[bytes]:
        """A file's content, streamed."""
        ...

    def prefetch(self, object_ids: Iterable[str]) -> None:
        """Read these objects ahead, in pack order: a hint, for many reads to come."""
        ...

    def read_commit(self, commit_id: str) -> Commit: ...

    def read_run(self, run_id: str) -> Run: ...

    def read_env(self, env_id: str) -> Env: ...

    def read_reproduction(self, reproduction_id: str) -> Reproduction: ...

    def tree(self, tree_id: str) -> Tree: ...

    def flatten(self, tree_id: str | None, paths: Iterable[str] | None = None) -> Flat:
        """Every file and symlink below a tree, by path; only under ``paths`` if given."""
        ...

    def entry_at(self, tree_id: str, path: str) -> TreeEntry | None:
        """The entry (file, symlink or folder) at ``path`` in a tree, or None."""
        ...


class TreeSource(Protocol):
    """Reads trees by id: ``repo.trees``, or any ``ObjectReader``."""

    def tree(self, tree_id: str) -> Tree: ...


class ObjectWriter(Protocol):
    """Stores objects; they are durable after ``flush``."""

    def put(self, object_id: str, kind: int, data: bytes | memoryview) -> bool:
        """Store a chunk or a file manifest under its id unless present."""
        ...

    def put_meta(self, data: bytes, kind: int) -> str:
        """Store a metadata object's canonical bytes; return its id."""
        ...

    def flush(self) -> None: ...


class RefReader(Protocol):
    """Reads refs: HEAD, and the branches, tags or notes under a prefix."""

    def head(self) -> Head: ...

    def list(self, prefix: str, *, skip_damaged: bool = False) -> dict[str, str]:
        """Refs under ``prefix`` (``refs/heads/``, ``refs/tags/``, …) by short name."""
        ...


class RevisionResolver(Protocol):
    """Names revisions: ``HEAD~2``, ``main``, ``v1``, ``3fa9``, …"""

    def resolve(self, rev: str) -> str:
        """The commit id ``rev`` names."""
        ...


class WorkingFiles(Protocol):
    """The files under the repository root, as the repository names and reads them."""

    @property
    def root(self) -> Path: ...

    def relpath(self, path: str | os.PathLike[str]) -> str:
        """A path as the repository names it: POSIX, relative to the root (never via a
        symlink, never inside ``.mlv`` or ``.git``)."""
        ...

    def stat_paths(self, paths: Iterable[str]) -> dict[str, FileStat]:
        """The stat of each path that exists as a file or symlink, through real folders."""
        ...

    def content_on_disk(self, found: dict[str, FileStat], staged: dict[str, Staged]) -> Flat:
        """What each found file holds: the staged entry where the stat cache vouches for
        it, else its hash."""
        ...


class StageReader(Protocol):
    """Reads the staging area: what the next commit would hold, with the stat cache."""

    def load_paths(self, paths: Iterable[str]) -> dict[str, Staged]: ...

    def load_under(self, folder: str) -> dict[str, Staged]: ...

    def load_stat_cache(self) -> dict[str, StatRow]: ...

    def known_tree(self) -> str | None:
        """The tree id of the whole stage when it is known to be a stored tree."""
        ...


class ProfileIndex(Protocol):
    """Where a table content's profile is found: content id → profile id (a cache)."""

    def profiles_of(self, content_ids: Sequence[str]) -> dict[str, str]: ...

    def add_profiles(self, pairs: Iterable[tuple[str, str]]) -> None: ...


class CodeIndex(Protocol):
    """Which code version was captured for a git commit: git sha → code id (a cache)."""

    def code_ids_of(self, git_shas: Sequence[str]) -> dict[str, str]: ...

    def add_code_ids(self, pairs: Iterable[tuple[str, str]]) -> None: ...


class RunIndex(Protocol):
    """The run records: runs waiting for a commit, and the run cache of ``mlv repro``."""

    def add_pending(self, run_id: str, outs: dict[str, str]) -> None: ...

    def pending(self) -> list[tuple[str, dict[str, str]]]: ...

    def drop_pending(self, run_ids: Iterable[str]) -> None: ...

    def cached_run(self, key: str) -> str | None: ...

    def cache_run(self, key: str, run_id: str) -> None: ...


class Lock(Protocol):
    """The repository's write lock: held for the span of a ``with`` block (re-entrant)."""

    def __enter__(self) -> object: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
