"""File content in and out of the store: chunk, hash and save a file; stream one back verified."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from mlv.core.chunking import cut_buffer, cut_stream
from mlv.core.hashing import Hasher, hash_bytes
from mlv.errors import ChecksumMismatchError, MlvError, ObjectMissingError
from mlv.model.objects import FileManifest
from mlv.repo.worktree import KIND_SYMLINK, FileStat, stat_of
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_CHUNK, KIND_MANIFEST

# Files up to this size are read whole; larger ones are streamed chunk by chunk.
IN_MEMORY_LIMIT = 8 * 1024 * 1024
READ_BLOCK = 1024 * 1024
STABLE_READ_TRIES = 3


class FileChangedError(MlvError):
    """A file kept changing while mlv read it."""


def save_file(store: ObjectStore, path: Path, kind: str) -> tuple[str, FileStat]:
    """Store a file's (or symlink's) content; return its id and the stat it was read at."""
    if kind == KIND_SYMLINK:
        target = os.fsencode(os.readlink(path))
        object_id = hash_bytes(target)
        store.put(object_id, KIND_CHUNK, target)
        info = stat_of(os.lstat(path))
        assert info is not None
        return object_id, info
    return _read_stable(path, lambda f, size: _save_stream(store, f, size))


def hash_file(path: Path, kind: str) -> tuple[str, FileStat]:
    """The id a file (or symlink) would get, without storing anything."""
    if kind == KIND_SYMLINK:
        info = stat_of(os.lstat(path))
        assert info is not None
        return hash_bytes(os.fsencode(os.readlink(path))), info

    def digest(f, size: int) -> str:  # type: ignore[no-untyped-def]
        hasher = Hasher()
        while block := f.read(READ_BLOCK):
            hasher.update(block)
        return hasher.hexdigest()

    return _read_stable(path, digest)


def _read_stable(path: Path, read) -> tuple[str, FileStat]:  # type: ignore[no-untyped-def]
    """Run ``read`` on the file until its stat is the same before and after."""
    for _ in range(STABLE_READ_TRIES):
        with open(path, "rb") as f:
            before = os.fstat(f.fileno())
            object_id = read(f, before.st_size)
            after = os.fstat(f.fileno())
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
            info = stat_of(after)
            assert info is not None
            return object_id, info
    raise FileChangedError(f"{path} kept changing while it was read; try again when it is stable")


def _save_stream(store: ObjectStore, f, size: int) -> str:  # type: ignore[no-untyped-def]
    if size <= IN_MEMORY_LIMIT:
        data = f.read()
        chunks = list(cut_buffer(data))
        if len(chunks) == 1:
            object_id = hash_bytes(data)
            store.put(object_id, KIND_CHUNK, data)
            return object_id
        whole = hash_bytes(data)
        listed = [_save_chunk(store, c) for c in chunks]
        return _save_manifest(store, whole, len(data), listed)
    hasher = Hasher()
    listed = []
    total = 0
    for chunk in cut_stream(f):
        hasher.update(chunk)
        listed.append(_save_chunk(store, chunk))
        total += len(chunk)
    if len(listed) == 1:
        return listed[0][0]
    return _save_manifest(store, hasher.hexdigest(), total, listed)


def _save_chunk(store: ObjectStore, chunk: memoryview) -> tuple[str, int]:
    chunk_id = hash_bytes(chunk)
    store.put(chunk_id, KIND_CHUNK, chunk)
    return chunk_id, len(chunk)


def _save_manifest(
    store: ObjectStore, file_id: str, size: int, chunks: list[tuple[str, int]]
) -> str:
    manifest = FileManifest(size, tuple(chunks))
    store.put(file_id, KIND_MANIFEST, manifest.to_bytes())
    return file_id


def iter_content(store: ObjectStore, file_id: str) -> Iterator[bytes]:
    """Yield a file's bytes chunk by chunk; raise at the end if they do not hash to its id."""
    kind = store.kind_of(file_id)
    if kind is None:
        raise ObjectMissingError(file_id)
    if kind == KIND_CHUNK:
        yield store.get(file_id)  # verified by get()
        return
    manifest = FileManifest.from_bytes(store.get(file_id))
    hasher = Hasher()
    for chunk_id, _length in manifest.chunks:
        data = store.get(chunk_id)
        hasher.update(data)
        yield data
    if hasher.hexdigest() != file_id:
        raise ChecksumMismatchError(file_id, "its file manifest")


def read_content(store: ObjectStore, file_id: str) -> bytes:
    return b"".join(iter_content(store, file_id))
