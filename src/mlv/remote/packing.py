"""Sending objects: records copied from the local store into new packs, uploaded.

Objects travel packed, never one request each. A pack is written as it is built
(``Storage.open_upload``: on a folder remote straight into a temporary beside the
packs, on S3 into a local file then uploaded, so memory stays bounded whatever the
data's size), named by the BLAKE3 of its bytes, and only then is its index
written: a reader counts a pack only once its index is there, so a push killed at
any moment leaves nothing that anyone relies on, and whatever packs it finished
are used by the next push instead of being sent again.

Content (chunks) goes first, in parallel; then history (manifests, trees,
commits, runs…) in one pack, once every content pack is indexed. So a remote's
indexed objects always have everything they name: a push may skip a tree the
remote holds without looking inside it. (History is small beside content: the
trees of 200,000 files are some tens of MB.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from mlv.core.hashing import Hasher, id_to_bytes
from mlv.remote.layout import PACKS, index_key, pack_key
from mlv.remote.packindex import IndexEntry, encode_index
from mlv.remote.remoteindex import RemoteIndex
from mlv.remote.storage import Storage, Upload
from mlv.repo.results import NoProgress, Progress
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_CHUNK, PACK_HEADER, PACK_MAGIC, PACK_VERSION

# A remote pack is cut past this size: big enough that a push of 20,000 small
# files is a few requests, small enough that a killed push resends little.
REMOTE_PACK_TARGET = 32 * 1024 * 1024
UPLOADERS = 8


@dataclass
class BuiltPack:
    pack_id: str
    size: int
    entries: list[IndexEntry]


@dataclass
class SendReport:
    objects: int = 0
    bytes: int = 0
    packs: list[str] = field(default_factory=list)


class PackBuilder:
    """Writes records, as the local store holds them, into one new pack on a remote."""

    def __init__(self, upload: Upload) -> None:
        self._upload = upload
        self._hasher = Hasher()
        self.entries: list[IndexEntry] = []
        self.size = 0
        self._write(PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION))

    def _write(self, data: bytes) -> None:
        self._upload.write(data)
        self._hasher.update(data)
        self.size += len(data)

    def add(self, id_bytes: bytes, kind: int, record: bytes) -> None:
        self.entries.append(IndexEntry(id_bytes, kind, self.size, len(record)))
        self._write(record)

    def finish(self) -> BuiltPack:
        """Land the pack under its name (its index is the caller's to write next)."""
        pack_id = self._hasher.hexdigest()
        self._upload.finish(pack_key(pack_id))
        return BuiltPack(pack_id, self.size, self.entries)


def build_pack(
    storage: Storage,
    scratch: Path,
    records: Iterable[tuple[bytes, int, bytes]],
    progress: Callable[[int], None] | None = None,
) -> BuiltPack:
    """Upload a pack of ``records`` (id bytes, kind, whole record), then its index."""
    upload = storage.open_upload(PACKS, scratch, progress)
    try:
        builder = PackBuilder(upload)
        for id_bytes, kind, record in records:
            builder.add(id_bytes, kind, record)
        built = builder.finish()
    except BaseException:
        upload.abandon()
        raise
    storage.put(index_key(built.pack_id), encode_index(built.pack_id, built.size, built.entries))
    return built


class Sender:
    """Uploads objects of the local store that a remote lacks."""

    def __init__(
        self,
        storage: Storage,
        store: ObjectStore,
        index: RemoteIndex,
        scratch: Path,
        progress: Progress | None = None,
        *,
        pack_target: int | None = None,
        workers: int = UPLOADERS,
    ) -> None:
        self.storage = storage
        self.store = store
        self.index = index
        self.scratch = scratch
        self.progress = progress or NoProgress()
        self.pack_target = pack_target or REMOTE_PACK_TARGET
        self.workers = workers
        self._progress_lock = threading.Lock()

    def send(
        self, objects: Sequence[tuple[str, int]], on_pack: Callable[[str], None]
    ) -> SendReport:
        """Send ``objects`` ((id, kind), in walk order: what names before what is named).

        ``on_pack`` is called after each pack is indexed on the remote (a crash point).
        """
        report = SendReport()
        if not objects:
            return report
        lengths = self._lengths([object_id for object_id, _ in objects])
        content = [(i, k) for i, k in objects if k == KIND_CHUNK]
        history = [(i, k) for i, k in objects if k != KIND_CHUNK]
        self.progress.start(sum(lengths.values()), "sending")
        try:
            self.scratch.mkdir(parents=True, exist_ok=True)
            groups = self._groups(content, lengths)
            self._send_parallel(groups, report, on_pack)
            if history:
                self._finish_one(self._send_group(history), report, on_pack)
        finally:
            self.progress.finish()
        return report

    def _lengths(self, ids: list[str]) -> dict[str, int]:
        found = self.store.index.lookup_many([id_to_bytes(i) for i in ids])
        lengths = {}
        for object_id in ids:
            location = found.get(id_to_bytes(object_id))
            # Unflushed or unindexed: read_record says why when the pack is built.
            lengths[object_id] = location.length if location else 0
        return lengths

    def _groups(
        self, objects: list[tuple[str, int]], lengths: dict[str, int]
    ) -> list[list[tuple[str, int]]]:
        groups: list[list[tuple[str, int]]] = []
        current: list[tuple[str, int]] = []
        size = 0
        for item in objects:
            current.append(item)
            size += lengths.get(item[0], 0)
            if size >= self.pack_target:
                groups.append(current)
                current, size = [], 0
        if current:
            groups.append(current)
        return groups

    def _send_parallel(
        self,
        groups: list[list[tuple[str, int]]],
        report: SendReport,
        on_pack: Callable[[str], None],
    ) -> None:
        if not groups:
            return
        pending = list(reversed(groups))
        with ThreadPoolExecutor(self.workers) as pool:
            running: set[Future[BuiltPack]] = set()
            try:
                while pending or running:
                    while pending and len(running) < self.workers:
                        running.add(pool.submit(self._send_group, pending.pop()))
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._finish_one(future.result(), report, on_pack)
            except BaseException:
                for future in running:
                    future.cancel()
                raise

    def _send_group(self, group: list[tuple[str, int]]) -> BuiltPack:
        ids = [object_id for object_id, _ in group]
        self.store.prefetch(ids)  # one index query for the group, not one per record
        records = (
            (id_to_bytes(object_id), *self.store.read_record(object_id)) for object_id in ids
        )
        return build_pack(self.storage, self.scratch, records, self._advance)

    def _advance(self, amount: int) -> None:
        with self._progress_lock:
            self.progress.advance(amount)

    def _finish_one(
        self, built: BuiltPack, report: SendReport, on_pack: Callable[[str], None]
    ) -> None:
        self.index.add_pack(
            built.pack_id,
            built.size,
            ((e.id_bytes, e.offset, e.length, e.kind) for e in built.entries),
        )
        report.objects += len(built.entries)
        report.bytes += built.size
        report.packs.append(built.pack_id)
        on_pack(built.pack_id)
