"""The object store: put, get, has and verify objects by id, over packs and the index."""

from __future__ import annotations

import os
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mlv.core.crashpoints import crash_point
from mlv.core.hashing import hash_bytes, id_from_bytes, id_to_bytes
from mlv.core.paths import open_regular_file
from mlv.errors import (
    ChecksumMismatchError,
    FormatError,
    IndexDamagedError,
    MlvError,
    ObjectMissingError,
    UnsupportedVersionError,
)
from mlv.store.index import ObjectIndex
from mlv.store.pack import (
    CODEC_RAW,
    CODEC_ZSTD,
    KIND_MANIFEST,
    PACK_HEADER,
    RECORD_HEADER,
    Location,
    PackWriter,
    check_pack_header,
    decode_header,
    encode_header,
    finished_packs,
    sweep_tmp_packs,
)
from mlv.store.sqlite import REBUILD_HINT

DEFAULT_COMPRESSION_LEVEL = 3
# The longest record there can be: a header and a payload of u32 length.
MAX_RECORD = RECORD_HEADER.size + 0xFFFFFFFF
# A pack is closed and a new one started past this size, so that no single file
# grows without bound and a crash loses at most one unfinished pack.
PACK_TARGET_SIZE = 512 * 1024 * 1024


class ContentSource(Protocol):
    """Where a partial clone's missing content comes from."""

    def ensure(self, object_ids: list[str]) -> None:
        """Bring the objects (whole files: a manifest with its chunks) into the store."""
        ...


@dataclass(frozen=True, slots=True)
class Damage:
    """One damaged or unreadable object found by ``ObjectStore.verify_all``."""

    object_id: str
    pack: str
    problem: str


class ObjectStore:
    """Content-addressed storage of chunks, file manifests and metadata objects.

    Writes go to one unfinished pack per store instance; ``flush`` seals it and
    records it in the index. Reads of anything written earlier in the same
    instance work before ``flush``. Safe for use from several threads.
    """

    def __init__(
        self,
        packs_dir: Path,
        conn: sqlite3.Connection,
        compression_level: int = DEFAULT_COMPRESSION_LEVEL,
    ) -> None:
        self.packs_dir = packs_dir
        self.conn = conn
        self.index = ObjectIndex(conn)
        self.compression_level = compression_level
        self._lock = threading.RLock()
        self._local = threading.local()
        self._writer: PackWriter | None = None
        self._pending: dict[bytes, tuple[int, int, int]] = {}  # id -> offset, length, kind
        self._reserved: set[bytes] = set()
        self._fds: dict[str, int] = {}
        # Filled by prefetch(), emptied by the reads: spares one index query per object
        # on bulk reads.
        self._locations: dict[bytes, Location] = {}
        # Set in a partial clone: brings content the store lacks from a remote
        # (``mlv.remote.lazy``), so that reads of it wait for it rather than fail.
        self.content_source: ContentSource | None = None

    # -- writing ---------------------------------------------------------------

    def put(self, object_id: str, kind: int, data: bytes | memoryview) -> bool:
        """Store ``data`` under ``object_id`` unless present; True when it was written.

        The caller vouches that ``object_id`` is the id of ``data`` for chunks and
        metadata objects (it has just hashed it); ``get`` re-verifies on every read.
        """
        return self.put_many([(object_id, kind, data)]) == 1

    def put_many(self, items: Sequence[tuple[str, int, bytes | memoryview]]) -> int:
        """Store several objects at once; return how many were new.

        One index query and one lock round-trip per batch instead of per object:
        this is what makes adding many small files fast.
        """
        ids = [id_to_bytes(object_id) for object_id, _, _ in items]
        with self._lock:
            fresh = set(ids) - self._reserved - self._pending.keys()
            if fresh:
                fresh -= self.index.present(fresh)
            self._reserved |= fresh
        records = []
        for id_bytes, (_, kind, data) in zip(ids, items, strict=True):
            if id_bytes not in fresh:
                continue
            fresh.discard(id_bytes)  # an object listed twice in one batch is written once
            payload, codec = self._compress(data)
            header = encode_header(id_bytes, kind, codec, len(data), payload)
            records.append((id_bytes, kind, header, payload))
        if not records:
            return 0
        with self._lock:
            writer = self._current_writer()
            offsets = writer.append_many([(header, payload) for _, _, header, payload in records])
            for (id_bytes, kind, header, payload), offset in zip(records, offsets, strict=True):
                self._pending[id_bytes] = (offset, len(header) + len(payload), kind)
            if writer.size >= PACK_TARGET_SIZE:
                self._seal()
        return len(records)

    def put_records(self, records: Sequence[tuple[bytes, int, bytes | memoryview]]) -> int:
        """Store records already encoded, each as (id bytes, kind, header and payload);
        return how many were new.

        For records that arrive from a remote: the caller has verified each one
        (``open_record``), so its payload is written as it came, not compressed again.
        """
        with self._lock:
            fresh = {i for i, _, _ in records} - self._reserved - self._pending.keys()
            if fresh:
                fresh -= self.index.present(fresh)
            if not fresh:
                return 0
            chosen = []
            for id_bytes, kind, record in records:
                if id_bytes in fresh:
                    fresh.discard(id_bytes)
                    chosen.append((id_bytes, kind, record))
            writer = self._current_writer()
            offsets = writer.append_many([(record,) for _, _, record in chosen])
            for (id_bytes, kind, record), offset in zip(chosen, offsets, strict=True):
                self._reserved.add(id_bytes)
                self._pending[id_bytes] = (offset, len(record), kind)
            if writer.size >= PACK_TARGET_SIZE:
                self._seal()
        return len(chosen)

    def read_record(self, object_id: str) -> tuple[int, bytes]:
        """An object's kind and its whole record (header and payload) as stored, checked
        as ``get`` checks it: what a push sends."""
        id_bytes = id_to_bytes(object_id)
        with self._lock:
            pending = self._pending.get(id_bytes)
            if pending is not None and self._writer is not None:
                offset, length, kind = pending
                raw = self._writer.read(offset, length)
                pack = self._writer.name
                fd = None
            else:
                location = self._locations.pop(id_bytes, None) or self.index.lookup(id_bytes)
                if location is None:
                    raise ObjectMissingError(object_id)
                _check_location(object_id, location)
                kind, pack = location.kind, location.pack
                offset, length = location.offset, location.length
                fd = self._pack_fd_for(object_id, pack)
        if fd is not None:
            raw = os.pread(fd, length, offset)
        self._decode(object_id, id_bytes, raw, pack)
        return kind, raw

    def put_meta(self, data: bytes, kind: int) -> str:
        """Store a metadata object (canonical bytes) and return its id."""
        object_id = hash_bytes(data)
        self.put(object_id, kind, data)
        return object_id

    def flush(self) -> None:
        """Seal the unfinished pack (fsync, rename) and commit its index entries."""
        with self._lock:
            self._seal()

    def _seal(self) -> None:
        writer = self._writer
        if writer is None:
            return
        self._writer = None
        if not self._pending:
            writer.abandon()
            return
        writer.finish()
        crash_point("pack.after-rename")
        entries = [(i, off, length, kind) for i, (off, length, kind) in self._pending.items()]
        with self.conn:
            self.index.add_pack(writer.name, entries)
        self._pending.clear()
        self._reserved.clear()

    def _current_writer(self) -> PackWriter:
        if self._writer is None:
            _sweep_once(self.packs_dir)
            self._writer = PackWriter(self.packs_dir)
        return self._writer

    def _compress(self, data: bytes | memoryview) -> tuple[bytes | memoryview, int]:
        compressor = getattr(self._local, "compressor", None)
        if compressor is None:
            import zstandard  # here, not at start-up: most status calls never need it

            compressor = zstandard.ZstdCompressor(level=self.compression_level)
            self._local.compressor = compressor
        packed = compressor.compress(data)
        # Stored raw when compression does not pay: random bytes, media, zipped files.
        if len(packed) >= len(data):
            return data, CODEC_RAW
        return packed, CODEC_ZSTD

    def _decompressor(self) -> Any:
        # One per thread: creating a zstd context per read costs more than the read.
        decompressor = getattr(self._local, "decompressor", None)
        if decompressor is None:
            import zstandard

            decompressor = zstandard.ZstdDecompressor()
            self._local.decompressor = decompressor
        return decompressor

    def forget_pack(self, name: str) -> None:
        """Close the fd of pack ``name`` and drop what was cached about it: gc has taken
        it out of the index and is about to remove its file."""
        with self._lock:
            fd = self._fds.pop(name, None)
            if fd is not None:
                os.close(fd)
            self._locations = {k: v for k, v in self._locations.items() if v.pack != name}
            # Pack numbers of removed rows may be given to new packs: names are looked up again.
            self.index._pack_names.clear()

    def close(self) -> None:
        """Flush and release file handles."""
        self.flush()
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    # -- reading ---------------------------------------------------------------

    def ensure_content(self, object_ids: Iterable[str]) -> None:
        """In a partial clone, bring at once the objects of ``object_ids`` the store lacks
        (a checkout calls this before it writes); elsewhere, nothing."""
        source = self.content_source
        if source is None:
            return
        wanted = {id_to_bytes(i) for i in object_ids}
        with self._lock:
            wanted -= self._pending.keys()
            if wanted:
                wanted -= self.index.present(wanted)
        if wanted:
            source.ensure(sorted(id_from_bytes(i) for i in wanted))

    def _fetch_missing(self, object_id: str) -> bool:
        """Ask the content source for one missing object; True when it may be here now."""
        source = self.content_source
        if source is None:
            return False
        source.ensure([object_id])
        return True

    def has(self, object_id: str) -> bool:
        id_bytes = id_to_bytes(object_id)
        with self._lock:
            return id_bytes in self._pending or self.index.contains(id_bytes)

    def kind_of(self, object_id: str) -> int | None:
        """The stored kind of an object, or None when the store lacks it."""
        id_bytes = id_to_bytes(object_id)
        with self._lock:
            pending = self._pending.get(id_bytes)
            if pending is not None:
                return pending[2]
            location = self.index.lookup(id_bytes)
        return None if location is None else location.kind

    def get(self, object_id: str) -> bytes:
        """Return an object's content, verified against its id.

        Raises:
            ObjectMissingError: the store does not hold it.
            ChecksumMismatchError: its bytes are damaged.
        """
        return self.get_with_kind(object_id)[1]

    def get_part(self, object_id: str) -> bytes:
        """A chunk's content read as one part of a file whose whole the caller hashes
        against the file's id: every check of ``get`` but the chunk's own hash."""
        return self._get_with_kind(object_id, hashed=False)[1]

    def get_with_kind(self, object_id: str) -> tuple[int, bytes]:
        """An object's stored kind and its verified content, in one index lookup."""
        try:
            return self._get_with_kind(object_id)
        except ObjectMissingError:
            if not self._fetch_missing(object_id):
                raise
        return self._get_with_kind(object_id)

    def _get_with_kind(self, object_id: str, *, hashed: bool = True) -> tuple[int, bytes]:
        id_bytes = id_to_bytes(object_id)
        with self._lock:
            pending = self._pending.get(id_bytes)
            if pending is not None and self._writer is not None:
                offset, length, kind = pending
                raw = self._writer.read(offset, length)
                return kind, self._decode(object_id, id_bytes, raw, self._writer.name, hashed)
            # A prefetched location serves the read it was fetched for, then goes: a
            # checkout of a million files must not keep a million of them.
            location = self._locations.pop(id_bytes, None) or self.index.lookup(id_bytes)
            if location is None:
                raise ObjectMissingError(object_id)
            _check_location(object_id, location)
            fd = self._pack_fd_for(object_id, location.pack)
        # Outside the lock: reads from several threads proceed in parallel.
        raw = os.pread(fd, location.length, location.offset)
        return location.kind, self._decode(object_id, id_bytes, raw, location.pack, hashed)

    def raw_length(self, object_id: str) -> int:
        """The content length that an object's record header states, read from the header
        alone; for a manifest, the manifest's own length. ``get`` verifies the content.

        Raises:
            ObjectMissingError: the store does not hold it.
            ChecksumMismatchError: its record header is damaged.
        """
        try:
            return self._raw_length(object_id)
        except ObjectMissingError:
            if not self._fetch_missing(object_id):
                raise
        return self._raw_length(object_id)

    def _raw_length(self, object_id: str) -> int:
        id_bytes = id_to_bytes(object_id)
        with self._lock:
            pending = self._pending.get(id_bytes)
            if pending is not None and self._writer is not None:
                raw = self._writer.read(pending[0], RECORD_HEADER.size)
                pack = self._writer.name
            else:
                location = self._locations.get(id_bytes) or self.index.lookup(id_bytes)
                if location is None:
                    raise ObjectMissingError(object_id)
                _check_location(object_id, location)
                pack = location.pack
                fd = self._pack_fd_for(object_id, pack)
                raw = os.pread(fd, RECORD_HEADER.size, location.offset)
        try:
            header = decode_header(raw)
        except FormatError:
            raise ChecksumMismatchError(object_id, pack) from None
        if header.id_bytes != id_bytes:
            raise ChecksumMismatchError(object_id, pack)
        return header.raw_length

    def prefetch(self, object_ids: Iterable[str]) -> None:
        """Look up where many objects lie in a few queries, ahead of reading them."""
        wanted = [id_to_bytes(i) for i in object_ids]
        with self._lock:
            self._locations.update(self.index.lookup_many(wanted))

    def _pack_fd_for(self, object_id: str, pack: str) -> int:
        """``_pack_fd``, its failures said as failures to read ``object_id``."""
        try:
            return self._pack_fd(pack)
        except FileNotFoundError:
            raise ObjectMissingError(object_id, f" (its pack {pack} is missing)") from None
        except (FormatError, UnsupportedVersionError) as exc:
            raise type(exc)(f"object {object_id} cannot be read: {exc}") from None

    def _pack_fd(self, pack: str) -> int:
        """An open fd on a finished pack whose header says it is one this mlv reads."""
        fd = self._fds.get(pack)
        if fd is None:
            fd = open_regular_file(self.packs_dir / pack)
            try:
                # Checked once per pack and process; a record of a pack in another format
                # could parse by chance, and would then be read wrongly.
                check_pack_header(os.pread(fd, PACK_HEADER.size, 0), pack)
            except BaseException:
                os.close(fd)
                raise
            self._fds[pack] = fd
        return fd

    def _read_location(self, location: Location) -> bytes:
        return os.pread(self._pack_fd(location.pack), location.length, location.offset)

    def _decode(
        self, object_id: str, id_bytes: bytes, raw: bytes, pack: str, hashed: bool = True
    ) -> bytes:
        try:
            return open_record(id_bytes, raw, self._decompressor(), hashed=hashed)
        except FormatError:
            raise ChecksumMismatchError(object_id, pack) from None

    # -- inspection ------------------------------------------------------------

    def iter_ids(self) -> Iterator[tuple[str, int]]:
        """Every indexed object as (id, kind)."""
        for id_bytes, location in self.index.iter_all():
            yield id_from_bytes(id_bytes), location.kind

    def verify_all(self) -> Iterator[Damage]:
        """Read back every indexed object and yield each one that fails verification."""
        with self._lock:
            rows = list(self.index.iter_all())
        unreadable: dict[str, str | None] = {}  # pack -> why it cannot be read, or None
        for id_bytes, location in rows:
            object_id = id_from_bytes(id_bytes)
            if location.pack not in unreadable:
                unreadable[location.pack] = problem = self._pack_problem(location.pack)
                if problem:
                    yield Damage("", location.pack, problem)
            if unreadable[location.pack]:
                yield Damage(object_id, location.pack, "its pack cannot be read")
                continue
            try:
                _check_location(object_id, location)
                raw = self._read_location(location)
                if len(raw) != location.length:
                    raise FormatError("record is truncated")
                open_record(id_bytes, raw, self._decompressor())
            except FileNotFoundError:
                yield Damage(object_id, location.pack, "its pack file is missing")
            except FormatError as exc:
                yield Damage(object_id, location.pack, str(exc))

    def _pack_problem(self, name: str) -> str | None:
        path = self.packs_dir / name
        try:
            with open(path, "rb") as f:
                check_pack_header(f.read(PACK_HEADER.size), name)
        except FileNotFoundError:
            return None  # reported per object
        except (OSError, MlvError) as exc:
            return str(exc)
        return None

    def pack_files(self) -> list[Path]:
        # Finished packs only: a ``tmp-pack-*.pack`` is an unfinished (or orphaned) write.
        return finished_packs(self.packs_dir)


def open_record(id_bytes: bytes, raw: bytes, decompressor: Any, *, hashed: bool = True) -> bytes:
    """The content of one whole record (header and payload) stored under ``id_bytes``.

    Raises ``FormatError`` saying what is wrong when any check of docs/format.md,
    "Verification on read", fails. Without ``hashed`` the content is not hashed
    against the id: for a chunk whose file the caller hashes whole.
    """
    header = decode_header(raw[: RECORD_HEADER.size])
    payload = raw[RECORD_HEADER.size :]
    if header.id_bytes != id_bytes:
        raise FormatError("the record holds another id")
    if header.stored_length != len(payload):
        raise FormatError("the record's stored length does not match its length")
    expected_crc = zlib.crc32(payload) if header.kind == KIND_MANIFEST else 0
    if header.crc32 != expected_crc:
        raise FormatError("the record's CRC-32 does not match")
    if header.codec == CODEC_ZSTD:
        data = _decompress(decompressor, payload, header.raw_length)
    else:
        data = payload
    if len(data) != header.raw_length:
        raise FormatError("the content's length does not match the record's raw length")
    # A manifest is named by the content it lists, checked when that is read.
    if hashed and header.kind != KIND_MANIFEST and hash_bytes(data) != id_from_bytes(id_bytes):
        raise FormatError("content does not match its id")
    return bytes(data)


def _check_location(object_id: str, location: Location) -> None:
    """Refuse an index row that no record can have: reading it would allocate wildly."""
    if not RECORD_HEADER.size <= location.length <= MAX_RECORD or location.offset < 0:
        raise IndexDamagedError(
            f"the index row of object {object_id} is damaged (length {location.length}, "
            f"offset {location.offset}); {REBUILD_HINT}"
        )


def _decompress(decompressor: Any, payload: bytes, raw_length: int) -> bytes:
    import zstandard

    try:
        # A damaged frame may claim any size: refuse it before allocating for it.
        declared = zstandard.frame_content_size(payload)
        if declared not in (-1, raw_length):
            raise FormatError("the zstd frame's size does not match the record's raw length")
        data: bytes = decompressor.decompress(payload, max_output_size=raw_length)
    except zstandard.ZstdError:
        raise FormatError("the zstd frame is damaged") from None
    return data


# Packs folders already swept by this process: once is enough, at the first write.
_swept: set[Path] = set()
_sweep_lock = threading.Lock()


def _sweep_once(packs_dir: Path) -> None:
    key = packs_dir.resolve()
    with _sweep_lock:
        if key in _swept:
            return
        _swept.add(key)
    sweep_tmp_packs(packs_dir)
