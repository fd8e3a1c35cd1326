"""A partial clone's content, brought from its remote when something reads it.

``mlv clone --no-data`` (or ``-- PATH``) leaves content behind. The clone's object
store is given a ``RemoteContent`` as its content source: a checkout asks it for
every file it is about to write at once, and a single read of a missing object
(``mlv reproduce`` reading an input, ``mlv stats`` profiling a table) asks it for
that one file. What arrives is verified like any fetch, and stays.
"""

from __future__ import annotations

import threading

from mlv.remote.config import RemoteSpec, load_remotes
from mlv.remote.fetch import Fetcher
from mlv.remote.session import Remote, open_session
from mlv.repo.layout import PARTIAL_FILE, Layout
from mlv.repo.records import RunRecords
from mlv.repo.refs import RefStore
from mlv.repo.results import Progress
from mlv.store.objectstore import ObjectStore


def partial_remote(layout: Layout) -> str | None:
    """The remote a partial clone takes its missing content from; None in a full one."""
    try:
        name = (layout.mlv / PARTIAL_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name or None


def attach_remote_content(
    layout: Layout, store: ObjectStore, refs: RefStore, records: RunRecords
) -> None:
    """In a partial clone, give ``store`` its remote as the source of what it lacks."""
    name = partial_remote(layout)
    spec = load_remotes(layout).by_name.get(name) if name else None
    if spec is not None:
        store.content_source = RemoteContent(layout, spec, store, refs, records)


def mark_partial(layout: Layout, remote: str | None) -> None:
    path = layout.mlv / PARTIAL_FILE
    if remote is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(remote + "\n", encoding="utf-8")


class RemoteContent:
    """Brings missing content from one remote; opened on first use, once."""

    def __init__(
        self,
        layout: Layout,
        spec: RemoteSpec,
        store: ObjectStore,
        refs: RefStore,
        records: RunRecords,
        progress: Progress | None = None,
    ) -> None:
        self.layout, self.spec = layout, spec
        self.store, self.refs, self.records = store, refs, records
        self.progress = progress
        self._remote: Remote | None = None
        self._lock = threading.Lock()

    def ensure(self, object_ids: list[str]) -> None:
        with self._lock:
            if self._remote is None:
                self._remote = open_session(self.layout, self.spec)
                self._remote.index.sync(self._remote.storage)
            fetcher = Fetcher(self._remote, self.store, self.refs, self.records, self.progress)
            fetcher.receive_files(object_ids)

    def close(self) -> None:
        if self._remote is not None:
            self._remote.close()
            self._remote = None
