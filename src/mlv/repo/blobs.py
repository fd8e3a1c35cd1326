"""File content in and out of the store: chunk, hash and save a file; stream one back verified."""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlv.core.chunking import cut_buffer, cut_stream
from mlv.core.hashing import Hasher, hash_bytes
from mlv.errors import ChecksumMismatchError, FileChangedError
from mlv.model.objects import FileManifest
from mlv.repo.worktree import KIND_SYMLINK, FileStat, stat_of
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_CHUNK, KIND_MANIFEST

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

# Files up to this size are read whole; larger ones are streamed chunk by chunk.
IN_MEMORY_LIMIT = 8 * 1024 * 1024
READ_BLOCK = 1024 * 1024
STREAM_WORKERS = 2
STREAM_BATCH_BYTES = 4 * 1024 * 1024
STREAM_IN_FLIGHT = 4
STABLE_READ_TRIES = 3
# Chunks of one large file decoded ahead of the reader, and looked up per query.
READ_AHEAD = 8
LOOKUP_BATCH = 512


def open_regular(path: str | Path) -> int:
    """Open a file for reading, refusing anything but a regular file.

    O_NONBLOCK: a FIFO that took a file's place between the scan and the read
    would otherwise block the open until some writer came. O_NOFOLLOW: a symlink
    that took its place would have mlv store whatever it points to as the file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "it is no longer a regular file", str(path))
    return fd


def save_files(
    store: ObjectStore,
    root: Path,
    items: Sequence[tuple[str, str]],
    advance: Callable[[int], None] = lambda n: None,
) -> list[tuple[str, FileStat]]:
    """Store the content of several (path, kind) items; return (id, stat) for each, in order.

    Small files are read whole and stored in one batch; large ones are streamed.
    ``advance`` hears of every byte read: per batch, and per chunk of a large file.
    """
    results: list[tuple[str, FileStat]] = []
    batch: list[tuple[str, int, bytes | memoryview]] = []
    streamed = 0
    for rel, kind in items:
        path = os.path.join(root, rel)
        if kind == KIND_SYMLINK:
            target = os.fsencode(os.readlink(path))
            object_id = hash_bytes(target)
            batch.append((object_id, KIND_CHUNK, target))
            info = stat_of(os.lstat(path))
            assert info is not None
            results.append((object_id, info))
            continue
        data, info = _read_small(path)
        if data is None:
            results.append(_read_stable(Path(path), lambda f: _save_stream(store, f, advance)))
            streamed += results[-1][1].size
            continue
        results.append((_split(data, batch), info))
    store.put_many(batch)
    advance(sum(info.size for _, info in results) - streamed)
    return results


def _read_small(path: str) -> tuple[bytes | None, FileStat]:
    """A file's bytes and stat if it is small and stable while read; (None, stat) otherwise."""
    for _ in range(STABLE_READ_TRIES):
        fd = open_regular(path)
        try:
            before = os.fstat(fd)
            if before.st_size > IN_MEMORY_LIMIT:
                info = stat_of(before)
                assert info is not None
                return None, info
            parts = []
            while block := os.read(fd, max(before.st_size, 1) + 1):
                parts.append(block)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
            info = stat_of(after)
            assert info is not None
            return b"".join(parts) if len(parts) != 1 else parts[0], info
    raise FileChangedError(f"{path} kept changing while it was read; try again when it is stable")


def _split(data: bytes, batch: list[tuple[str, int, bytes | memoryview]]) -> str:
    """Queue an in-memory file's chunks (and manifest) for storing; return its id."""
    whole = hash_bytes(data)
    chunks = list(cut_buffer(data))
    if len(chunks) == 1:
        batch.append((whole, KIND_CHUNK, data))
        return whole
    listed = []
    for chunk in chunks:
        chunk_id = hash_bytes(chunk)
        batch.append((chunk_id, KIND_CHUNK, chunk))
        listed.append((chunk_id, len(chunk)))
    manifest = FileManifest(len(data), tuple(listed))
    batch.append((whole, KIND_MANIFEST, manifest.to_bytes()))
    return whole


def save_file(store: ObjectStore, path: Path, kind: str) -> tuple[str, FileStat]:
    """Store one file's (or symlink's) content; return its id and the stat it was read at."""
    return save_files(store, path.parent, [(path.name, kind)])[0]


def hash_file(path: Path, kind: str) -> tuple[str, FileStat]:
    """The id a file (or symlink) would get, without storing anything."""
    if kind == KIND_SYMLINK:
        info = stat_of(os.lstat(path))
        assert info is not None
        return hash_bytes(os.fsencode(os.readlink(path))), info

    def digest(f) -> str:  # type: ignore[no-untyped-def]
        hasher = Hasher()
        while block := f.read(READ_BLOCK):
            hasher.update(block)
        return hasher.hexdigest()

    return _read_stable(path, digest)


def _read_stable(path: Path, read) -> tuple[str, FileStat]:  # type: ignore[no-untyped-def]
    """Run ``read`` on the file until its stat is the same before and after."""
    for _ in range(STABLE_READ_TRIES):
        with open(open_regular(path), "rb") as f:
            before = os.fstat(f.fileno())
            object_id = read(f)
            after = os.fstat(f.fileno())
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
            info = stat_of(after)
            assert info is not None
            return object_id, info
    raise FileChangedError(f"{path} kept changing while it was read; try again when it is stable")


def _save_stream(store: ObjectStore, f, advance) -> str:  # type: ignore[no-untyped-def]
    """Chunk a large file as it streams by; chunks are hashed and stored on worker threads.

    The reading thread cuts and feeds the whole-file hash while up to
    ``STREAM_IN_FLIGHT`` batches are compressed and written: compression is
    the costly step, and zstd and BLAKE3 release the GIL. Memory stays bounded
    by the batches in flight, whatever the file's size.
    """
    from concurrent.futures import ThreadPoolExecutor

    hasher = Hasher()
    listed: list[tuple[str, int]] = []
    in_flight: deque[Future[list[tuple[str, int]]]] = deque()
    batch: list[memoryview] = []
    batch_bytes = 0

    def collect() -> None:
        done = in_flight.popleft().result()
        listed.extend(done)
        advance(sum(n for _, n in done))

    with ThreadPoolExecutor(STREAM_WORKERS) as pool:
        for chunk in cut_stream(f):
            hasher.update(chunk)
            batch.append(chunk)  # a read-only view: see cut_stream
            batch_bytes += len(chunk)
            if batch_bytes >= STREAM_BATCH_BYTES:
                in_flight.append(pool.submit(_store_chunks, store, batch))
                batch, batch_bytes = [], 0
                while len(in_flight) > STREAM_IN_FLIGHT:
                    collect()
        if batch:
            in_flight.append(pool.submit(_store_chunks, store, batch))
        while in_flight:
            collect()
    whole = hasher.hexdigest()
    if len(listed) == 1:
        return whole
    manifest = FileManifest(sum(n for _, n in listed), tuple(listed))
    store.put(whole, KIND_MANIFEST, manifest.to_bytes())
    return whole


def _store_chunks(store: ObjectStore, chunks: list[memoryview]) -> list[tuple[str, int]]:
    listed = [(hash_bytes(chunk), len(chunk)) for chunk in chunks]
    store.put_many(
        [(chunk_id, KIND_CHUNK, chunk) for (chunk_id, _), chunk in zip(listed, chunks, strict=True)]
    )
    return listed


def iter_content(store: ObjectStore, file_id: str) -> Iterator[bytes]:
    """Yield a file's bytes chunk by chunk; raise at the end if they do not hash to its id."""
    yield from content_blocks(store, file_id)


def content_blocks(store: ObjectStore, file_id: str) -> Iterable[bytes]:
    """A file's bytes as blocks, each verified, read from the store at once for a file
    of one chunk (most files), or lazily chunk by chunk for a larger one.

    A one-chunk file is verified against its id by the store as it is read, and is
    not hashed again. A chunked file's chunks are each verified as they are read,
    and their whole against the file's id once the last block is out.
    """
    kind, data = store.get_with_kind(file_id)
    if kind == KIND_CHUNK:
        return (data,)
    return _chunked(store, file_id, FileManifest.from_bytes(data))


def _chunked(store: ObjectStore, file_id: str, manifest: FileManifest) -> Iterator[bytes]:
    hasher = Hasher()
    for data in chunk_contents(store, [chunk_id for chunk_id, _ in manifest.chunks]):
        hasher.update(data)
        yield data
    # Each chunk matched its id; this checks that the manifest lists the right ones.
    if hasher.hexdigest() != file_id:
        raise ChecksumMismatchError(file_id, "its file manifest")


def read_content(store: ObjectStore, file_id: str) -> bytes:
    return b"".join(iter_content(store, file_id))


def check_file(store: ObjectStore, file_id: str, manifest: FileManifest) -> bool:
    """Whether the chunks ``manifest`` lists make the file ``file_id`` names: every chunk
    read, the whole hashed once (not each chunk too)."""
    hasher = Hasher()
    size = 0
    ids = [chunk_id for chunk_id, _ in manifest.chunks]
    for data, (_, length) in zip(
        chunk_contents(store, ids, store.get_part), manifest.chunks, strict=True
    ):
        if len(data) != length:
            return False
        hasher.update(data)
        size += length
    return size == manifest.size and hasher.hexdigest() == file_id


def chunk_contents(
    store: ObjectStore, chunk_ids: Sequence[str], read: Callable[[str], bytes] | None = None
) -> Iterator[bytes]:
    """The contents of ``chunk_ids`` in order, each read by ``read`` (``store.get``).

    Their places in the store are looked up in batches. A large file's chunks are
    decoded ``READ_AHEAD`` ahead on threads (zstd and BLAKE3 leave the GIL), so that
    one file's reading uses more than one core; memory stays at ``READ_AHEAD`` chunks.
    """
    read = read or store.get
    # A read on a reader thread (a partial clone fetching what it lacks) reads in turn:
    # waiting there on the pool's other threads could wait on itself.
    if len(chunk_ids) < READ_AHEAD or getattr(_on_reader, "yes", False):
        store.prefetch(chunk_ids)
        for chunk_id in chunk_ids:
            yield read(chunk_id)
        return
    pool = _reader_pool()
    ahead: deque[Future[bytes]] = deque()
    try:
        for position, chunk_id in enumerate(chunk_ids):
            if position % LOOKUP_BATCH == 0:
                store.prefetch(chunk_ids[position : position + LOOKUP_BATCH])
            ahead.append(pool.submit(read, chunk_id))
            if len(ahead) > READ_AHEAD:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()
    finally:
        for future in ahead:
            future.cancel()


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_on_reader = threading.local()


def _mark_reader() -> None:
    _on_reader.yes = True


def _reader_pool() -> ThreadPoolExecutor:
    # Imported here: every command imports this module, few read a large file.
    from concurrent.futures import ThreadPoolExecutor

    global _pool
    with _pool_lock:
        if _pool is None:
            workers = min(8, max(2, os.cpu_count() or 2))
            _pool = ThreadPoolExecutor(
                workers, thread_name_prefix="mlv-read", initializer=_mark_reader
            )
        return _pool
