"""Row-level diff of two tables: one pass over each to hash rows, a second for the differing ones.

Pass one streams each table once (both at the same time, on two threads), keeping
per row only its key and a 64-bit hash of the compared columns, and gathering the
drift statistics. Matching keys (or counting equal hashes) then finds the added,
removed and changed rows without looking at a value. Pass two streams the tables
again and takes only the rows that differ, to say which columns changed and how.
Memory is two integers per row plus the rows that differ, up to ``CHUNK_ROWS``
at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlv.tables.formats import open_batches
from mlv.tables.rowhash import hash_column, hash_rows, numpy
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

CHANGED_COLUMNS = "changed_columns"


@dataclass
class Plan:
    """What the scan of each table keeps: key columns, compared columns, statistics."""

    key: dict[str, pa.DataType]  # key column -> comparison type
    compared: dict[str, pa.DataType]  # value column -> comparison type
    stats: list[str]


@dataclass
class Scan:
    rows: int
    hashes: np.ndarray  # one per row, over plan.compared
    keys: dict[str, pa.ChunkedArray]
    stats: dict[str, ColumnProfile]  # the statistics of plan.stats, as a profile has them


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


def scan_both(old: Table, new: Table, plan: Plan) -> tuple[Scan, Scan]:
    """Pass one over both tables at once: the reading and hashing release the GIL."""
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(scan, table, plan) for table in (old, new)]
        return futures[0].result(), futures[1].result()


def scan(table: Table, plan: Plan) -> Scan:
    import pyarrow as pa

    np = numpy()
    needed = {*plan.stats, *plan.compared, *plan.key}
    read = [i for i, n in enumerate(table.schema.names) if n in needed]
    # No distinct counts: drift reports none, and the sketch is the dearest statistic.
    stats = TableStats(pa.schema([table.schema.field(i) for i in read]), plan.stats, distinct=False)
    hashes: list[Any] = []
    keys: dict[str, list[pa.Array]] = {name: [] for name in plan.key}
    rows = 0
    for batch in table.take_batches([table.schema.names[i] for i in read]):
        stats.add(batch)
        columns = [hash_column(batch.column(n), kind) for n, kind in plan.compared.items()]
        hashes.append(hash_rows(columns, batch.num_rows))
        for name, chunks in keys.items():
            chunks.append(batch.column(name))
        rows += batch.num_rows
    return Scan(
        rows=rows,
        hashes=np.concatenate(hashes) if hashes else np.zeros(0, np.uint64),
        keys={
            name: pa.chunked_array(chunks, table.schema.field(name).type)
            for name, chunks in keys.items()
        },
        stats={column.name: column for column in stats.profiles()},
    )


def keyed_rows(
    old: Table,
    new: Table,
    plan: Plan,
    match: KeyMatch,
    old_hashes: np.ndarray,
    new_hashes: np.ndarray,
) -> Rows:
    """Counts and row tables for a keyed diff: pass two over the changed rows."""
    np = numpy()
    differ = old_hashes[match.old_rows] != new_hashes[match.new_rows]
    changed_old, changed_new = match.old_rows[differ], match.new_rows[differ]
    rows = Rows(
        "key",
        tuple(plan.key),
        added=len(match.added),
        removed=len(match.removed),
        changed=len(changed_new),
        unchanged=len(match.new_rows) - len(changed_new),
    )
    counts = dict.fromkeys(plan.compared, 0)
    for start in range(0, max(len(changed_new), 1), CHUNK_ROWS):
        first = start == 0
        chunk_new = changed_new[start : start + CHUNK_ROWS]
        chunk_old = changed_old[start : start + CHUNK_ROWS]
        extra_new = match.added[:ROW_LIMIT] if first else np.zeros(0, np.int64)
        extra_old = match.removed[:ROW_LIMIT] if first else np.zeros(0, np.int64)
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


def multiset_rows(old: Table, new: Table, match: MultisetMatch) -> Rows:
    """Counts and row tables for a diff without a key."""
    np = numpy()
    empty = np.zeros(0, np.int64)
    old_part, new_part = _gather_both(
        old, new, (match.removed[:ROW_LIMIT], empty), (match.added[:ROW_LIMIT], empty)
    )
    return Rows(
        "multiset",
        (),
        added=len(match.added),
        removed=len(match.removed),
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
