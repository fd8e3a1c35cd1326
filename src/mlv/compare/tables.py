"""Tables (Parquet, Arrow IPC/Feather, CSV, JSON Lines) compared by schema and rows with pyarrow."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlv.compare.result import Comparison, capped, differ, fmt_count, fmt_rel, plural, settled
from mlv.model.runs import DIFFERENT

if TYPE_CHECKING:
    import pyarrow as pa

PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
ARROW_SUFFIXES = frozenset({".arrow", ".feather", ".ipc"})
CSV_SUFFIXES = frozenset({".csv", ".tsv"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
# Column types are guessed from text in these, so 1 and 1.0 can land in int and float columns.
TEXT_SUFFIXES = CSV_SUFFIXES | JSONL_SUFFIXES
SUFFIXES = PARQUET_SUFFIXES | ARROW_SUFFIXES | TEXT_SUFFIXES

# Rows compared in Python at a time, for column types pyarrow.compute cannot compare.
_BATCH = 65_536


def _read(path: Path) -> pa.Table:
    import pyarrow as pa

    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        # One file, never a dataset: no partition columns guessed from the folder names.
        with pq.ParquetFile(path) as parquet:
            return parquet.read()
    if suffix in CSV_SUFFIXES:
        import pyarrow.csv as pcsv

        delimiter = "\t" if suffix == ".tsv" else ","
        return pcsv.read_csv(path, parse_options=pcsv.ParseOptions(delimiter=delimiter))
    if suffix in JSONL_SUFFIXES:
        import pyarrow.json as pjson

        return pjson.read_json(path)
    # .arrow and .ipc may hold either IPC format; .feather may also be Feather version 1.
    # Read, not memory-mapped: the table must not keep the file open once compared.
    try:
        with pa.OSFile(str(path)) as source:
            return pa.ipc.open_file(source).read_all()
    except pa.ArrowInvalid:
        pass
    try:
        with pa.OSFile(str(path)) as source:
            return pa.ipc.open_stream(source).read_all()
    except pa.ArrowInvalid:
        import pyarrow.feather as feather

        return feather.read_table(str(path))


def _is_number(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def _normal(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column without storage choices: dictionary encoding and 32/64-bit offsets."""
    import pyarrow as pa

    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_string(col.type):
        col = col.cast(pa.large_string())
    elif pa.types.is_binary(col.type):
        col = col.cast(pa.large_binary())
    return col


def _count(mask: pa.ChunkedArray) -> int:
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


def _slow_moved(a: pa.ChunkedArray, b: pa.ChunkedArray) -> pa.ChunkedArray:
    """Row-by-row comparison for nested and other types without a compute kernel."""
    import pyarrow as pa

    if a.equals(b):
        return pa.chunked_array([pa.repeat(pa.scalar(False), len(a))])
    chunks = []
    for start in range(0, len(a), _BATCH):
        xs, ys = a.slice(start, _BATCH).to_pylist(), b.slice(start, _BATCH).to_pylist()
        chunks.append(pa.array([not _py_same(x, y) for x, y in zip(xs, ys, strict=True)]))
    return pa.chunked_array(chunks, pa.bool_())


@dataclass
class _Column:
    """How one column's values moved: every moved value, and those out of tolerance."""

    moved: pa.ChunkedArray
    failed: pa.ChunkedArray
    max_rel: float | None = None


def _compare_column(a: pa.ChunkedArray, b: pa.ChunkedArray, rtol: float, atol: float) -> _Column:
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
class _Rows:
    """Value differences summed over the columns that can be compared row by row."""

    moved: int = 0
    failed_rows: pa.ChunkedArray | None = None
    failed_columns: list[str] = field(default_factory=list)
    moved_columns: list[str] = field(default_factory=list)
    rels: list[float] = field(default_factory=list)

    def add(self, name: str, col: _Column) -> None:
        import pyarrow.compute as pc

        moved = _count(col.moved)
        self.moved += moved
        if moved:
            self.moved_columns.append(name)
        if col.max_rel is not None:
            self.rels.append(col.max_rel)
        if _count(col.failed):
            self.failed_columns.append(name)
            self.failed_rows = (
                col.failed if self.failed_rows is None else pc.or_(self.failed_rows, col.failed)
            )

    @property
    def max_rel(self) -> float | None:
        return max(self.rels) if self.rels else None


def _quoted(names: list[str]) -> str:
    return capped([f"'{n}'" for n in names])


def _columns_named(names: list[str]) -> str:
    return f"column{'s' if len(names) > 1 else ''} {_quoted(names)}"


def _columns(table: pa.Table) -> dict[str, pa.ChunkedArray]:
    """Columns by name; of duplicate names (legal in Arrow) the first is compared."""
    columns: dict[str, pa.ChunkedArray] = {}
    for i, name in enumerate(table.column_names):
        if name not in columns:
            columns[name] = _normal(table.column(i))
    return columns


def compare_tables(recorded: Path, rebuilt: Path, rtol: float, atol: float) -> Comparison | None:
    """Compare two tables by schema and rows; None when either side cannot be read."""
    import pyarrow as pa

    try:
        old, new = _read(recorded), _read(rebuilt)
    except (pa.ArrowException, ValueError, OSError):
        return None
    suffix = recorded.suffix.lower()
    a_cols, b_cols = _columns(old), _columns(new)

    problems: list[str] = []
    if old.num_rows != new.num_rows:
        problems.append(f"rows {fmt_count(old.num_rows)} → {fmt_count(new.num_rows)}")
    if added := [n for n in b_cols if n not in a_cols]:
        problems.append(f"{_columns_named(added)} added")
    if removed := [n for n in a_cols if n not in b_cols]:
        problems.append(f"{_columns_named(removed)} removed")
    common = [n for n in a_cols if n in b_cols]
    # JSON Lines objects carry no column order; the other formats do.
    if suffix not in JSONL_SUFFIXES and common != [n for n in b_cols if n in a_cols]:
        problems.append("column order changed")

    rows = _Rows()
    retyped: list[str] = []
    for name in common:
        a, b = a_cols[name], b_cols[name]
        both_numbers = _is_number(a.type) and _is_number(b.type)
        if a.type != b.type and not (suffix in TEXT_SUFFIXES and both_numbers):
            retyped.append(f"'{name}' {a.type} → {b.type}")
            if not both_numbers:
                continue
        if old.num_rows == new.num_rows:
            rows.add(name, _compare_column(a, b, rtol, atol))
    if retyped:
        problems.append(f"type of {capped(retyped)}")

    if rows.failed_rows is not None:
        n = _count(rows.failed_rows)
        rel = rows.max_rel
        largest = f" (largest relative difference {fmt_rel(rel)})" if rel is not None else ""
        problems.append(
            f"{plural(n, 'row')} {differ(n)} in {_quoted(rows.failed_columns)}{largest}"
        )
    if problems:
        # Values are only paired up row by row when both sides have as many rows.
        moved = rows.moved if old.num_rows == new.num_rows else None
        return Comparison(DIFFERENT, "; ".join(problems), rows.max_rel, moved)
    same = f"same schema and {plural(old.num_rows, 'row')}; file layout or metadata differs"
    where = f"in {_quoted(rows.moved_columns)}" if rows.moved_columns else ""
    return settled(rows.moved, rows.max_rel, same, where)
