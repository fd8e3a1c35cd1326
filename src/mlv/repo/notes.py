"""Notes chains: records kept reachable from a ref under ``refs/notes/``.

A ref such as ``refs/notes/reproductions`` names the newest ``notes`` object; each
entry names the records it adds and the entries before it. The chain is the truth;
``index.db`` only caches what it holds.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlv.core.crashpoints import crash_point
from mlv.errors import FormatError
from mlv.model.notes import Notes
from mlv.repo.records import RunRecords
from mlv.repo.refs import NOTES, RefStore
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_META

REPRODUCTIONS = NOTES + "reproductions"


def append(
    store: ObjectStore, refs: RefStore, ref: str, records: list[str], message: str = ""
) -> str:
    """Add an entry naming ``records`` on top of ``ref``; the caller holds the write lock.

    The entry is stored and flushed before the ref moves (compare-and-swap on the value
    read here), so a crash leaves either the old chain or the new one, never a ref to an
    object the packs lack.
    """
    parent = refs.read(ref)
    entry = Notes(parents=(parent,) if parent else (), records=tuple(records))
    notes_id = store.put_meta(entry.to_bytes(), KIND_META)
    store.flush()
    crash_point("notes.before-ref")
    refs.update(ref, notes_id, parent, message=message or f"notes: {len(records)} record(s)")
    return notes_id


def walk(store: ObjectStore, start: str | None) -> Iterator[tuple[str, Notes]]:
    """Every entry reachable from ``start``, newest first, each once."""
    stack = [start] if start else []
    seen: set[str] = set()
    while stack:
        notes_id = stack.pop()
        if notes_id in seen:
            continue
        seen.add(notes_id)
        if not store.has(notes_id):
            raise FormatError(f"notes entry {notes_id} is missing from the store")
        entry = Notes.from_bytes(store.get(notes_id))
        yield notes_id, entry
        stack.extend(reversed(entry.parents))


def all_records(store: ObjectStore, refs: RefStore, ref: str) -> list[str]:
    """The ids a chain names, oldest first, each once."""
    found: list[str] = []
    for _, entry in walk(store, refs.read(ref)):
        found.extend(reversed(entry.records))
    found.reverse()
    return list(dict.fromkeys(found))


def add_reproduction(
    store: ObjectStore,
    refs: RefStore,
    records: RunRecords,
    commit_id: str,
    reproduction_id: str,
    time: int,
) -> None:
    """Make a stored reproduction reachable from ``REPRODUCTIONS``, then cache it.

    The caller holds the write lock and has stored the reproduction object.
    """
    append(store, refs, REPRODUCTIONS, [reproduction_id], f"reproduce: {commit_id[:12]}")
    crash_point("notes.after-ref")
    records.add_reproduction(commit_id, reproduction_id, time)
