"""The object store: put, get, has and verify objects by id, over packs and the index."""

from __future__ import annotations

import os
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlv.core.hashing import hash_bytes, id_from_bytes, id_to_bytes
from mlv.errors import ChecksumMismatchError, FormatError, ObjectMissingError
from mlv.store.index import ObjectIndex
from mlv.store.pack import (
    CODEC_RAW,
    CODEC_ZSTD,
    KIND_MANIFEST,
    PACK_SUFFIX,
    RECORD_HEADER,
    Location,
    PackWriter,
    check_pack_header,
    decode_header,
    encode_header,
)

DEFAULT_COMPRESSION_LEVEL = 3
# A pack is closed and a new one started past this size, so that no single file
# grows without bound and a crash loses at most one unfinished pack.
PACK_TARGET_SIZE = 512 * 1024 * 1024


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
        # Filled by prefetch(): spares one index query per object on bulk reads.
        self._locations: dict[bytes, Location] = {}

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
        entries = [(i, off, length, kind) for i, (off, length, kind) in self._pending.items()]
        with self.conn:
            self.index.add_pack(writer.name, entries)
        self._pending.clear()
        self._reserved.clear()

    def _current_writer(self) -> PackWriter:
        if self._writer is None:
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

    def close(self) -> None:
        """Flush and release file handles."""
        self.flush()
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    # -- reading ---------------------------------------------------------------

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

    def get_with_kind(self, object_id: str) -> tuple[int, bytes]:
        """An object's stored kind and its verified content, in one index lookup."""
        id_bytes = id_to_bytes(object_id)
        with self._lock:
            pending = self._pending.get(id_bytes)
            if pending is not None and self._writer is not None:
                offset, length, kind = pending
                raw = self._writer.read(offset, length)
                return kind, self._decode(object_id, id_bytes, raw, self._writer.name)
            location = self._locations.get(id_bytes) or self.index.lookup(id_bytes)
            if location is None:
                raise ObjectMissingError(object_id)
            try:
                fd = self._pack_fd(location.pack)
            except FileNotFoundError:
                raise ObjectMissingError(
                    object_id, f" (its pack {location.pack} is missing)"
                ) from None
        # Outside the lock: reads from several threads proceed in parallel.
        raw = os.pread(fd, location.length, location.offset)
        return location.kind, self._decode(object_id, id_bytes, raw, location.pack)

    def prefetch(self, object_ids: Iterable[str]) -> None:
        """Look up where many objects lie in a few queries, ahead of reading them."""
        wanted = [id_to_bytes(i) for i in object_ids]
        with self._lock:
            self._locations.update(self.index.lookup_many(wanted))

    def _pack_fd(self, pack: str) -> int:
        fd = self._fds.get(pack)
        if fd is None:
            fd = os.open(self.packs_dir / pack, os.O_RDONLY)
            self._fds[pack] = fd
        return fd

    def _read_location(self, location: Location) -> bytes:
        return os.pread(self._pack_fd(location.pack), location.length, location.offset)

    def _decode(self, object_id: str, id_bytes: bytes, raw: bytes, pack: str) -> bytes:
        try:
            header = decode_header(raw[: RECORD_HEADER.size])
        except Exception:
            raise ChecksumMismatchError(object_id, pack) from None
        payload = raw[RECORD_HEADER.size :]
        if header.id_bytes != id_bytes or header.stored_length != len(payload):
            raise ChecksumMismatchError(object_id, pack)
        expected_crc = zlib.crc32(payload) if header.kind == KIND_MANIFEST else 0
        if header.crc32 != expected_crc:
            raise ChecksumMismatchError(object_id, pack)
        if header.codec == CODEC_ZSTD:
            try:
                data = self._decompressor().decompress(payload, max_output_size=header.raw_length)
            except Exception:  # zstandard.ZstdError: the frame is damaged
                raise ChecksumMismatchError(object_id, pack) from None
        else:
            data = payload
        if len(data) != header.raw_length:
            raise ChecksumMismatchError(object_id, pack)
        # A manifest is named by the content it lists, checked when that is read.
        if header.kind != KIND_MANIFEST and hash_bytes(data) != object_id:
            raise ChecksumMismatchError(object_id, pack)
        return data

    # -- inspection ------------------------------------------------------------

    def iter_ids(self) -> Iterator[tuple[str, int]]:
        """Every indexed object as (id, kind)."""
        for id_bytes, location in self.index.iter_all():
            yield id_from_bytes(id_bytes), location.kind

    def verify_all(self) -> Iterator[Damage]:
        """Read back every indexed object and yield each one that fails verification."""
        with self._lock:
            rows = list(self.index.iter_all())
        checked_packs: set[str] = set()
        for id_bytes, location in rows:
            object_id = id_from_bytes(id_bytes)
            if location.pack not in checked_packs:
                checked_packs.add(location.pack)
                problem = self._pack_problem(location.pack)
                if problem:
                    yield Damage("", location.pack, problem)
            try:
                raw = self._read_location(location)
                if len(raw) != location.length:
                    raise FormatError("record is truncated")
                self._decode(object_id, id_bytes, raw, location.pack)
            except FileNotFoundError:
                yield Damage(object_id, location.pack, "its pack file is missing")
            except (ChecksumMismatchError, FormatError) as exc:
                problem = (
                    "content does not match its id"
                    if isinstance(exc, ChecksumMismatchError)
                    else str(exc)
                )
                yield Damage(object_id, location.pack, problem)

    def _pack_problem(self, name: str) -> str | None:
        path = self.packs_dir / name
        try:
            with open(path, "rb") as f:
                check_pack_header(f.read(32), name)
        except FileNotFoundError:
            return None  # reported per object
        except Exception as exc:
            return str(exc)
        return None

    def pack_files(self) -> list[Path]:
        # Finished packs only: a ``tmp-pack-*.pack`` is an unfinished (or orphaned) write.
        return sorted(self.packs_dir.glob(f"pack-*{PACK_SUFFIX}"))
