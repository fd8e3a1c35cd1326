"""Column statistics, accumulated batch by batch: the one source of profiles and of drift.

``mlv stats`` shows a table's profile and ``mlv diff`` the drift of each column between
two tables; both take their null count, min, max and mean from ``ColumnStats``, fed
the same batches by the same reader, so the two can never disagree about a column.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from mlv.model.tables import MAX_TEXT, ColumnProfile, json_number
from mlv.tables.sketch import DistinctSketch

if TYPE_CHECKING:
    import pyarrow as pa

# Kinds of column type: how min and max are kept while batches stream past, and shown.
NUMBER = "number"  # integers, floats, durations (in their unit)
TEMPORAL = "temporal"  # dates, times, timestamps: compared as integers, shown in ISO 8601
TEXT = "text"
BOOLEAN = "boolean"
DECIMAL = "decimal"  # shown as strings, to keep every digit
OTHER = "other"  # no min, max or mean: binary, lists, structs


def kind_of(kind: pa.DataType) -> str:
    """The kind (``NUMBER``, ``TEMPORAL``, ...) of an Arrow type."""
    import pyarrow as pa

    types = pa.types
    if types.is_dictionary(kind):
        return kind_of(kind.value_type)
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
    """Null count, min, max, sum and a distinct-count sketch of one column, merged per batch.

    ``distinct=False`` keeps no sketch (drift reports no distinct count): the column's
    ``profile`` then has ``distinct`` None, and every other statistic is the same.
    """

    def __init__(self, kind: pa.DataType, *, distinct: bool = True) -> None:
        import pyarrow as pa

        self.type = kind
        self.value_type = kind.value_type if pa.types.is_dictionary(kind) else kind
        self.kind = kind_of(kind)
        self.averaged = self.kind in (NUMBER, DECIMAL) and not pa.types.is_duration(self.value_type)
        self.nulls = 0
        self.count = 0
        self.low: Any = None
        self.high: Any = None
        self.total: float = 0.0
        self.sketch = DistinctSketch() if distinct else None

    def add(self, values: pa.Array | pa.ChunkedArray) -> None:
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
        if self.sketch is not None:
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
            # Unsafe: an integer past 2**53 has no exact double, and the mean need not be exact.
            self.total += float(pc.sum(pc.cast(values, pa.float64(), safe=False)).as_py())

    def _widen(self, low: Any, high: Any) -> None:
        # NaN compares false both ways: min_max only returns it for an all-NaN batch.
        if low is not None and (self.low is None or low < self.low or self.low != self.low):
            self.low = low
        if high is not None and (self.high is None or high > self.high or self.high != self.high):
            self.high = high

    def profile(self, name: str) -> ColumnProfile:
        """The statistics as a profile stores them, and as drift reports them."""
        mean = json_number(self.total / self.count) if self.averaged and self.count else None
        distinct = None
        if self.sketch is not None:
            distinct = self.sketch.estimate() if self.count else 0
        return ColumnProfile(
            name=name,
            type=str(self.type),
            nulls=self.nulls,
            min=self._json(self.low),
            max=self._json(self.high),
            mean=mean,
            distinct=distinct,
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


class TableStats:
    """A ``ColumnStats`` for each column of ``schema`` (or each named in ``columns``), fed
    batches of that schema.

    Columns are taken by position, so a table whose columns share a name (legal in
    Arrow) still gets one set of statistics each.
    """

    def __init__(
        self,
        schema: pa.Schema,
        columns: Sequence[str] | None = None,
        *,
        distinct: bool = True,
    ) -> None:
        wanted = None if columns is None else set(columns)
        self.positions = [
            i for i, name in enumerate(schema.names) if wanted is None or name in wanted
        ]
        self.names = [schema.names[i] for i in self.positions]
        self.columns = [
            ColumnStats(schema.field(i).type, distinct=distinct) for i in self.positions
        ]
        self.rows = 0

    def add(self, batch: pa.RecordBatch, pool: ThreadPoolExecutor | None = None) -> None:
        """Add a batch (every column of the schema, in its order); with a ``pool``, its
        columns side by side, as pyarrow's kernels release the GIL."""
        self.rows += batch.num_rows
        values = [batch.column(i) for i in self.positions]
        if pool is None:
            for stats, column in zip(self.columns, values, strict=True):
                stats.add(column)
        else:
            for _ in pool.map(ColumnStats.add, self.columns, values):
                pass

    def profiles(self) -> list[ColumnProfile]:
        return [s.profile(name) for name, s in zip(self.names, self.columns, strict=True)]
