"""Pack files: append-only sequences of object records (see docs/format.md, "Pack files")."""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlv.core.crashpoints import crash_point
from mlv.core.paths import fsync_path, open_regular_file
from mlv.errors import FormatError, UnsupportedVersionError

PACK_MAGIC = b"MLVPACK\x00"
PACK_VERSION = 1
PACK_HEADER = struct.Struct("<8sI4x")
# id, kind, codec, reserved, raw length, stored length, CRC-32 of the stored payload
RECORD_HEADER = struct.Struct("<32sBBHIII")

KIND_CHUNK = 1
KIND_MANIFEST = 2
KIND_META = 3
KINDS = {KIND_CHUNK: "chunk", KIND_MANIFEST: "manifest", KIND_META: "meta"}

CODEC_RAW = 0
CODEC_ZSTD = 1

PACK_SUFFIX = ".pack"
TMP_PREFIX = "tmp-"


@dataclass(frozen=True, slots=True)
class RecordHeader:
    id_bytes: bytes
    kind: int
    codec: int
    raw_length: int
    stored_length: int
    crc32: int


@dataclass(frozen=True, slots=True)
class Location:
    """Where one record lies: pack name, offset of its header, header + payload length."""

    pack: str
    offset: int
    length: int
    kind: int


def encode_header(
    id_bytes: bytes, kind: int, codec: int, raw_length: int, payload: bytes | memoryview
) -> bytes:
    # Chunks and metadata are verified by their BLAKE3 id; only a manifest, named
    # after the content it lists, needs a checksum of its own.
    crc = zlib.crc32(payload) if kind == KIND_MANIFEST else 0
    return RECORD_HEADER.pack(id_bytes, kind, codec, 0, raw_length, len(payload), crc)


def encode_record(id_bytes: bytes, kind: int, codec: int, raw_length: int, payload: bytes) -> bytes:
    return encode_header(id_bytes, kind, codec, raw_length, payload) + payload


def decode_header(raw: bytes) -> RecordHeader:
    if len(raw) != RECORD_HEADER.size:
        raise FormatError(f"record header is {len(raw)} bytes; expected {RECORD_HEADER.size}")
    id_bytes, kind, codec, reserved, raw_length, stored_length, crc = RECORD_HEADER.unpack(raw)
    # Every header byte is checked: unknown values and a non-zero reserved field are damage.
    if kind not in KINDS or codec not in (CODEC_RAW, CODEC_ZSTD) or reserved != 0:
        raise FormatError(
            f"record header has unknown kind {kind}, codec {codec} or reserved {reserved}"
        )
    return RecordHeader(id_bytes, kind, codec, raw_length, stored_length, crc)


class WriteBehind:
    """Flushes a file to disk on a thread of its own while it is still being written, so
    that the fsync that makes it durable finds little left to write.

    Without it the disk idles while a pack fills the page cache and then the final
    fsync writes all of it, 0.4 s for a 330 MB table's pack; with it the writing
    overlaps the chunking and compressing that produce the pack.
    """

    EVERY = 32 * 1024 * 1024

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._flushed_to = 0
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def wrote(self, size: int) -> None:
        """The file is now ``size`` bytes long; start a flush if enough is unflushed."""
        if size - self._flushed_to < self.EVERY:
            return
        if self._thread is not None and self._thread.is_alive():
            return
        self._flushed_to = size
        self._thread = threading.Thread(target=self._flush, daemon=True)
        self._thread.start()

    def _flush(self) -> None:
        # Kept, not dropped: Linux reports a write-back error once per open file, so
        # the final fsync could succeed over data this flush failed to write.
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            self._error = self._error or exc

    def wait(self) -> None:
        """Wait for a flush under way; raise the error any flush met."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error


class PackWriter:
    """Appends records to one new pack, written under a temporary name.

    ``finish`` flushes and fsyncs the pack and renames it into place; only then may
    the index point at it, so a crash leaves at worst an unreferenced ``tmp-`` file.
    The writer holds an exclusive ``flock`` on that file until it is renamed or
    removed: a ``tmp-`` pack whose lock is free has lost its writer
    (``sweep_tmp_packs``). Safe to call from several threads.
    """

    def __init__(self, packs_dir: Path) -> None:
        self.packs_dir = packs_dir
        while True:
            self.name = f"pack-{os.urandom(12).hex()}{PACK_SUFFIX}"
            self.tmp_path = packs_dir / f"{TMP_PREFIX}{self.name}"
            # Read-write: read() serves gets of objects not yet flushed.
            self._fd = os.open(self.tmp_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o444)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            # A sweeper may have taken the free lock between the open and the flock and
            # removed the new file: start again under another name.
            if _same_file(self._fd, self.tmp_path):
                break
            os.close(self._fd)
        header = PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION)
        _write_all(self._fd, [header])
        self._offset = len(header)
        self._lock = threading.Lock()
        self._behind = WriteBehind(self._fd)

    @property
    def size(self) -> int:
        return self._offset

    def append(self, record: bytes) -> int:
        """Write one encoded record and return its offset."""
        return self.append_many([(record,)])[0]

    def append_many(self, records: Sequence[Sequence[bytes | memoryview]]) -> list[int]:
        """Write records, each given as its buffers (header, payload), in one system call.

        Return each record's offset. Passing the payload as its own buffer spares
        copying it into a joined record.
        """
        with self._lock:
            offsets = []
            buffers: list[bytes | memoryview] = []
            for parts in records:
                offsets.append(self._offset)
                self._offset += sum(len(part) for part in parts)
                buffers.extend(parts)
            _write_all(self._fd, buffers)
            self._behind.wrote(self._offset)
            return offsets

    def read(self, offset: int, length: int) -> bytes:
        """Read back a record of this unfinished pack."""
        return os.pread(self._fd, length, offset)

    def finish(self) -> Path:
        with self._lock:
            crash_point("pack.before-seal")
            self._behind.wait()
            os.fsync(self._fd)
            final = self.packs_dir / self.name
            # Renamed before the fd (and with it the lock) is let go: a free lock on a
            # tmp- pack must always mean that its writer is gone.
            os.replace(self.tmp_path, final)
            os.close(self._fd)
            fsync_path(self.packs_dir)
            return final

    def abandon(self) -> None:
        with self._lock:
            with contextlib.suppress(OSError):  # the pack is thrown away anyway
                self._behind.wait()
            self.tmp_path.unlink(missing_ok=True)
            os.close(self._fd)


# Keep each writev call under the usual IOV_MAX of 1024 buffers.
_IOV_MAX = 1024


def _write_all(fd: int, buffers: Sequence[bytes | memoryview]) -> None:
    """Write every buffer, in order, whatever short writes the kernel makes."""
    pending = [memoryview(b) for b in buffers if len(b)]
    while pending:
        written = os.writev(fd, pending[:_IOV_MAX])
        while written and pending:
            head = pending[0]
            if written >= len(head):
                written -= len(head)
                pending.pop(0)
            else:
                pending[0] = head[written:]
                written = 0


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def finished_packs(packs_dir: Path) -> list[Path]:
    """The finished packs of a folder, sorted by name; never a ``tmp-`` pack."""
    return sorted(packs_dir.glob(f"pack-*{PACK_SUFFIX}"))


def tmp_packs(packs_dir: Path) -> list[Path]:
    return sorted(packs_dir.glob(f"{TMP_PREFIX}pack-*{PACK_SUFFIX}"))


def orphaned_tmp_packs(packs_dir: Path) -> list[tuple[Path, int]]:
    """The ``tmp-`` packs whose writer is gone (their lock is free), with their sizes."""
    found = []
    for path in tmp_packs(packs_dir):
        size = _with_free_lock(path, lambda p, st: st.st_size)
        if size is not None:
            found.append((path, size))
    return found


def sweep_tmp_packs(packs_dir: Path) -> tuple[int, int]:
    """Delete the ``tmp-`` packs whose writer is gone; return how many and their bytes.

    A writer killed before ``finish`` leaves its ``tmp-`` pack behind, and nothing
    refers to it. A live writer holds the pack's lock, so its file is never touched.
    """
    count = size = 0

    def remove(path: Path, st: os.stat_result) -> int:
        path.unlink()
        return st.st_size

    for path in tmp_packs(packs_dir):
        removed = _with_free_lock(path, remove)
        if removed is not None:
            count, size = count + 1, size + removed
    return count, size


def _with_free_lock(path: Path, then: Callable[[Path, os.stat_result], int]) -> int | None:
    """``then(path, stat)`` while holding the lock of the file at ``path``, if it is free
    and the file is still there; else None."""
    try:
        fd = open_regular_file(path)  # a FIFO by that name would block a plain open
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a live writer
        # Renamed to a finished pack (or removed) since it was listed: not ours to touch.
        if not _same_file(fd, path):
            return None
        try:
            return then(path, os.fstat(fd))
        except FileNotFoundError:
            return None
    finally:
        os.close(fd)


def check_pack_header(raw: bytes, name: str) -> None:
    """Refuse a pack header that is not this format's: one line saying why and what to do."""
    if len(raw) < PACK_HEADER.size:
        raise FormatError(f"pack {name} is truncated before its header; run 'mlv fsck'")
    magic, version = PACK_HEADER.unpack(raw[: PACK_HEADER.size])
    if magic != PACK_MAGIC:
        raise FormatError(f"{name} is not an mlv pack (bad magic); run 'mlv fsck'")
    if version != PACK_VERSION:
        raise UnsupportedVersionError(
            f"pack {name} has format version {version}; this mlv reads version {PACK_VERSION}: "
            "upgrade mlv to read this repository"
        )


def iter_records(path: Path) -> Iterator[tuple[int, RecordHeader, bytes]]:
    """Yield (offset, header, payload) for each whole record of a pack.

    A truncated tail (a writer killed mid-record) ends the iteration quietly.
    """
    with open(path, "rb") as f:
        check_pack_header(f.read(PACK_HEADER.size), path.name)
        offset = PACK_HEADER.size
        while True:
            raw = f.read(RECORD_HEADER.size)
            if len(raw) < RECORD_HEADER.size:
                return
            header = decode_header(raw)
            payload = f.read(header.stored_length)
            if len(payload) < header.stored_length:
                return
            yield offset, header, payload
            offset += RECORD_HEADER.size + header.stored_length
