"""A remote pack's index: which records a pack holds, and where (docs/format.md, "Pack index").

A local pack needs no index of its own, since ``index.db`` holds where every record
lies; a remote one does, so that a client learns what a remote holds by reading
a few small files, never by reading packs or asking object by object.

Layout, all integers little-endian::

    header   32 bytes  "MLVPIDX\\0", version u32, record count u32, pack size u64, 8 zero bytes
    pack id  32 bytes  BLAKE3 of the pack's bytes
    entries  48 bytes each, sorted by id: id (32), kind u8, 3 zero bytes,
             record length u32 (header and payload), record offset u64
    trailer  32 bytes  BLAKE3 of everything before it
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from mlv.core.hashing import Hasher, id_from_bytes
from mlv.errors import FormatError, UnsupportedVersionError
from mlv.store.pack import KINDS, PACK_HEADER, RECORD_HEADER

INDEX_MAGIC = b"MLVPIDX\x00"
INDEX_VERSION = 1
INDEX_HEADER = struct.Struct("<8sIIQ8x")
INDEX_ENTRY = struct.Struct("<32sB3xIQ")
_TRAILER = 32
# Far above any real pack (a pack is cut at tens of MiB): refuses a hostile count
# before anything is allocated for it.
MAX_RECORDS = 50_000_000


@dataclass(frozen=True, slots=True)
class IndexEntry:
    id_bytes: bytes
    kind: int
    offset: int
    length: int


@dataclass(frozen=True)
class PackIndex:
    pack_id: str
    pack_size: int
    entries: tuple[IndexEntry, ...]


def encode_index(pack_id: str, pack_size: int, entries: Iterable[IndexEntry]) -> bytes:
    ordered = sorted(entries, key=lambda e: e.id_bytes)
    parts = [
        INDEX_HEADER.pack(INDEX_MAGIC, INDEX_VERSION, len(ordered), pack_size),
        bytes.fromhex(pack_id),
    ]
    parts += [INDEX_ENTRY.pack(e.id_bytes, e.kind, e.length, e.offset) for e in ordered]
    body = b"".join(parts)
    return body + Hasher(body).digest()


def decode_index(data: bytes, where: str) -> PackIndex:
    """The index in ``data``; a ``FormatError`` naming ``where`` when it is not a whole,
    consistent one (a truncated file, a flipped byte, overlapping records)."""
    head = INDEX_HEADER.size + 32
    if len(data) < head + _TRAILER:
        raise FormatError(f"pack index {where} is truncated")
    magic, version, count, pack_size = INDEX_HEADER.unpack_from(data)
    if magic != INDEX_MAGIC:
        raise FormatError(f"{where} is not an mlv pack index (bad magic)")
    if version != INDEX_VERSION:
        raise UnsupportedVersionError(
            f"pack index {where} has version {version}; this mlv reads {INDEX_VERSION}: upgrade mlv"
        )
    if count > MAX_RECORDS or len(data) != head + count * INDEX_ENTRY.size + _TRAILER:
        raise FormatError(f"pack index {where} is truncated or has a wrong record count")
    if Hasher(data[:-_TRAILER]).digest() != data[-_TRAILER:]:
        raise FormatError(f"pack index {where} is damaged: its checksum does not match")
    pack_id = id_from_bytes(data[INDEX_HEADER.size : head])
    entries = []
    previous = b""
    for n in range(count):
        id_bytes, kind, length, offset = INDEX_ENTRY.unpack_from(data, head + n * INDEX_ENTRY.size)
        if id_bytes <= previous:
            raise FormatError(f"pack index {where} is not sorted, or names an object twice")
        previous = id_bytes
        if kind not in KINDS or length < RECORD_HEADER.size:
            raise FormatError(f"pack index {where} has a damaged entry")
        entries.append(IndexEntry(id_bytes, kind, offset, length))
    _check_extents(entries, pack_size, where)
    return PackIndex(pack_id, pack_size, tuple(entries))


def _check_extents(entries: list[IndexEntry], pack_size: int, where: str) -> None:
    """Every record must lie inside the pack, after its header, none overlapping."""
    end = PACK_HEADER.size
    for entry in sorted(entries, key=lambda e: e.offset):
        if entry.offset < end or entry.offset + entry.length > pack_size:
            raise FormatError(f"pack index {where} names records outside its pack or overlapping")
        end = entry.offset + entry.length
