"""Push, fetch and pull as the facade calls them: a remote opened, the work, closed.

Each takes the repository parts it uses (``RepoParts``), never the whole core,
and holds the write lock while it changes local refs and the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mlv.model.runs import Run
from mlv.remote.config import RemoteSpec
from mlv.remote.fetch import Fetcher, FetchResult, join_notes
from mlv.remote.lazy import partial_remote
from mlv.remote.push import Pusher, PushResult, choose_refs
from mlv.remote.session import open_session
from mlv.repo.history import ReadCommit
from mlv.repo.layout import Layout
from mlv.repo.locking import WriteLock
from mlv.repo.records import RunRecords
from mlv.repo.refs import RefStore
from mlv.repo.results import Progress
from mlv.store.objectstore import ObjectStore


@dataclass
class RepoParts:
    layout: Layout
    store: ObjectStore
    refs: RefStore
    records: RunRecords
    read_commit: ReadCommit
    lock: WriteLock
    run_cache_key: Callable[[Run], str] | None = None


def push(
    parts: RepoParts,
    spec: RemoteSpec,
    names: Sequence[str] = (),
    *,
    all_branches: bool = False,
    tags: bool = False,
    force: bool = False,
    progress: Progress | None = None,
) -> PushResult:
    remote = open_session(parts.layout, spec)
    try:
        with parts.lock:
            chosen = choose_refs(parts.refs, list(names), all_branches=all_branches, tags=tags)
            fetcher = Fetcher(
                remote,
                parts.store,
                parts.refs,
                parts.records,
                progress,
                run_cache_key=parts.run_cache_key,
            )

            def join(theirs: str) -> str:
                # The remote's chain is history like any other: receive it, then join.
                fetcher.receive_history()
                join_notes(parts.store, parts.refs, theirs)
                joined = parts.refs.read("refs/notes/reproductions")
                assert joined is not None
                return joined

            pusher = Pusher(
                remote,
                parts.store,
                parts.refs,
                parts.read_commit,
                parts.layout.tmp,
                progress,
                join_notes=join,
            )
            return pusher.push(chosen, force=force)
    finally:
        remote.close()


def fetch(
    parts: RepoParts,
    spec: RemoteSpec,
    *,
    history_only: bool = False,
    progress: Progress | None = None,
) -> FetchResult:
    """Fetch from ``spec``; a partial clone (or ``history_only``) takes history alone,
    and content comes when it is read."""
    content = not history_only and partial_remote(parts.layout) is None
    remote = open_session(parts.layout, spec)
    try:
        with parts.lock:
            fetcher = Fetcher(
                remote,
                parts.store,
                parts.refs,
                parts.records,
                progress,
                run_cache_key=parts.run_cache_key,
            )
            return fetcher.fetch(content=content)
    finally:
        remote.close()
