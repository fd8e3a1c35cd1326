"""Tables (Parquet, Arrow IPC/Feather, CSV, JSON Lines) compared by schema and rows with pyarrow.

Both tables are read through the one table reader (``mlv.tables.formats``), batch by
batch and side by side: the batches are cut to pair rows one for one, so memory holds
a batch of each table, never a whole one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlv.compare.result import Comparison, capped, differ, fmt_count, fmt_rel, plural, settled
from mlv.errors import FormatError
from mlv.model.runs import DIFFERENT
from mlv.tables.formats import (
    CSV,
    FORMAT_OF_SUFFIX,
    JSONL,
    open_batches,
    read_ahead,
    table_format,
)

if TYPE_CHECKING:
    import pyarrow as pa

SUFFIXES = frozenset(FORMAT_OF_SUFFIX)
# Column types are guessed from text in these, so 1 and 1.0 can land in int and float columns.
TEXT_FORMATS = frozenset({CSV, JSONL})

# Rows compared in Python at a time, for column types pyarrow.compute cannot compare.
_BATCH = 65_536


def _is_number(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def _normal_type(kind: pa.DataType) -> pa.DataType:
    """A column type without storage choices: dictionary encoding and 32/64-bit offsets."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_string(kind):
        return pa.large_string()
    if pa.types.is_binary(kind):
        return pa.large_binary()
    return kind


def _normal(values: pa.Array) -> pa.Array:
    import pyarrow as pa

    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    kind = _normal_type(values.type)
    return values if values.type == kind else values.cast(kind)


def _count(mask: pa.Array) -> int:
    import pyarrow.compute as pc

    return int(pc.sum(mask).as_py() or 0)


def _py_same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_py_same(p, q) for p, q in zip(x, y, strict=True))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_py_same(x[k], y[k]) for k in x)
    return bool(x == y)


def _slow_moved(a: pa.Array, b: pa.Array) -> pa.Array:
    """Row-by-row comparison for nested and other types without a compute kernel."""
    import pyarrow as pa

    if a.equals(b):
        return pa.repeat(pa.scalar(False), len(a))
    chunks = []
    for start in range(0, len(a), _BATCH):
        xs, ys = a.slice(start, _BATCH).to_pylist(), b.slice(start, _BATCH).to_pylist()
        chunks.append(pa.array([not _py_same(x, y) for x, y in zip(xs, ys, strict=True)]))
    return pa.concat_arrays(chunks) if chunks else pa.array([], pa.bool_())


@dataclass
class _Column:
    """How one column's values moved in a slice: every moved value, those out of tolerance."""

    moved: pa.Array
    failed: pa.Array
    max_rel: float | None = None


def _compare_column(a: pa.Array, b: pa.Array, rtol: float, atol: float) -> _Column:
    import pyarrow as pa
    import pyarrow.compute as pc

    numeric = _is_number(a.type) and _is_number(b.type)
    if numeric and a.type != b.type:
        a, b = a.cast(pa.float64(), safe=False), b.cast(pa.float64(), safe=False)
    null_moved = pc.xor(pc.is_null(a), pc.is_null(b))
    try:
        equal = pc.equal(a, b)
        if pa.types.is_floating(a.type):
            equal = pc.or_(equal, pc.and_(pc.is_nan(a), pc.is_nan(b)))
        # Where either side is null the answer is null: null positions are checked apart.
        value_moved = pc.invert(pc.fill_null(equal, True))
    except pa.ArrowNotImplementedError:
        return _Column(*([_slow_moved(a, b)] * 2))
    moved = pc.or_(null_moved, value_moved)
    if not numeric or not _count(value_moved):
        return _Column(moved, moved)
    x, y = a.cast(pa.float64(), safe=False), b.cast(pa.float64(), safe=False)
    diff = pc.abs(pc.subtract(y, x))
    scale = pc.abs(x)
    ok = pc.fill_null(pc.less_equal(diff, pc.add(pc.multiply(scale, rtol), atol)), False)
    failed = pc.or_(null_moved, pc.and_(value_moved, pc.invert(ok)))
    # Float division: a zero recorded value gives inf, and NaN (NaN against a number) is inf too.
    rel = pc.filter(pc.divide(diff, scale), value_moved)
    rel = pc.if_else(pc.is_nan(rel), math.inf, rel)
    return _Column(moved, failed, float(pc.max(rel).as_py()))


@dataclass
class _Tally:
    """One column's moved and failed values, summed over the slices."""

    moved: int = 0
    failed: int = 0
    max_rel: float | None = None

    def add(self, col: _Column) -> None:
        self.moved += _count(col.moved)
        self.failed += _count(col.failed)
        if col.max_rel is not None:
            self.max_rel = col.max_rel if self.max_rel is None else max(self.max_rel, col.max_rel)


@dataclass
class _Rows:
    """Value differences summed over the columns that can be compared row by row."""

    columns: dict[str, _Tally]  # column -> its tally
    failed_rows: int = 0  # rows with a value out of tolerance in any column

    def add(
        self,
        old: pa.RecordBatch,
        new: pa.RecordBatch,
        pairs: dict[str, tuple[int, int]],
        rtol: float,
        atol: float,
    ) -> None:
        """Compare two slices of as many rows; ``pairs`` gives each column's position in each."""
        import pyarrow.compute as pc

        failed = None
        for name, (i, j) in pairs.items():
            col = _compare_column(_normal(old.column(i)), _normal(new.column(j)), rtol, atol)
            self.columns[name].add(col)
            failed = col.failed if failed is None else pc.or_(failed, col.failed)
        if failed is not None:
            self.failed_rows += _count(failed)

    @property
    def moved(self) -> int:
        return sum(t.moved for t in self.columns.values())

    @property
    def moved_columns(self) -> list[str]:
        return [name for name, t in self.columns.items() if t.moved]

    @property
    def failed_columns(self) -> list[str]:
        return [name for name, t in self.columns.items() if t.failed]

    @property
    def max_rel(self) -> float | None:
        rels = [t.max_rel for t in self.columns.values() if t.max_rel is not None]
        return max(rels) if rels else None


class _Counted:
    """Batches, counting the rows read so far."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self.batches = batches
        self.rows = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self

    def __next__(self) -> pa.RecordBatch:
        batch = next(self.batches)
        self.rows += batch.num_rows
        return batch


def _paired(
    old: Iterator[pa.RecordBatch], new: Iterator[pa.RecordBatch]
) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch]]:
    """Slices of the two tables holding the same rows, one for one, while both have rows.

    The tables' batches need not line up (row groups, CSV blocks): each slice ends
    where the shorter of the two current batches does.
    """
    a = next(old, None)
    b = next(new, None)
    while a is not None and b is not None:
        n = min(a.num_rows, b.num_rows)
        if n:
            yield a.slice(0, n), b.slice(0, n)
        a, b = a.slice(n), b.slice(n)
        if not a.num_rows:
            a = next(old, None)
        if not b.num_rows:
            b = next(new, None)


def _quoted(names: list[str]) -> str:
    return capped([f"'{n}'" for n in names])


def _columns_named(names: list[str]) -> str:
    return f"column{'s' if len(names) > 1 else ''} {_quoted(names)}"


def _columns(schema: pa.Schema) -> dict[str, tuple[int, pa.DataType]]:
    """Each column's position and type by name; of duplicate names (legal in Arrow) the
    first is compared."""
    columns: dict[str, tuple[int, pa.DataType]] = {}
    for i, name in enumerate(schema.names):
        if name not in columns:
            columns[name] = (i, _normal_type(schema.field(i).type))
    return columns


def compare_tables(recorded: Path, rebuilt: Path, rtol: float, atol: float) -> Comparison | None:
    """Compare two tables by schema and rows; None when either side cannot be read."""
    try:
        return _compare(recorded, rebuilt, rtol, atol)
    except FormatError:
        return None


def _compare(recorded: Path, rebuilt: Path, rtol: float, atol: float) -> Comparison:
    old_schema, old_batches = open_batches(recorded)
    new_schema, new_batches = open_batches(rebuilt)
    fmt = table_format(recorded)
    a_cols, b_cols = _columns(old_schema), _columns(new_schema)

    problems: list[str] = []
    if added := [n for n in b_cols if n not in a_cols]:
        problems.append(f"{_columns_named(added)} added")
    if removed := [n for n in a_cols if n not in b_cols]:
        problems.append(f"{_columns_named(removed)} removed")
    common = [n for n in a_cols if n in b_cols]
    # JSON Lines objects carry no column order; the other formats do.
    if fmt != JSONL and common != [n for n in b_cols if n in a_cols]:
        problems.append("column order changed")

    pairs: dict[str, tuple[int, int]] = {}
    retyped: list[str] = []
    for name in common:
        (i, a), (j, b) = a_cols[name], b_cols[name]
        both_numbers = _is_number(a) and _is_number(b)
        if a != b and not (fmt in TEXT_FORMATS and both_numbers):
            retyped.append(f"'{name}' {a} → {b}")
            if not both_numbers:
                continue
        pairs[name] = (i, j)

    rows = _Rows({name: _Tally() for name in pairs})
    # Each table's next batch is decoded on its own thread while the current ones compare.
    with ThreadPoolExecutor(2) as pool:
        old_rows = _Counted(read_ahead(old_batches, pool))
        new_rows = _Counted(read_ahead(new_batches, pool))
        for old, new in _paired(old_rows, new_rows):
            rows.add(old, new, pairs, rtol, atol)
        # One table ended: the other is read to its end for its row count.
        for _ in old_rows:
            pass
        for _ in new_rows:
            pass

    # Values are only paired up row by row when both sides have as many rows.
    same_rows = old_rows.rows == new_rows.rows
    if not same_rows:
        problems.insert(0, f"rows {fmt_count(old_rows.rows)} → {fmt_count(new_rows.rows)}")
    if retyped:
        problems.append(f"type of {capped(retyped)}")
    if same_rows and rows.failed_columns:
        n = rows.failed_rows
        rel = rows.max_rel
        largest = f" (largest relative difference {fmt_rel(rel)})" if rel is not None else ""
        problems.append(
            f"{plural(n, 'row')} {differ(n)} in {_quoted(rows.failed_columns)}{largest}"
        )
    if problems:
        moved = rows.moved if same_rows else None
        return Comparison(
            DIFFERENT, "; ".join(problems), rows.max_rel if same_rows else None, moved
        )
    same = f"same schema and {plural(old_rows.rows, 'row')}; file layout or metadata differs"
    where = f"in {_quoted(rows.moved_columns)}" if rows.moved_columns else ""
    return settled(rows.moved, rows.max_rel, same, where)
