"""Rows held within a memory bound: kept in memory while they fit, else partitioned to disk.

A keyed diff and a ``unique`` check both need, per row, a few integers (a key code,
a row hash, a row number) and, for keys that are not integers, the key values. A
``Spool`` gathers those rows batch by batch. While they fit in its share of
``MEMORY_LIMIT`` they stay in memory, as one partition; past it, they are split by a
hash of the key into ``partitions`` Arrow IPC files in a scratch folder, and every
later batch goes the same way. Rows with equal keys always land in the same
partition, so matching or counting each partition on its own, then adding the
counts, is exact: the same code runs on one partition or on many.

The scratch folder (``scratch_folder``) is made under the folder the caller names
(the system's temporary folder by default) and removed afterwards, also on error.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlv.repo.layout import SPILL_SCRATCH_PREFIX
from mlv.tables.rowhash import numpy

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

# The working memory a diff or a uniqueness check may give to its rows, in bytes;
# ``memory=`` (``diff_tables``, ``check_table``) or a table's ``memory:`` in mlv.yaml
# overrides it. It bounds these structures, not the process: pyarrow's read buffers,
# the statistics and the second pass of a diff come on top (about 0.5 GB on W3).
MEMORY_LIMIT = 1 << 30
# Matching or sorting needs about this many times the bytes it holds (sort order,
# sorted copy, searches), so rows are spilled once they hold this fraction of the bound.
WORKING_FACTOR = 3
MIN_PARTITIONS = 8
# Rows partitioned and written at a time once spilling.
FLUSH_ROWS = 1 << 21
MAX_PARTITIONS = 4096
# The columns a partition file adds to the key columns: row hashes and row numbers.
HASH = "mlv.hash"
ROW = "mlv.row"


def partition_count(rows: int, row_bytes: int, memory: int) -> int:
    """Partitions enough that one of them, matched in memory, stays within ``memory``."""
    wanted = 2 * rows * row_bytes * WORKING_FACTOR // max(memory, 1) + 1
    count = MIN_PARTITIONS
    while count < wanted and count < MAX_PARTITIONS:
        count *= 2
    return count


def estimate_rows(path: Path) -> int:
    """A table's row count: exact from a Parquet footer, else an overestimate from its size."""
    from mlv.tables.formats import PARQUET, table_format

    if table_format(path) == PARQUET:
        import pyarrow.parquet as pq

        try:
            with pq.ParquetFile(path) as parquet:
                return int(parquet.metadata.num_rows)
        except (OSError, ValueError):
            pass  # read errors are the reader's to report
    try:
        return Path(path).stat().st_size // 8 + 1
    except OSError:
        return 1


@contextmanager
def scratch_folder(parent: Path | None = None) -> Iterator[Callable[[], Path]]:
    """A function that makes (on first call) a scratch folder under ``parent``; the folder
    and everything in it is removed when the block ends, however it ends."""
    made: list[Path] = []

    def folder() -> Path:
        if not made:
            made.append(Path(tempfile.mkdtemp(prefix=SPILL_SCRATCH_PREFIX, dir=parent)))
        return made[0]

    try:
        yield folder
    finally:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)


def route(hashes: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of each row from a 64-bit hash of its key: its top bits."""
    np = numpy()
    shift = np.uint64(64 - (partitions.bit_length() - 1))
    # uint16, so that the stable sort by partition is a radix sort.
    return (
        (hashes >> shift).astype(np.uint16) if partitions > 1 else np.zeros(len(hashes), np.uint16)
    )


@dataclass
class Spool:
    """Rows of one table: key columns (a table) and a 64-bit hash each, in memory or in
    partition files.

    ``router`` gives each row the 64-bit hash of its key from its key columns and
    row hashes; it is only called once the rows spill.
    """

    name: str
    schema: pa.Schema  # of the key tables added
    folder: Callable[[], Path]
    partitions: int
    limit: int  # bytes held in memory before spilling
    router: Callable[[pa.Table, np.ndarray], np.ndarray]
    join: bool = False  # whether rows kept in memory are joined into one chunk
    rows: int = 0
    spilled: bool = False
    _keys: list[pa.Table] = field(default_factory=list)
    _hashes: list[np.ndarray] = field(default_factory=list)
    _held_bytes: int = 0
    _held_start: int = 0
    _files: list[list[Path]] = field(default_factory=list)

    def add(self, keys: pa.Table, hashes: np.ndarray | None = None) -> None:
        """Rows: their key columns, and a hash each (None: the rows have none)."""
        np = numpy()
        hashes = np.zeros(0, np.uint64) if hashes is None else hashes
        self._keys.append(keys)
        self._hashes.append(hashes)
        self._held_bytes += keys.nbytes + hashes.nbytes
        self.rows += max(len(hashes), keys.num_rows)
        if self._held_bytes * WORKING_FACTOR > self.limit:
            self.spill()

    def close(self) -> None:
        """The last row is added: rows held in memory are joined, once, for the matching."""
        if not self.spilled:
            keys, hashes = self._take()
            if self.join and keys.num_columns and keys.column(0).num_chunks > 1:
                keys = keys.combine_chunks()  # Arrow sorts one chunk faster than many
            self._keys, self._hashes = [keys], [hashes]

    def spill(self) -> None:
        """Write what is held to the partition files; later rows go there too."""
        if not self.spilled:
            self.spilled = True
            self._files = [[] for _ in range(self.partitions)]
        # A few rows at a time: partitioning needs several times the bytes it moves.
        keys, hashes, rows = [], [], 0
        while self._hashes:
            piece_keys, piece_hashes = self._keys.pop(0), self._hashes.pop(0)
            count = max(len(piece_hashes), piece_keys.num_rows)
            if rows + count > FLUSH_ROWS and count > FLUSH_ROWS - rows:
                cut = FLUSH_ROWS - rows
                self._keys.insert(0, piece_keys.slice(cut))
                self._hashes.insert(0, piece_hashes[cut:])
                piece_keys, piece_hashes = piece_keys.slice(0, cut), piece_hashes[:cut]
                count = cut
            keys.append(piece_keys)
            hashes.append(piece_hashes)
            rows += count
            if rows >= FLUSH_ROWS:
                self._flush(keys, hashes, rows)
                keys, hashes, rows = [], [], 0
        if rows:
            self._flush(keys, hashes, rows)
        self._held_bytes = 0

    def _flush(self, pieces: list[pa.Table], piece_hashes: list[np.ndarray], count: int) -> None:
        import pyarrow as pa

        np = numpy()
        keys = pa.concat_tables(pieces)
        hashes = np.concatenate(piece_hashes)
        rows = np.arange(self._held_start, self._held_start + count, dtype=np.int64)
        self._held_start += count
        where = route(self.router(keys, hashes), self.partitions)
        added = (
            {HASH: pa.array(hashes), ROW: pa.array(rows)} if len(hashes) else {ROW: pa.array(rows)}
        )
        held = pa.table({**dict(zip(keys.column_names, keys.columns, strict=True)), **added})
        del keys, hashes, rows
        # A stable sort keeps each partition's rows in table order.
        order = np.argsort(where, kind="stable")
        sizes = np.bincount(where, minlength=self.partitions)
        ordered = held.take(pa.array(order))
        del held, order
        start = 0
        for partition, size in enumerate(sizes.tolist()):
            if size:
                self._write(partition, ordered.slice(start, size))
            start += size

    def _take(self) -> tuple[pa.Table, np.ndarray]:
        """What is held, as one table and one array; nothing is held after."""
        import pyarrow as pa

        np = numpy()
        keys = pa.concat_tables(self._keys) if self._keys else self.schema.empty_table()
        hashes = np.concatenate(self._hashes) if self._hashes else np.zeros(0, np.uint64)
        self._keys, self._hashes, self._held_bytes = [], [], 0
        return keys, hashes

    def _write(self, partition: int, rows: pa.Table) -> None:
        import pyarrow as pa

        files = self._files[partition]
        path = self.folder() / f"{self.name}-{partition:04d}-{len(files):05d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, rows.schema) as writer:
            writer.write_table(rows)
        files.append(path)

    def parts(self, keep: bool = True) -> Iterator[tuple[pa.Table, np.ndarray, np.ndarray | None]]:
        """Each partition in turn: its key columns, row hashes and row numbers; one
        partition, in memory, if the rows never spilled, whose row numbers are None
        (they are 0, 1, 2, …). ``keep=False``: read once, the rows in memory are let go."""
        np = numpy()
        if not self.spilled:
            self.close()
            keys, hashes = self._keys[0], self._hashes[0]
            if not keep:
                self._keys, self._hashes = [], []
            yield keys, hashes, None
            return
        self.spill()  # the rows added since the last spill
        empty = np.zeros(0, np.int64)
        for files in self._files:
            if not files:
                yield self.schema.empty_table(), np.zeros(0, np.uint64), empty
                continue
            table = _concat([_read(path) for path in files])
            rows = table.column(ROW).to_numpy()
            if HASH in table.column_names:
                hashes = table.column(HASH).to_numpy()
            else:
                hashes = np.zeros(0, np.uint64)
            yield (
                table.drop_columns([c for c in (HASH, ROW) if c in table.column_names]),
                hashes,
                rows,
            )


def _concat(tables: list[pa.Table]) -> pa.Table:
    import pyarrow as pa

    return pa.concat_tables(tables).combine_chunks() if len(tables) > 1 else tables[0]


def _read(path: Path) -> pa.Table:
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def smallest(held: np.ndarray, more: np.ndarray, limit: int) -> np.ndarray:
    """The ``limit`` smallest of two ascending arrays of distinct values, ascending."""
    np = numpy()
    if not len(held) or (len(more) and more[0] > held[-1]):
        return np.concatenate([held, more[: limit - len(held)]])
    if len(held) >= limit and (not len(more) or more[0] > held[-1]):
        return held
    return np.sort(np.concatenate([held, more[:limit]]))[:limit]


@dataclass
class Pairs:
    """Pairs of row numbers (old, new), added partition by partition, each batch ascending
    in its new rows; kept in memory up to ``limit`` bytes, the rest in .npy files."""

    folder: Callable[[], Path]
    limit: int
    count: int = 0
    _parts: list[Any] = field(default_factory=list)  # (old, new) arrays, or a file
    _held_bytes: int = 0

    def add(self, old: np.ndarray, new: np.ndarray) -> None:
        np = numpy()
        if not len(new):
            return
        self.count += len(new)
        self._parts.append((old, new))
        self._held_bytes += old.nbytes + new.nbytes
        if self._held_bytes > self.limit:
            for i, part in enumerate(self._parts):
                if isinstance(part, tuple):
                    path = self.folder() / f"pairs-{i:05d}.npy"
                    np.save(path, np.stack(part))
                    self._parts[i] = path
            self._held_bytes = 0

    def _each(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        np = numpy()
        for part in self._parts:
            if isinstance(part, tuple):
                yield part
            else:
                both = np.load(part)
                yield both[0], both[1]

    def first(self, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``limit`` pairs of the lowest new rows, in new-row order."""
        np = numpy()
        old, new = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if self.count <= limit and len(self._parts) > 1:  # all of them: one sort
            olds, news = zip(*self._each(), strict=True)
            order = np.argsort(np.concatenate(news), kind="stable")
            return np.concatenate(olds)[order], np.concatenate(news)[order]
        for part_old, part_new in self._each():
            if len(new) >= limit:
                keep = part_new < new[-1]
                part_old, part_new = part_old[keep], part_new[keep]
            if not len(part_new):
                continue
            if not len(new) or part_new[0] > new[-1]:
                old = np.concatenate([old, part_old[: limit - len(new)]])
                new = np.concatenate([new, part_new[: limit - len(new)]])
                continue
            both_new = np.concatenate([new, part_new])
            order = np.argsort(both_new, kind="stable")[:limit]
            old, new = np.concatenate([old, part_old])[order], both_new[order]
        return old, new

    def after(self, last: int, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The pairs whose new row is past ``last``, ``size`` at most at a time."""
        np = numpy()
        olds: list[Any] = []
        news: list[Any] = []
        held = 0
        for part_old, part_new in self._each():
            keep = part_new > last
            olds.append(part_old[keep])
            news.append(part_new[keep])
            held += len(news[-1])
            while held >= size:
                old, new = np.concatenate(olds), np.concatenate(news)
                yield old[:size], new[:size]
                olds, news, held = [old[size:]], [new[size:]], len(new) - size
        if held:
            yield np.concatenate(olds), np.concatenate(news)
