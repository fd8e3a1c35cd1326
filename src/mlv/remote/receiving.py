"""Receiving objects: ranges of remote packs read, every record verified, then stored.

What a fetch lacks is read from the packs that hold it, in ranges: records that
lie close together in one pack come in one request, and a pack needed whole
comes whole. Each record is checked against the id the pack's index gives it
before it is written to the local store (docs/format.md, "Verification on
read"): bytes that do not match, a record of another kind, or a range cut
short are refused as damage of the remote, and nothing of that batch is kept.
Memory stays bounded by the range size times the readers.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mlv.core.hashing import id_to_bytes
from mlv.errors import FormatError, RemoteError
from mlv.model.objects import FileManifest
from mlv.remote.layout import pack_key
from mlv.remote.remoteindex import RemoteLocation
from mlv.remote.storage import Storage
from mlv.repo.results import NoProgress, Progress
from mlv.store.objectstore import ObjectStore, open_record
from mlv.store.pack import KIND_MANIFEST, RECORD_HEADER, decode_header

# Records less than this far apart in a pack are read in one request.
COALESCE_GAP = 1024 * 1024
MAX_RANGE = 16 * 1024 * 1024
READERS = 8
# The local store is flushed every so many bytes, so that an interrupted fetch
# keeps what has arrived and the next one does not read it again.
FLUSH_EVERY = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Span:
    """One request: a range of a pack and the records it holds."""

    pack_id: str
    start: int
    length: int
    records: tuple[tuple[str, RemoteLocation], ...]


@dataclass
class ReceiveReport:
    objects: int = 0
    bytes: int = 0


def plan_spans(wanted: dict[str, RemoteLocation]) -> list[Span]:
    """The requests that read ``wanted``: by pack, by offset, near records joined."""
    by_pack: dict[str, list[tuple[str, RemoteLocation]]] = defaultdict(list)
    for object_id, location in wanted.items():
        by_pack[location.pack_id].append((object_id, location))
    spans = []
    for pack_id, records in sorted(by_pack.items()):
        records.sort(key=lambda item: item[1].offset)
        group: list[tuple[str, RemoteLocation]] = []
        start = end = 0
        for item in records:
            location = item[1]
            stop = location.offset + location.length
            if group and (location.offset - end > COALESCE_GAP or stop - start > MAX_RANGE):
                spans.append(Span(pack_id, start, end - start, tuple(group)))
                group = []
            if group:
                end = max(end, stop)
            else:
                start, end = location.offset, stop
            group.append(item)
        if group:
            spans.append(Span(pack_id, start, end - start, tuple(group)))
    return spans


class Receiver:
    """Reads objects from a remote's packs into the local store."""

    def __init__(
        self,
        storage: Storage,
        store: ObjectStore,
        progress: Progress | None = None,
        *,
        readers: int = READERS,
    ) -> None:
        self.storage = storage
        self.store = store
        self.progress = progress or NoProgress()
        self.readers = readers
        self._lock = threading.Lock()
        self._unflushed = 0

    def receive(
        self, wanted: dict[str, RemoteLocation], label: str = "receiving", *, flush: bool = True
    ) -> ReceiveReport:
        """Receive ``wanted``; with ``flush``, seal what came into a pack at the end
        (without, the store's next flush does: lazy reads of one file each)."""
        report = ReceiveReport()
        if not wanted:
            return report
        spans = plan_spans(wanted)
        self.progress.start(sum(s.length for s in spans), label)
        try:
            with ThreadPoolExecutor(self.readers) as pool:
                for count, size in pool.map(self._receive_span, spans):
                    report.objects += count
                    report.bytes += size
        finally:
            self.progress.finish()
            if flush:
                self.store.flush()
        return report

    def read(self, wanted: dict[str, RemoteLocation]) -> dict[str, tuple[int, bytes]]:
        """The records of ``wanted``, each verified, in memory: (kind, record) by id.
        For what must be checked further before it is stored (manifests)."""
        found: dict[str, tuple[int, bytes]] = {}
        with ThreadPoolExecutor(self.readers) as pool:
            for records in pool.map(self._read_span, plan_spans(wanted)):
                for id_bytes, kind, raw in records:
                    found[id_bytes.hex()] = (kind, raw)
        return found

    def _read_span(self, span: Span) -> list[tuple[bytes, int, bytes]]:
        key = pack_key(span.pack_id)
        data = self.storage.get_range(key, span.start, span.length)
        if len(data) != span.length:
            raise RemoteError(
                f"remote {self.storage.url}: pack {span.pack_id[:12]} is truncated; "
                "run 'mlv fsck --remote' on it"
            )
        view = memoryview(data)
        records = []
        for object_id, location in span.records:
            begin = location.offset - span.start
            raw = bytes(view[begin : begin + location.length])
            check_record(object_id, location, raw, self.storage.url)
            records.append((id_to_bytes(object_id), location.kind, raw))
        return records

    def _receive_span(self, span: Span) -> tuple[int, int]:
        stored = self.store.put_records(self._read_span(span))
        with self._lock:
            self.progress.advance(span.length)
            self._unflushed += span.length
            flush = self._unflushed >= FLUSH_EVERY
            if flush:
                self._unflushed = 0
        if flush:
            self.store.flush()
        return stored, span.length


_local = threading.local()


def decompressor() -> Any:
    """A zstd decompressor of this thread's own."""
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        import zstandard

        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    return decompressor


def check_record(object_id: str, location: RemoteLocation, raw: bytes, url: str) -> None:
    """Refuse ``raw`` unless it is a whole, valid record of ``object_id`` of the kind the
    index says: else the remote is damaged (or lying), and the fetch stops."""
    try:
        header = decode_header(raw[: RECORD_HEADER.size])
        if header.kind != location.kind:
            raise FormatError("the record is of another kind than its index says")
        content = open_record(id_to_bytes(object_id), raw, decompressor())
        if header.kind == KIND_MANIFEST:
            FileManifest.from_bytes(content)
    except FormatError as exc:
        raise RemoteError(
            f"remote {url}: object {object_id} in pack {location.pack_id[:12]} is damaged "
            f"({exc}); nothing of it was kept: run 'mlv fsck --remote' to see the damage"
        ) from None


def fetch_objects(
    storage: Storage,
    store: ObjectStore,
    locations: Iterable[tuple[str, RemoteLocation]],
    progress: Progress | None = None,
    label: str = "receiving",
    *,
    flush: bool = True,
) -> ReceiveReport:
    """Receive the objects at ``locations`` that the local store lacks."""
    wanted = dict(locations)
    if wanted:
        have = store.index.present({id_to_bytes(i) for i in wanted})
        for id_bytes in have:
            wanted.pop(id_bytes.hex(), None)
    return Receiver(storage, store, progress).receive(wanted, label, flush=flush)
