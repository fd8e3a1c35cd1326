"""Statistics drift: how each column's null count, mean, min and max moved between two tables.

The four statistics are gathered batch by batch during the row diff's one pass over
each table, so drift costs no extra read of either file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlv.tables.pyvalues import json_value, same_value

if TYPE_CHECKING:
    import pyarrow as pa

STATS = ("nulls", "mean", "min", "max")


@dataclass(frozen=True)
class ColumnStats:
    nulls: int
    mean: float | None  # numbers and booleans only
    min: Any
    max: Any


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    old: ColumnStats
    new: ColumnStats

    @property
    def moved(self) -> list[str]:
        """The statistics that differ, in STATS order."""
        return [s for s in STATS if not same_value(getattr(self.old, s), getattr(self.new, s))]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        for stat in STATS:
            out[stat] = {
                "old": json_value(getattr(self.old, stat)),
                "new": json_value(getattr(self.new, stat)),
            }
        return out


class StatsBuilder:
    """The four statistics of one column, merged over its batches."""

    def __init__(self, kind: pa.DataType) -> None:
        import pyarrow as pa

        value_type = kind.value_type if pa.types.is_dictionary(kind) else kind
        types = pa.types
        self.numeric = (
            types.is_integer(value_type)
            or types.is_floating(value_type)
            or types.is_boolean(value_type)
            or types.is_decimal(value_type)
        )
        self.ordered = not types.is_nested(value_type) and not types.is_null(value_type)
        self.nulls = 0
        self.count = 0
        self.total = 0.0
        self.low: Any = None
        self.high: Any = None

    def add(self, values: pa.Array) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.nulls += values.null_count
        valid = len(values) - values.null_count
        if not valid:
            return
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
        if self.numeric:
            mean = pc.mean(values).as_py()
            self.total += float(mean) * valid
            self.count += valid
        if self.ordered:
            try:
                low, high = pc.min_max(values).values()
            except pa.ArrowNotImplementedError:
                self.ordered = False
                return
            self._merge(low.as_py(), high.as_py())

    def _merge(self, low: Any, high: Any) -> None:
        # NaN compares false both ways; min_max returns it only for an all-NaN batch.
        try:
            if low is not None and (self.low is None or low < self.low or self.low != self.low):
                self.low = low
            if high is not None and (
                self.high is None or high > self.high or self.high != self.high
            ):
                self.high = high
        except TypeError:  # values that do not order (mixed time zones): keep the first
            pass

    def result(self) -> ColumnStats:
        mean = self.total / self.count if self.numeric and self.count else None
        return ColumnStats(self.nulls, mean, self.low, self.high)


def drift(
    columns: list[str], old: dict[str, ColumnStats], new: dict[str, ColumnStats]
) -> list[ColumnDrift]:
    """Every common column's statistics, old and new, in ``columns`` order."""
    return [ColumnDrift(name, old[name], new[name]) for name in columns]
