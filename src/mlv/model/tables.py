"""Table profiles: the schema, row count and column statistics of a table file's content."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from mlv.errors import FormatError
from mlv.model.fields import require_id, require_int, require_list, require_object, require_str
from mlv.model.objects import StoredObject

TABLE_FORMATS = ("parquet", "csv", "arrow", "jsonl")
# The statistics a profile may leave for later (``Profile.pending``), in sorted order.
PENDABLE = ("distinct", "mean")
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
    """Whether a value may stand as a min or max: a JSON scalar."""
    return value is None or isinstance(value, bool | int | float | str)


def _is_mean(value: object) -> bool:
    """Whether a value may stand as a mean: a number, one of ``NON_FINITE`` or null."""
    if isinstance(value, str):
        return value in NON_FINITE
    return value is None or (type(value) in (int, float))


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
        return cls(
            name=doc["name"],
            type=doc["type"],
            nulls=doc["nulls"],
            min=doc["min"],
            max=doc["max"],
            mean=doc["mean"],
            distinct=doc["distinct"],
        )


@dataclass(frozen=True)
class Profile(StoredObject):
    """What a table file holds: its format, row count and one profile per column.

    A commit reaches the profiles of the tables it holds first through its profile
    map (``Commit.profiles``, a ``ProfileMap``); a tree of format 1 through the
    table's entry (``TreeEntry.profile``).
    """

    TYPE: ClassVar[str] = "profile"

    table_format: str  # "parquet", "csv", "arrow" or "jsonl"
    rows: int
    columns: tuple[ColumnProfile, ...]
    # Statistics not computed yet, in every column: a profile made on add leaves out
    # what costs a pass over the data (``PENDABLE``); they are None until it is done.
    # Written only when not empty, so a complete profile has the bytes it always had.
    pending: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        body = {
            "table_format": self.table_format,
            "rows": self.rows,
            "columns": [c.to_json() for c in self.columns],
        }
        if self.pending:
            body["pending"] = list(self.pending)
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Profile:
        columns = require_list(body["columns"], "profile columns")
        pending = require_list(body["pending"], "profile pending") if "pending" in body else []
        return cls(
            table_format=body["table_format"],
            rows=body["rows"],
            columns=tuple(
                ColumnProfile.from_json(require_object(c, "profile column")) for c in columns
            ),
            pending=tuple(pending),
        )

    def check(self) -> None:
        if self.table_format not in TABLE_FORMATS:
            raise FormatError(f"profile has unknown table format {self.table_format!r}")
        require_int(self.rows, "profile row count", 0)
        pending = list(self.pending)
        if not all(p in PENDABLE for p in pending) or pending != sorted(set(pending)):
            raise FormatError(f"profile has unknown or unsorted pending statistics {pending!r}")
        for column in self.columns:
            where = f"profile column {column.name!r}"
            require_str(column.name, f"{where} name")
            require_str(column.type, f"{where} type")
            require_int(column.nulls, f"{where} nulls", 0, self.rows)
            if column.distinct is not None:
                require_int(column.distinct, f"{where} distinct count", 0)
            for stat in (column.min, column.max):
                if not _is_stat(stat) or (isinstance(stat, float) and not math.isfinite(stat)):
                    raise FormatError(f"{where} has a statistic that is not a JSON scalar")
            if not _is_mean(column.mean) or (
                isinstance(column.mean, float) and not math.isfinite(column.mean)
            ):
                raise FormatError(f"{where} has a mean that is not a number: {column.mean!r}")

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The profile as JSON for people and tools (with its id)."""
        return {"id": self.id, **self.body()}


@dataclass(frozen=True)
class ProfileMap(StoredObject):
    """Content id -> profile id, for the tables a commit holds first (``Commit.profiles``).

    A profile depends on the content alone, so it is named once, by the first commit
    that holds the content, and found again from there after a clone or an index
    rebuild. Keeping it out of tree entries keeps a folder's id independent of
    whether, and by which version, its tables were profiled.
    """

    TYPE: ClassVar[str] = "profiles"

    profiles: dict[str, str]

    def body(self) -> dict[str, Any]:
        return {"profiles": dict(self.profiles)}

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ProfileMap:
        return cls(dict(require_object(body["profiles"], "profile map")))

    def check(self) -> None:
        if not self.profiles:
            raise FormatError("profile map is empty: a commit without profiles names none")
        for content_id, profile_id in self.profiles.items():
            require_id(content_id, "profile map content")
            require_id(profile_id, f"profile of {content_id}")
