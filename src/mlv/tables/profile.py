"""Profiling a table file: schema, row count and per-column statistics, batch by batch."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlv.model.tables import MAX_TEXT, ColumnProfile, Profile, json_number
from mlv.tables.formats import open_batches, table_format
from mlv.tables.sketch import DistinctSketch

if TYPE_CHECKING:
    import pyarrow as pa

WORKERS = max(2, min(4, os.cpu_count() or 1))

# Kinds of column type: how min and max are kept while batches stream past, and shown.
NUMBER = "number"  # integers, floats, durations (in their unit)
TEMPORAL = "temporal"  # dates, times, timestamps: compared as integers, shown in ISO 8601
TEXT = "text"
BOOLEAN = "boolean"
DECIMAL = "decimal"  # shown as strings, to keep every digit
OTHER = "other"  # no min, max or mean: binary, lists, structs


def profile_file(
    path: Path, fmt: str | None = None, *, on_rows: Callable[[int], None] | None = None
) -> Profile:
    """The profile of a table file, read as a stream of batches: never loaded whole.

    ``on_rows`` hears how many rows each batch had, for a progress bar. Raises
    ``FormatError`` naming the problem when the file is not a readable table.
    """
    fmt = fmt or table_format(path)
    schema, batches = open_batches(path, fmt)
    columns = [ColumnStats(field.type) for field in schema]
    rows = 0
    # pyarrow's kernels release the GIL: the columns of a batch are profiled side by side.
    with ThreadPoolExecutor(WORKERS) as pool:
        for batch in _read_ahead(batches, pool):
            rows += batch.num_rows
            for _ in pool.map(ColumnStats.add, columns, batch.columns):
                pass
            if on_rows is not None:
                on_rows(batch.num_rows)
    return Profile(
        table_format=str(fmt),
        rows=rows,
        columns=tuple(
            stats.profile(field.name) for field, stats in zip(schema, columns, strict=True)
        ),
    )


def row_count(path: Path, fmt: str | None = None) -> int | None:
    """The rows a table holds when its footer says so (Parquet, Arrow IPC files), else None."""
    import pyarrow as pa

    fmt = fmt or table_format(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if fmt == "arrow":
            import pyarrow.ipc as ipc

            with ipc.open_file(path) as reader:
                return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
    except (pa.ArrowException, OSError, ValueError):
        return None
    return None


def _read_ahead(
    batches: Iterator[pa.RecordBatch], pool: ThreadPoolExecutor
) -> Iterator[pa.RecordBatch]:
    """The batches, the next one decoded on ``pool`` while the current one is profiled."""
    done = object()
    pending = pool.submit(next, batches, done)
    while (batch := pending.result()) is not done:
        pending = pool.submit(next, batches, done)
        yield batch


def _kind_of(kind: pa.DataType) -> str:
    import pyarrow as pa

    types = pa.types
    if types.is_dictionary(kind):
        return _kind_of(kind.value_type)
    if types.is_integer(kind) or types.is_floating(kind):
        return NUMBER
    if types.is_boolean(kind):
        return BOOLEAN
    if types.is_decimal(kind):
        return DECIMAL
    if types.is_timestamp(kind) or types.is_date(kind) or types.is_time(kind):
        return TEMPORAL
    if types.is_duration(kind):
        return NUMBER  # kept in its unit, which the type string names
    if types.is_string(kind) or types.is_large_string(kind) or types.is_string_view(kind):
        return TEXT
    return OTHER


class ColumnStats:
    """Null count, min, max, sum and a distinct-count sketch of one column, merged per batch."""

    def __init__(self, kind: pa.DataType) -> None:
        import pyarrow as pa

        self.type = kind
        self.value_type = kind.value_type if pa.types.is_dictionary(kind) else kind
        self.kind = _kind_of(kind)
        self.averaged = self.kind in (NUMBER, DECIMAL) and not pa.types.is_duration(self.value_type)
        self.nulls = 0
        self.count = 0
        self.low: Any = None
        self.high: Any = None
        self.total: float = 0.0
        self.sketch = DistinctSketch()

    def add(self, values: pa.Array) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
        self.nulls += values.null_count
        valid = len(values) - values.null_count
        if not valid:
            return
        self.count += valid
        self.sketch.add(values)
        if self.kind == OTHER:
            return
        if self.kind == TEMPORAL:
            values = values.view(pa.int64() if values.type.bit_width == 64 else pa.int32())
        elif pa.types.is_duration(values.type):
            values = values.view(pa.int64())
        try:
            extremes = pc.min_max(values)
        except pa.ArrowNotImplementedError:
            # A type without an order pyarrow knows: no min, max or mean.
            self.kind, self.averaged, self.low, self.high = OTHER, False, None, None
            return
        self._widen(extremes["min"].as_py(), extremes["max"].as_py())
        if self.averaged:
            # In float64: an int64 sum could wrap, a float32 one loses precision.
            self.total += float(pc.sum(pc.cast(values, pa.float64())).as_py())

    def _widen(self, low: Any, high: Any) -> None:
        # NaN compares false both ways: min_max only returns it for an all-NaN batch.
        if low is not None and (self.low is None or low < self.low or self.low != self.low):
            self.low = low
        if high is not None and (self.high is None or high > self.high or self.high != self.high):
            self.high = high

    def profile(self, name: str) -> ColumnProfile:
        mean = json_number(self.total / self.count) if self.averaged and self.count else None
        return ColumnProfile(
            name=name,
            type=str(self.type),
            nulls=self.nulls,
            min=self._json(self.low),
            max=self._json(self.high),
            mean=mean,
            distinct=self.sketch.estimate() if self.count else 0,
        )

    def _json(self, value: Any) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        if value is None:
            return None
        if self.kind == TEMPORAL:
            width = pa.int64() if self.value_type.bit_width == 64 else pa.int32()
            stamp = pa.scalar(value, width).cast(self.value_type)
            return pc.cast(stamp, pa.string()).as_py().replace(" ", "T", 1)
        if self.kind == DECIMAL:
            return str(value)
        if self.kind == TEXT:
            return value[:MAX_TEXT]
        if isinstance(value, float):
            return json_number(value)
        return value
