"""A Parquet table's profile from its footer: rows, nulls, min and max without a pass.

A Parquet writer records, per row group and column, the null count and the smallest
and largest value. Merged over the row groups they are the profile's exact
figures, so ``mlv add`` of a 330 MB table profiles it in milliseconds instead of
seconds. The mean and the distinct count are not in the footer: they are left
pending (``Profile.pending``) and made when the profile is first shown.

The footer is trusted only where it is known to be exact:

- files written by parquet-cpp as Arrow builds it (pyarrow, pandas; ``trusted_writer``),
  whose column statistics are never cut short and leave NaN out as
  ``pyarrow.compute.min_max`` does; other writers may truncate long strings;
- flat columns: a list or struct column's null count is not its leaves';
- row groups that carry both statistics, or hold only nulls;
- timestamps, dates and times stored in the unit the Arrow type names.

Any other column is read, alone, and profiled as ``profile_file`` profiles it.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlv.model.tables import Profile
from mlv.tables.statistics import BOOLEAN, DECIMAL, NUMBER, OTHER, TEMPORAL, TEXT, ColumnStats

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

MIN_TRUSTED_MAJOR = 8
PENDING = ("distinct", "mean")
_UNITS = {"milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns"}


class Untrusted(Exception):
    """A column whose footer statistics cannot stand for the data: read it instead."""


def footer_profile(
    path: Path, read_columns: Callable[[Path, list[pa.Field]], list[ColumnStats]]
) -> Profile | None:
    """The profile of the Parquet file at ``path`` from its footer, mean and distinct
    pending; None when its writer is not trusted. ``read_columns(path, fields)``
    profiles the columns the footer cannot answer for, returning a ``ColumnStats``
    for each."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as parquet:
        meta = parquet.metadata
        if not trusted_writer(meta.created_by):
            return None
        schema = parquet.schema_arrow
        if len(set(schema.names)) != len(schema.names):
            return None  # columns read by name could not be told apart
        leaves = _leaf_positions(schema)
        stats: dict[int, ColumnStats] = {}
        unread: list[int] = []
        for position, field in enumerate(schema):
            leaf = leaves.get(position)
            try:
                if leaf is None:
                    raise Untrusted(field.name)
                stats[position] = _from_footer(meta, leaf, field.type)
            except Untrusted:
                unread.append(position)
        rows = meta.num_rows
    if unread:
        fields = [schema.field(i) for i in unread]
        stats.update(zip(unread, read_columns(path, fields), strict=True))
    # Neither pending figure is kept, even for a column that was read: one rule for all.
    columns = tuple(
        replace(stats[i].profile(schema.field(i).name), mean=None, distinct=None)
        for i in range(len(schema))
    )
    return Profile(table_format="parquet", rows=rows, columns=columns, pending=PENDING)


def trusted_writer(created_by: str | None) -> bool:
    """Whether statistics from the writer ``created_by`` names are exact (see above).

    parquet-cpp as Arrow builds it ("parquet-cpp-arrow version 8.0.0" and later) leaves
    NaN out of float statistics and drops, rather than cuts, those of long values.
    """
    match = re.match(r"parquet-cpp-arrow version (\d+)\.", created_by or "")
    return match is not None and int(match[1]) >= MIN_TRUSTED_MAJOR


def _leaf_positions(schema: pa.Schema) -> dict[int, int]:
    """Field position -> its Parquet leaf column, for the flat fields of ``schema``."""
    import pyarrow as pa

    found: dict[int, int] = {}
    leaf = 0
    for position, field in enumerate(schema):
        count = _leaf_count(field.type)
        if count == 1 and not pa.types.is_nested(field.type):
            found[position] = leaf
        leaf += count
    return found


def _leaf_count(kind: pa.DataType) -> int:
    import pyarrow as pa

    if pa.types.is_struct(kind):
        return sum(_leaf_count(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_map(kind):
        return _leaf_count(kind.key_type) + _leaf_count(kind.item_type)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _leaf_count(kind.value_type)
    if pa.types.is_list_view(kind) or pa.types.is_large_list_view(kind):
        return _leaf_count(kind.value_type)
    return 1


def _from_footer(meta: pq.FileMetaData, leaf: int, kind: pa.DataType) -> ColumnStats:
    """The column's null count, min and max merged over every row group."""
    import pyarrow as pa

    found = ColumnStats(kind, distinct=False)
    if pa.types.is_float16(found.value_type) or isinstance(kind, pa.ExtensionType):
        raise Untrusted("type")
    for group in range(meta.num_row_groups):
        chunk = meta.row_group(group).column(leaf)
        rows = meta.row_group(group).num_rows
        if rows == 0:
            continue
        s = chunk.statistics
        if s is None or not s.has_null_count:
            raise Untrusted("no null count")
        found.nulls += s.null_count
        valid = rows - s.null_count
        if valid <= 0:
            continue
        found.count += valid
        if found.kind == OTHER:
            continue
        if not s.has_min_max:
            raise Untrusted("no min or max")
        found._widen(_value(s, s.min_raw, s.min, found), _value(s, s.max_raw, s.max, found))
    return found


def _value(s: Any, raw: Any, converted: Any, found: ColumnStats) -> Any:
    """A footer's min or max as ``pyarrow.compute.min_max`` gives it for the column."""
    import pyarrow as pa

    kind = found.kind
    if kind == TEMPORAL:
        return _temporal(s, raw, found.value_type)
    if kind == NUMBER:
        if pa.types.is_duration(found.value_type):
            raise Untrusted("duration")
        if isinstance(converted, bool) or not isinstance(converted, int | float):
            raise Untrusted("number")
        if pa.types.is_floating(found.value_type):
            # parquet-cpp writes a zero minimum as -0.0 whatever the zeros' signs: the
            # column's own zero is not known, and both compare equal.
            return float(converted) + 0.0
        return converted
    if kind == TEXT:
        if not isinstance(converted, str):
            raise Untrusted("text")
        return converted
    if kind == BOOLEAN:
        if not isinstance(converted, bool):
            raise Untrusted("boolean")
        return converted
    if kind == DECIMAL:
        if not isinstance(converted, decimal.Decimal):
            raise Untrusted("decimal")
        return converted
    raise Untrusted(kind)


def _temporal(s: Any, raw: Any, value_type: pa.DataType) -> int:
    """A date, time or timestamp statistic as the integer ``ColumnStats`` keeps."""
    import pyarrow as pa

    if not isinstance(raw, int) or isinstance(raw, bool):
        raise Untrusted("temporal")  # INT96 timestamps, for one
    logical = s.logical_type.to_json() if s.logical_type is not None else ""
    if pa.types.is_date32(value_type):
        if '"Date"' not in logical:
            raise Untrusted("date")
        return raw
    if pa.types.is_timestamp(value_type) or pa.types.is_time(value_type):
        unit = next((u for name, u in _UNITS.items() if name in logical), None)
        if unit is None or unit != value_type.unit:
            raise Untrusted("unit")  # stored in another unit than the Arrow type's
        return raw
    raise Untrusted("temporal type")
