"""Content-defined chunking with FastCDC, so an edit re-stores only the chunks it touched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from pyfastcdc import FastCDC

# Parameters as named in docs/format.md. pyfastcdc skips the first CHUNK_MIN bytes
# of every chunk before looking for a cut point, so the mean chunk comes out near
# CHUNK_AVG + CHUNK_MIN (about 80 KiB); the cut points are what must stay stable
# (tests/test_chunking_golden.py pins them).
CHUNK_MIN = 16 * 1024
CHUNK_AVG = 64 * 1024
CHUNK_MAX = 256 * 1024

# Files up to this size are never cut: FastCDC cannot cut before CHUNK_MIN.
SINGLE_CHUNK_LIMIT = CHUNK_MIN

# How much of a stream is read at a time: large reads, few Python-level steps.
STREAM_BLOCK = 8 * 1024 * 1024

_chunker: FastCDC | None = None


def chunker() -> FastCDC:
    """The shared FastCDC instance (its gear table is built once)."""
    global _chunker
    if _chunker is None:
        # Imported here: status and log never chunk, and the import costs start-up time.
        from pyfastcdc import FastCDC

        _chunker = FastCDC(CHUNK_AVG, min_size=CHUNK_MIN, max_size=CHUNK_MAX)
    return _chunker


def chunker_implementation() -> str:
    """Module that implements the chunker: ``pyfastcdc.cy...`` when compiled."""
    return type(chunker()).__module__


def cut_buffer(data: bytes | memoryview) -> Iterator[memoryview]:
    """Yield the chunks of an in-memory buffer."""
    if len(data) <= SINGLE_CHUNK_LIMIT:
        yield memoryview(data)
        return
    for chunk in chunker().cut_buf(data):
        yield chunk.data


def cut_stream(stream: BinaryIO) -> Iterator[memoryview]:
    """Yield the chunks of a stream, reading it in blocks of ``STREAM_BLOCK`` bytes.

    The cut points are those ``cut_buffer`` finds on the whole content: a chunk is
    only cut once ``CHUNK_MAX`` bytes past its start are in the buffer (or the
    stream has ended), since FastCDC looks that far ahead and no further.

    Each chunk is a read-only view into a block that is never written again, so a
    consumer may keep it (say, hand it to another thread) without copying it;
    memory stays near the blocks still referenced.
    """
    cdc = chunker()
    tail = b""
    produced = False
    while True:
        buf = bytearray(len(tail) + STREAM_BLOCK)
        buf[: len(tail)] = tail
        end = len(tail) + _fill(stream, memoryview(buf)[len(tail) :])
        eof = end < len(buf)
        if end == 0:
            break
        view = memoryview(buf).toreadonly()[:end]
        used = 0
        for chunk in cdc.cut_buf(view):
            if not eof and chunk.offset + CHUNK_MAX > end:
                break  # too close to the end of what was read: cut it with more data
            produced = True
            yield chunk.data
            used = chunk.offset + chunk.length
        tail = bytes(view[used:])
        if eof:
            break
    if not produced:
        # As in cut_buffer: an empty file is one empty chunk, not none.
        yield memoryview(b"")


def _fill(stream: BinaryIO, target: memoryview) -> int:
    """Read into ``target`` until it is full or the stream ends; return the bytes read."""
    filled = 0
    readinto = getattr(stream, "readinto", None)
    while filled < len(target):
        if readinto is not None:
            n = readinto(target[filled:])
        else:
            data = stream.read(len(target) - filled)
            n = len(data)
            target[filled : filled + n] = data
        if not n:
            break
        filled += n
    return filled


__all__ = [
    "CHUNK_AVG",
    "CHUNK_MAX",
    "CHUNK_MIN",
    "SINGLE_CHUNK_LIMIT",
    "chunker",
    "chunker_implementation",
    "cut_buffer",
    "cut_stream",
]
