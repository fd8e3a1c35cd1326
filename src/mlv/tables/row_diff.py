"""Row-level diff of two tables: one pass over each to hash rows, a second for the differing ones.

Pass one streams each table once (both at the same time, on two threads), keeping
per row only its key and a 64-bit hash of the compared columns, and gathering the
drift statistics. Matching keys (or counting equal hashes) then finds the added,
removed and changed rows without looking at a value. Pass two streams the tables
again and takes only the rows that differ, to say which columns changed and how.

The rows of pass one go to a ``Spool`` (``mlv.tables.spill``): in memory while
they fit in the memory bound, else partitioned by a hash of the key into files.
Matching runs partition by partition (one partition when nothing spilled) and
adds up what each found (``Matched``); pass two needs only the row numbers of the
changed pairs, up to ``CHUNK_ROWS`` at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlv.tables.formats import open_batches
from mlv.tables.rowhash import hash_column, hash_rows, numpy
from mlv.tables.spill import Pairs, Spool, estimate_rows, partition_count, smallest
from mlv.tables.statistics import TableStats

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from mlv.model.tables import ColumnProfile
    from mlv.tables.matching import KeyMatch, MultisetMatch

# Changed rows compared per pass two; more changed rows than this take further passes.
CHUNK_ROWS = 4_000_000
# The most rows kept in each of the changed, added and removed row tables of a result.
ROW_LIMIT = 1_000_000
# Matched pairs whose hashes are compared at a time.
COMPARE_ROWS = 1 << 20

CHANGED_COLUMNS = "changed_columns"
KEY = "key."  # a spool's key columns are KEY + their position: any name may be a key


@dataclass
class Plan:
    """What the scan of each table keeps: key columns, compared columns, statistics."""

    key: dict[str, pa.DataType]  # key column -> comparison type
    compared: dict[str, pa.DataType]  # value column -> comparison type
    stats: list[str]


@dataclass
class Scan:
    rows: int
    spool: Spool  # per row: the key columns and the hash of plan.compared
    nulls: dict[str, int]  # per key column
    stats: dict[str, ColumnProfile]  # the statistics of plan.stats, as a profile has them


@dataclass
class Part:
    """One partition of a scanned table: key columns, row hashes and row numbers."""

    keys: list[pa.ChunkedArray]
    hashes: np.ndarray
    rows: np.ndarray | None  # None: the rows are 0, 1, 2, … (nothing spilled)

    @classmethod
    def of(cls, part: tuple[pa.Table, np.ndarray, np.ndarray | None]) -> Part:
        keys, hashes, rows = part
        return cls(keys.columns, hashes, rows)

    def __len__(self) -> int:
        return len(self.hashes)

    def row_numbers(self, local: np.ndarray) -> np.ndarray:
        return local if self.rows is None else self.rows[local]


@dataclass
class Matched:
    """What matching found, added up over the partitions: exact counts, the changed pairs,
    and the first ``ROW_LIMIT`` added and removed rows (row numbers, ascending)."""

    changed: Pairs
    first_added: np.ndarray
    first_removed: np.ndarray
    added: int = 0
    removed: int = 0
    unchanged: int = 0

    @classmethod
    def empty(cls, changed: Pairs) -> Matched:
        np = numpy()
        return cls(changed, np.zeros(0, np.int64), np.zeros(0, np.int64))

    def add_keyed(self, match: KeyMatch, old: Part, new: Part) -> None:
        np = numpy()
        differ = np.zeros(len(match.new_rows), bool)
        for start in range(0, len(differ), COMPARE_ROWS):  # in slices: less memory at once
            at = slice(start, start + COMPARE_ROWS)
            differ[at] = old.hashes[match.old_rows[at]] != new.hashes[match.new_rows[at]]
        changed_new = match.new_rows[differ]
        self.unchanged += len(match.new_rows) - len(changed_new)
        self.changed.add(
            old.row_numbers(match.old_rows[differ]), new.row_numbers(changed_new).astype(np.int64)
        )
        self._add_rows(new.row_numbers(match.added), old.row_numbers(match.removed))

    def add_multiset(self, match: MultisetMatch) -> None:
        self._add_rows(match.added, match.removed)

    def _add_rows(self, added: np.ndarray, removed: np.ndarray) -> None:
        self.added += len(added)
        self.removed += len(removed)
        self.first_added = smallest(self.first_added, added, ROW_LIMIT)
        self.first_removed = smallest(self.first_removed, removed, ROW_LIMIT)


@dataclass
class Table:
    """One side of the diff: a table file, its schema and its not yet read batches."""

    path: Path
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch] | None

    @classmethod
    def open(cls, path: Path) -> Table:
        schema, batches = open_batches(path)
        return cls(path, schema, batches)

    def take_batches(self, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """The batches (only ``columns``, if given): those opened with the schema first,
        a fresh read after that."""
        batches, self.batches = self.batches, None
        if batches is None:
            return open_batches(self.path, columns=columns)[1]
        if columns is None:
            return batches
        return (batch.select(columns) for batch in batches)


@dataclass
class Rows:
    """What the rows diff found. Counts are exact; the row tables hold up to ROW_LIMIT rows."""

    mode: str  # "key" or "multiset"
    key: tuple[str, ...]
    added: int
    removed: int
    changed: int
    unchanged: int
    changed_columns: dict[str, int] = field(default_factory=dict)
    changed_rows: pa.Table | None = None  # key columns, then old.C / new.C per changed column
    added_rows: pa.Table | None = None
    removed_rows: pa.Table | None = None


def spools(
    plan: Plan, old: Table, new: Table, folder: Callable[[], Path], memory: int
) -> tuple[Spool, Spool]:
    """Where the scans of ``old`` and ``new`` keep their rows: half the bound each."""
    import pyarrow as pa

    kinds = list(plan.key.values())

    def router(table: pa.Table, hashes: np.ndarray) -> Any:
        if not kinds:
            return hashes
        keys = [hash_column(table.column(f"{KEY}{i}"), k) for i, k in enumerate(kinds)]
        return hash_rows(keys, table.num_rows)

    rows = estimate_rows(old.path) + estimate_rows(new.path)
    partitions = partition_count(rows, 16 + 16 * len(kinds), memory)
    made = []
    for name, table in (("old", old), ("new", new)):
        fields = [
            pa.field(f"{KEY}{i}", _plain_type(table.schema.field(k).type))
            for i, k in enumerate(plan.key)
        ]
        schema = pa.schema(fields)
        made.append(Spool(name, schema, folder, partitions, memory // 2, router))
    return made[0], made[1]


def scan_both(old: Table, new: Table, plan: Plan, kept: tuple[Spool, Spool]) -> tuple[Scan, Scan]:
    """Pass one over both tables at once: the reading and hashing release the GIL."""
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(scan, t, plan, s) for t, s in zip((old, new), kept, strict=True)]
        scans = futures[0].result(), futures[1].result()
    if any(s.spool.spilled for s in scans):
        for found in scans:  # partitions are matched in pairs: both sides spill
            found.spool.spill()
    return scans


def scan(table: Table, plan: Plan, spool: Spool) -> Scan:
    import pyarrow as pa

    needed = {*plan.stats, *plan.compared, *plan.key}
    read = [i for i, n in enumerate(table.schema.names) if n in needed]
    # No distinct counts: drift reports none, and the sketch is the dearest statistic.
    stats = TableStats(pa.schema([table.schema.field(i) for i in read]), plan.stats, distinct=False)
    nulls = dict.fromkeys(plan.key, 0)
    rows = 0
    for batch in table.take_batches([table.schema.names[i] for i in read]):
        stats.add(batch)
        columns = [hash_column(batch.column(n), kind) for n, kind in plan.compared.items()]
        kept: dict[str, Any] = {}
        for i, name in enumerate(plan.key):
            values = _plain(batch.column(name))
            nulls[name] += values.null_count
            kept[f"{KEY}{i}"] = values
        spool.add(
            pa.table(kept) if kept else _no_columns(batch.num_rows),
            hash_rows(columns, batch.num_rows),
        )
        rows += batch.num_rows
    spool.close()
    return Scan(rows, spool, nulls, {column.name: column for column in stats.profiles()})


def _no_columns(rows: int) -> pa.Table:
    import pyarrow as pa

    return pa.table({"_": pa.nulls(rows)}).drop_columns(["_"])


def _plain_type(kind: pa.DataType) -> pa.DataType:
    import pyarrow as pa

    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _plain(values: pa.Array) -> pa.Array:
    """Dictionary keys decoded: a partition file holds one dictionary, batches each their own."""
    import pyarrow as pa

    return values.dictionary_decode() if pa.types.is_dictionary(values.type) else values


def keyed_rows(old: Table, new: Table, plan: Plan, matched: Matched) -> Rows:
    """Counts and row tables for a keyed diff: pass two over the changed pairs, the first
    ``CHUNK_ROWS`` of them (in the new table's order) with the added and removed rows."""
    np = numpy()
    rows = Rows(
        "key",
        tuple(plan.key),
        added=matched.added,
        removed=matched.removed,
        changed=matched.changed.count,
        unchanged=matched.unchanged,
    )
    counts = dict.fromkeys(plan.compared, 0)
    head = matched.changed.first(CHUNK_ROWS)
    last = int(head[1][-1]) if len(head[1]) else -1
    empty = np.zeros(0, np.int64)
    chunks = chain([head], matched.changed.after(last, CHUNK_ROWS))
    for number, (chunk_old, chunk_new) in enumerate(chunks):
        first = number == 0
        extra_new = matched.first_added if first else empty
        extra_old = matched.first_removed if first else empty
        # The first pass also takes whole added and removed rows; later ones only what
        # the comparison needs.
        columns = None if first else {*plan.key, *plan.compared}
        old_part, new_part = _gather_both(
            old, new, (chunk_old, extra_old), (chunk_new, extra_new), columns
        )
        pair_old, pair_new = old_part[0], new_part[0]
        masks = _changed_masks(pair_old, pair_new, plan.compared)
        for name, mask in masks.items():
            counts[name] += int(np.count_nonzero(mask))
        if first:
            rows.added_rows, rows.removed_rows = new_part[1], old_part[1]
            rows.changed_rows = _changed_table(pair_old, pair_new, plan, masks)
    rows.changed_columns = {name: n for name, n in counts.items() if n}
    return rows


def multiset_rows(old: Table, new: Table, matched: Matched) -> Rows:
    """Counts and row tables for a diff without a key."""
    np = numpy()
    empty = np.zeros(0, np.int64)
    old_part, new_part = _gather_both(
        old, new, (matched.first_removed, empty), (matched.first_added, empty)
    )
    return Rows(
        "multiset",
        (),
        added=matched.added,
        removed=matched.removed,
        changed=0,
        unchanged=0,
        added_rows=new_part[0],
        removed_rows=old_part[0],
    )


def _gather_both(
    old: Table,
    new: Table,
    old_sets: tuple[np.ndarray, np.ndarray],
    new_sets: tuple[np.ndarray, np.ndarray],
    columns: set[str] | None = None,
) -> tuple[list[pa.Table], list[pa.Table]]:
    with ThreadPoolExecutor(2) as pool:
        sides = ((old, old_sets), (new, new_sets))
        futures = [pool.submit(gather, t, s, columns) for t, s in sides]
        return futures[0].result(), futures[1].result()


def gather(
    table: Table, row_sets: tuple[np.ndarray, ...], columns: set[str] | None = None
) -> list[pa.Table]:
    """The rows at each set of row numbers, in that set's order, in one pass over the table
    (only ``columns``, if given)."""
    import pyarrow as pa

    np = numpy()
    names = [n for n in table.schema.names if columns is None or n in columns]
    schema = pa.schema([table.schema.field(n) for n in names])
    wanted = np.unique(np.concatenate(row_sets)) if row_sets else np.zeros(0, np.int64)
    pieces: list[pa.RecordBatch] = []
    if len(wanted):
        start = low = 0
        for batch in table.take_batches(names):
            end = start + batch.num_rows
            high = int(np.searchsorted(wanted, end))
            if high > low:
                pieces.append(batch.take(pa.array(wanted[low:high] - start)))
            start, low = end, high
            if low == len(wanted):
                break  # the rest of the file holds nothing wanted
    taken = pa.Table.from_batches(pieces, schema=schema).combine_chunks()
    return [taken.take(pa.array(np.searchsorted(wanted, rows))) for rows in row_sets]


def _changed_masks(
    old: pa.Table, new: pa.Table, compared: dict[str, pa.DataType]
) -> dict[str, np.ndarray]:
    """For each compared column, which of the paired rows differ in it."""
    return {
        name: hash_column(old.column(name), kind) != hash_column(new.column(name), kind)
        for name, kind in compared.items()
    }


def _changed_table(
    old: pa.Table, new: pa.Table, plan: Plan, masks: dict[str, np.ndarray]
) -> pa.Table:
    """Key columns, then old.C and new.C for each column that changed, then which changed."""
    import pyarrow as pa

    np = numpy()
    limit = min(ROW_LIMIT, new.num_rows)
    changed = [name for name, mask in masks.items() if mask[:limit].any()]
    columns: dict[str, pa.ChunkedArray] = {k: new.column(k).slice(0, limit) for k in plan.key}
    for name in changed:
        columns[f"old.{name}"] = old.column(name).slice(0, limit)
        columns[f"new.{name}"] = new.column(name).slice(0, limit)
    # Which columns changed in each row, as a list<string>, built without a loop per row.
    grid = np.stack([masks[n][:limit] for n in changed], axis=1) if changed else None
    offsets = np.zeros(limit + 1, np.int32)
    picked = np.zeros(0, np.int64)
    if grid is not None:
        np.cumsum(grid.sum(axis=1), out=offsets[1:])
        picked = np.nonzero(grid.ravel())[0] % len(changed)
    values = pa.array(changed, pa.string()).take(pa.array(picked))
    names = pa.ListArray.from_arrays(pa.array(offsets), values)
    columns[CHANGED_COLUMNS] = pa.chunked_array([names])
    return pa.table(columns)
