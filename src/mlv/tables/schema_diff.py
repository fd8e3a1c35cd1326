"""Comparing two table schemas: columns added, removed, retyped and reordered.

It also decides, for each column in both, the type whose values the row diff compares:
an ``int32`` column that became ``int64`` (or a CSV's inferred ``int64`` against the
Parquet it became) is still compared value by value; ``string`` against ``int64`` is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlv.tables.pyvalues import MINUS

if TYPE_CHECKING:
    import pyarrow as pa

# Finest first: two time units compare in the finer one.
UNITS = ("ns", "us", "ms", "s")


@dataclass(frozen=True)
class Column:
    name: str
    type: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type}


@dataclass(frozen=True)
class Retype:
    """A column whose type changed; ``compared`` says whether its values were still compared."""

    name: str
    old: str
    new: str
    compared: bool

    def __str__(self) -> str:
        return f"{self.name}: {self.old} → {self.new}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "old": self.old, "new": self.new, "compared": self.compared}


@dataclass
class SchemaDiff:
    added: list[Column] = field(default_factory=list)
    removed: list[Column] = field(default_factory=list)
    retyped: list[Retype] = field(default_factory=list)
    reordered: bool = False
    common: list[str] = field(default_factory=list)  # in both, in the old table's order

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.retyped or self.reordered)

    def summary(self) -> str:
        """'+1 column (score), 1 retyped (a: int64 → double), reordered', or ''."""
        parts = []
        if self.added:
            parts.append(f"+{_columns(self.added)}")
        if self.removed:
            parts.append(f"{MINUS}{_columns(self.removed)}")
        if self.retyped:
            shown = ", ".join(str(r) for r in self.retyped[:3])
            more = ", …" if len(self.retyped) > 3 else ""
            parts.append(f"{len(self.retyped)} retyped ({shown}{more})")
        if self.reordered:
            parts.append("columns reordered")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [c.to_json() for c in self.added],
            "removed": [c.to_json() for c in self.removed],
            "retyped": [r.to_json() for r in self.retyped],
            "reordered": self.reordered,
        }


def compare_schemas(old: pa.Schema, new: pa.Schema) -> tuple[SchemaDiff, dict[str, pa.DataType]]:
    """The schema changes, and the comparison type of each common column that has one."""
    old_names, new_names = list(old.names), list(new.names)
    old_set, new_set = set(old_names), set(new_names)
    common = [n for n in old_names if n in new_set]
    diff = SchemaDiff(
        added=[Column(n, str(new.field(n).type)) for n in new_names if n not in old_set],
        removed=[Column(n, str(old.field(n).type)) for n in old_names if n not in new_set],
        reordered=common != [n for n in new_names if n in old_set],
        common=common,
    )
    compare_as: dict[str, pa.DataType] = {}
    for name in common:
        a, b = old.field(name).type, new.field(name).type
        target = common_type(a, b)
        if target is not None:
            compare_as[name] = target
        if _logical(a) != _logical(b):
            diff.retyped.append(Retype(name, str(a), str(b), target is not None))
    return diff, compare_as


def common_type(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The type both sides are cast to before their values are compared; None: incomparable.

    Integers of any width compare as int64, floats (and integers against floats) as
    float64, strings of any offset width as large_string, times in the finer unit.
    """
    import pyarrow as pa

    a, b = _value_type(a), _value_type(b)
    if pa.types.is_null(a):
        a = b
    if pa.types.is_null(b):
        b = a
    ka, kb = family(a), family(b)
    if ka == kb == "nested":
        return a if a == b else None
    if {ka, kb} <= {"int", "float", "decimal"} and ka != kb:
        return pa.float64()
    if {ka, kb} == {"date", "timestamp"}:  # a date is its midnight
        stamp = a if ka == "timestamp" else b
        return pa.timestamp(stamp.unit, tz="UTC" if stamp.tz else None)
    if ka != kb:
        return None
    if ka in ("int", "null"):
        return pa.int64()
    if ka == "float":
        return pa.float64()
    if ka == "bool":
        return pa.bool_()
    if ka == "string":
        return pa.large_string()
    if ka == "binary":
        return pa.large_binary()
    if ka == "date":
        return pa.date32()
    if ka == "decimal":
        scale = max(a.scale, b.scale)
        return pa.decimal128(38, scale) if scale <= 38 else None
    if ka in ("timestamp", "time", "duration"):
        unit = min(a.unit, b.unit, key=UNITS.index)
        if ka == "timestamp":
            return pa.timestamp(unit, tz="UTC" if a.tz or b.tz else None)
        if ka == "duration":
            return pa.duration(unit)
        return pa.time64(unit) if unit in ("us", "ns") else pa.time32(unit)
    return None


def family(t: pa.DataType) -> str:
    """A coarse kind of type: values of one family can be compared after a cast."""
    import pyarrow as pa

    types = pa.types
    checks = (
        ("null", types.is_null),
        ("bool", types.is_boolean),
        ("int", types.is_integer),
        ("float", types.is_floating),
        ("decimal", types.is_decimal),
        ("string", lambda t: types.is_string(t) or types.is_large_string(t)),
        ("binary", lambda t: types.is_binary(t) or types.is_large_binary(t)),
        ("binary", types.is_fixed_size_binary),
        ("timestamp", types.is_timestamp),
        ("date", types.is_date),
        ("time", types.is_time),
        ("duration", types.is_duration),
        ("nested", lambda t: types.is_nested(t)),
    )
    for name, check in checks:
        if check(t):
            return name
    if str(t) == "string_view":
        return "string"
    if str(t) == "binary_view":
        return "binary"
    return "other"


def _logical(t: pa.DataType) -> pa.DataType:
    """A type without its encoding: dictionary or not, 32- or 64-bit offsets, are one type."""
    import pyarrow as pa

    t = _value_type(t)
    if family(t) == "string":
        return pa.string()
    if family(t) == "binary" and not pa.types.is_fixed_size_binary(t):
        return pa.binary()
    return t


def _value_type(t: pa.DataType) -> pa.DataType:
    import pyarrow as pa

    return t.value_type if pa.types.is_dictionary(t) else t


def _columns(columns: list[Column]) -> str:
    names = ", ".join(c.name for c in columns[:5]) + (", …" if len(columns) > 5 else "")
    return f"{len(columns)} column{'s' if len(columns) != 1 else ''} ({names})"
