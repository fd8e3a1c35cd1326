"""Table profiles: the schema, row count and column statistics of a table file's content."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from mlv.errors import FormatError
from mlv.model.objects import StoredObject

TABLE_FORMATS = ("parquet", "csv", "arrow", "jsonl")
# Longer texts are cut to this many characters in ``min`` and ``max``.
MAX_TEXT = 100

# Canonical JSON refuses NaN and infinities: a statistic that is one is stored as a string.
NAN = "NaN"
INFINITY = "Infinity"
MINUS_INFINITY = "-Infinity"
NON_FINITE = (NAN, INFINITY, MINUS_INFINITY)


def json_number(value: float | int) -> float | int | str:
    """A number as a profile stores it: itself when finite, else one of ``NON_FINITE``."""
    if isinstance(value, float) and not math.isfinite(value):
        return NAN if math.isnan(value) else INFINITY if value > 0 else MINUS_INFINITY
    return value


def _is_stat(value: object) -> bool:
    """Whether a value may stand as a min, max or mean: a JSON scalar."""
    return value is None or isinstance(value, bool | int | float | str)


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """One column: its Arrow type and statistics over its values.

    ``min`` and ``max`` are numbers, strings (texts cut to ``MAX_TEXT`` characters;
    dates and times in ISO 8601) or booleans; None when the column has no value, or
    its type has no order mlv reports. ``mean`` is set for numeric columns only.
    ``distinct`` counts the distinct non-null values: exact up to 8192 of them,
    approximate (about 1 %) above; None for types that cannot be hashed.
    """

    name: str
    type: str
    nulls: int
    min: Any = None
    max: Any = None
    mean: float | int | str | None = None
    distinct: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "nulls": self.nulls,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "distinct": self.distinct,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ColumnProfile:
        distinct = doc["distinct"]
        return cls(
            name=str(doc["name"]),
            type=str(doc["type"]),
            nulls=int(doc["nulls"]),
            min=doc["min"],
            max=doc["max"],
            mean=doc["mean"],
            distinct=None if distinct is None else int(distinct),
        )


@dataclass(frozen=True)
class Profile(StoredObject):
    """What a table file holds: its format, row count and one profile per column.

    A tree entry of a table carries the id of its content's profile (``profile``).
    """

    TYPE: ClassVar[str] = "profile"

    table_format: str  # "parquet", "csv", "arrow" or "jsonl"
    rows: int
    columns: tuple[ColumnProfile, ...]

    def body(self) -> dict[str, Any]:
        return {
            "table_format": self.table_format,
            "rows": self.rows,
            "columns": [c.to_json() for c in self.columns],
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Profile:
        return cls(
            table_format=str(body["table_format"]),
            rows=int(body["rows"]),
            columns=tuple(ColumnProfile.from_json(c) for c in body["columns"]),
        )

    def check(self) -> None:
        if self.table_format not in TABLE_FORMATS:
            raise FormatError(f"profile has unknown table format {self.table_format!r}")
        if self.rows < 0:
            raise FormatError(f"profile has a negative row count {self.rows}")
        for column in self.columns:
            where = f"profile column {column.name!r}"
            if not 0 <= column.nulls <= self.rows:
                raise FormatError(f"{where} has {column.nulls} nulls in {self.rows} rows")
            if column.distinct is not None and column.distinct < 0:
                raise FormatError(f"{where} has a negative distinct count")
            for stat in (column.min, column.max, column.mean):
                if not _is_stat(stat) or (isinstance(stat, float) and not math.isfinite(stat)):
                    raise FormatError(f"{where} has a statistic that is not a JSON scalar")
            if isinstance(column.mean, str) and column.mean not in NON_FINITE:
                raise FormatError(f"{where} has a mean that is not a number: {column.mean!r}")

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The profile as JSON for people and tools (with its id)."""
        return {"id": self.id, **self.body()}
