"""The small interfaces capabilities take instead of the whole repository.

A capability that reads objects takes an ``ObjectReader``, one that stores them an
``ObjectWriter``, one that names revisions a ``RevisionResolver``: it can then be
given the repository's parts (``repo.objects``, ``repo.store``, ``repo.revisions``)
or anything else that holds the objects, such as a remote's store later.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mlv.model.objects import Commit, Tree, TreeEntry
    from mlv.model.runs import Env, Reproduction, Run
    from mlv.repo.refs import Head
    from mlv.repo.trees import Flat


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
