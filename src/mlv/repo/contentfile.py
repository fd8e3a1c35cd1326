"""A stored file opened for random access: seek anywhere, read only the chunks there.

A Parquet reader reads the footer, then the column chunks it needs; a file of 330 MB
answers a one-column query with a few MB read. ``ContentFile`` maps a byte range onto
the chunks its manifest lists (their offsets are the running sum of their lengths)
and reads those alone, each verified against its own id as the store reads it.

What a ranged read cannot check is the whole: that the manifest lists the chunks
that hash to the file's id. That was checked when the file was stored (``add``
hashes what it splits) or arrived (a fetch checks every file whole before keeping
its manifest); a reader that needs the whole checked again reads the file through
``iter_content`` instead.

A few decoded chunks are kept, since readers often go back over the bytes they
just read (a footer's length, then the footer).

DuckDB reads one open file from several threads, each with a seek and then a read,
and those pairs interleave. So a seek is remembered for the thread that made it,
and that thread's next read starts there, whatever other threads did in between.
A read with no seek of its own continues from where the last read or seek left
the file (a stream read by turns on a pool's threads), and forgets every seek still
waiting: in DuckDB's pattern that never happens, and elsewhere a stale one must not
outlive the reads that followed it.
"""

from __future__ import annotations

import io
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from mlv.errors import MlvError
from mlv.model.objects import FileManifest
from mlv.repo.blobs import READ_AHEAD, chunk_contents
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_CHUNK

# Decoded chunks kept per open file: ~1 MB with chunks of 64 KiB on average.
KEPT_CHUNKS = 16


@dataclass
class ReadStats:
    """What reads took from the store: chunks and their bytes (as content). Shared by
    every file a filesystem opens, and safe to add to from several threads."""

    chunks: int = 0
    bytes: int = 0
    # The first error a read raised: a caller that sees it only as a reader's message
    # (DuckDB wraps what a Python file raises) can report it as it was.
    error: Exception | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, chunks: int, size: int) -> None:
        with self._lock:
            self.chunks += chunks
            self.bytes += size

    def failed(self, error: Exception) -> None:
        with self._lock:
            self.error = self.error or error


@dataclass(frozen=True)
class ChunkLayout:
    """Where each chunk of a stored file starts: what a ranged read maps its bytes onto.

    A file's id names its content, so a layout, once read, holds for every later
    opening of that id (DuckDB opens a file once per thread).
    """

    ids: Sequence[str]
    starts: list[int]
    size: int

    @classmethod
    def read(cls, store: ObjectStore, file_id: str) -> tuple[ChunkLayout, bytes | None]:
        """The layout of ``file_id``, and the content itself when it is one chunk.

        This is the file's first read: a partial clone that lacks the file brings it
        (manifest and chunks) from its remote here.
        """
        kind, data = store.get_with_kind(file_id)
        if kind == KIND_CHUNK:
            return cls((file_id,), [0], len(data)), data
        manifest = FileManifest.from_bytes(data)
        lengths = [length for _, length in manifest.chunks]
        starts = [0, *accumulate(lengths)][:-1]
        return cls([chunk_id for chunk_id, _ in manifest.chunks], starts, manifest.size), None


class ContentFile(io.RawIOBase):
    """A read-only, seekable binary file over the stored content ``file_id``."""

    def __init__(
        self,
        store: ObjectStore,
        file_id: str,
        *,
        name: str = "",
        stats: ReadStats | None = None,
        on_close: Callable[[], None] | None = None,
        layout: ChunkLayout | None = None,
    ) -> None:
        super().__init__()
        self._on_close: Callable[[], None] | None = None  # set once the file is open
        self.store = store
        self.file_id = file_id
        self.name = name or file_id
        self.stats = stats if stats is not None else ReadStats()
        self._lock = threading.Lock()
        self._position = 0  # where the last read or seek, of any thread, left the file
        self._seeks: dict[int, int] = {}  # thread -> where its last seek went, not yet read
        self._kept: OrderedDict[int, bytes] = OrderedDict()
        if layout is None:
            layout, content = ChunkLayout.read(store, file_id)
            if content is not None:
                self._kept[0] = content
                self.stats.add(1, len(content))
        self.layout = layout
        self._ids, self._starts, self.size = layout.ids, layout.starts, layout.size
        self._on_close = on_close

    # -- io.RawIOBase --------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self._kept.clear()
        if self._on_close is not None:
            self._on_close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        self._checkClosed()
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        if not isinstance(offset, int):
            raise TypeError(f"a seek position is an integer, not {type(offset).__name__}")
        with self._lock:
            if whence == io.SEEK_SET:
                position = offset
            elif whence == io.SEEK_CUR:
                position = self._position + offset
            elif whence == io.SEEK_END:
                position = self.size + offset
            else:
                raise ValueError(f"invalid whence {whence}")
            if position < 0:
                raise ValueError(f"negative seek position {position}")
            self._position = self._seeks[threading.get_ident()] = position
            return position

    def write(self, data: Any) -> int:
        raise io.UnsupportedOperation(f"{self.name} is open read-only: a stored version")

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        self._checkClosed()
        with self._lock:
            start = self._seeks.pop(threading.get_ident(), None)
            if start is None:
                start = self._position
                self._seeks.clear()
            if size is None or size < 0:
                size = max(0, self.size - start)
            data = self._range(start, size)
            self._position = start + len(data)
            return data

    def readall(self) -> bytes:
        return self.read(-1)

    # -- ranges ----------------------------------------------------------------------

    def read_range(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive, clipped to the file), leaving the
        position where it was: what ``fsspec``'s ``cat_file`` asks for."""
        self._checkClosed()
        with self._lock:
            return self._range(start, max(0, end - start))

    def _range(self, start: int, size: int) -> bytes:
        end = min(self.size, start + size)
        if start >= end:
            return b""
        first = bisect_right(self._starts, start) - 1
        last = bisect_right(self._starts, end - 1) - 1
        parts = self._chunks(first, last)
        joined = parts[0] if len(parts) == 1 else b"".join(parts)
        offset = start - self._starts[first]
        return joined[offset : offset + end - start]

    def _chunks(self, first: int, last: int) -> list[bytes]:
        """The contents of chunks ``first`` to ``last``, from those kept or the store."""
        wanted = range(first, last + 1)
        missing = [i for i in wanted if i not in self._kept]
        fresh: dict[int, bytes] = {}
        if missing:
            ids = [self._ids[i] for i in missing]
            try:
                if len(ids) >= READ_AHEAD:  # a long range: decoded on the reader threads
                    contents = list(chunk_contents(self.store, ids))
                else:
                    contents = [self.store.get(chunk_id) for chunk_id in ids]
            except MlvError as exc:
                self.stats.failed(exc)
                raise
            fresh = dict(zip(missing, contents, strict=True))
            self.stats.add(len(ids), sum(len(c) for c in contents))
        parts = [fresh[i] if i in fresh else self._kept[i] for i in wanted]
        self._kept.update(fresh)
        for i in wanted:
            self._kept.move_to_end(i)
        while len(self._kept) > KEPT_CHUNKS:
            self._kept.popitem(last=False)
        return parts
