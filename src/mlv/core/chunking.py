"""Content-defined chunking with FastCDC, so an edit re-stores only the chunks it touched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from pyfastcdc import FastCDC

# Parameters as named in docs/format.md. pyfastcdc skips the first CHUNK_MIN bytes
# of every chunk before looking for a cut point, so the mean chunk comes out near
# CHUNK_AVG + CHUNK_MIN (about 80 KiB); the cut points are what must stay stable.
CHUNK_MIN = 16 * 1024
CHUNK_AVG = 64 * 1024
CHUNK_MAX = 256 * 1024

# Files up to this size are never cut: FastCDC cannot cut before CHUNK_MIN.
SINGLE_CHUNK_LIMIT = CHUNK_MIN

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
    """Yield the chunks of a stream without holding more than a few chunks in memory.

    Each memoryview is valid only until the next one is produced.
    """
    empty = True
    for chunk in chunker().cut_stream(stream):
        empty = False
        yield chunk.data
    if empty:
        # As in cut_buffer: an empty file is one empty chunk, not none.
        yield memoryview(b"")


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
