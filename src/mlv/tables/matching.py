"""Matching the rows of two tables: by key, or as multisets of row hashes (numpy, vectorised).

Both work on whole columns of integers (key codes, row hashes), never a Python loop
per row: a sort, a sorted search and a scatter.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlv.tables.rowhash import numpy

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


@dataclass
class Sorted:
    """Codes sorted, with the row each sorted code came from (None: already in order)."""

    codes: np.ndarray
    order: np.ndarray | None

    def rows(self, positions: np.ndarray) -> np.ndarray:
        return positions if self.order is None else self.order[positions]


@dataclass
class Duplicates:
    values: int  # how many distinct codes occur more than once
    example_row: int  # a row holding one of them


@dataclass
class KeyMatch:
    added: np.ndarray  # rows of the new table whose key the old one lacks, ascending
    removed: np.ndarray  # rows of the old table whose key the new one lacks, ascending
    old_rows: np.ndarray  # matched pairs, in the new table's row order
    new_rows: np.ndarray


@dataclass
class MultisetMatch:
    added: np.ndarray  # rows of the new table beyond the old one's count of equal rows
    removed: np.ndarray


def sort_codes(codes: np.ndarray) -> Sorted:
    np = numpy()
    if len(codes) < 2 or bool(np.all(codes[1:] > codes[:-1])):
        return Sorted(codes, None)  # keys kept in order, as ids usually are: no sort
    order = np.argsort(codes, kind="stable")
    return Sorted(codes[order], order)


def duplicates(keys: Sorted) -> Duplicates | None:
    np = numpy()
    same = keys.codes[1:] == keys.codes[:-1]
    if not same.any():
        return None
    repeated = keys.codes[1:][same]
    distinct = int(np.count_nonzero(repeated[1:] != repeated[:-1])) + 1
    # The example is the first row, in table order, that repeats an earlier key: the
    # same row whether the table was matched whole or partition by partition.
    first = int(keys.rows(np.flatnonzero(same) + 1).min())
    return Duplicates(distinct, first)


def match_keys(old: Sorted, new_codes: np.ndarray, old_count: int) -> KeyMatch:
    """Pairs of rows with equal keys; keys must be unique on both sides."""
    np = numpy()
    if old_count == 0:
        empty = np.zeros(0, np.int64)
        return KeyMatch(np.arange(len(new_codes)), empty, empty, empty)
    positions = np.searchsorted(old.codes, new_codes)
    positions[positions == old_count] = 0
    found = old.codes[positions] == new_codes
    new_rows = np.flatnonzero(found)
    old_rows = old.rows(positions[found])
    seen = np.zeros(old_count, bool)
    seen[old_rows] = True
    return KeyMatch(np.flatnonzero(~found), np.flatnonzero(~seen), old_rows, new_rows)


def match_multisets(
    old_hashes: np.ndarray,
    new_hashes: np.ndarray,
    old_rows: np.ndarray | None = None,
    new_rows: np.ndarray | None = None,
) -> MultisetMatch:
    """Rows only in one table, counting duplicates: three equal rows against one are two removed.

    Equal rows at the same position cancel out first, as they would in any matching:
    tables are mostly edited in place or appended to, so what is left to sort is
    small. Of several equal rows, the last ones in table order are reported.
    ``old_rows`` and ``new_rows`` (ascending) are the row numbers of a partition's
    hashes, None for rows 0, 1, 2, …; the rows returned are row numbers too.
    """
    np = numpy()
    if old_rows is None and new_rows is None:
        common = min(len(old_hashes), len(new_hashes))
        differ = np.flatnonzero(old_hashes[:common] != new_hashes[:common])
        old_rest = np.concatenate([differ, np.arange(common, len(old_hashes))])
        new_rest = np.concatenate([differ, np.arange(common, len(new_hashes))])
    else:
        old_rows = np.arange(len(old_hashes)) if old_rows is None else old_rows
        new_rows = np.arange(len(new_hashes)) if new_rows is None else new_rows
        _, at_old, at_new = np.intersect1d(
            old_rows, new_rows, assume_unique=True, return_indices=True
        )
        same = old_hashes[at_old] == new_hashes[at_new]
        old_rest = _without(len(old_hashes), at_old[same])
        new_rest = _without(len(new_hashes), at_new[same])
    with ThreadPoolExecutor(2) as pool:  # numpy sorts without the GIL
        old_side, new_side = pool.map(_Sorted.of, (old_hashes[old_rest], new_hashes[new_rest]))
    added = np.sort(new_rest[new_side.beyond(old_side)])
    removed = np.sort(old_rest[old_side.beyond(new_side)])
    return MultisetMatch(
        added=added if new_rows is None else new_rows[added],
        removed=removed if old_rows is None else old_rows[removed],
    )


def _without(count: int, dropped: np.ndarray) -> np.ndarray:
    np = numpy()
    keep = np.ones(count, bool)
    keep[dropped] = False
    return np.flatnonzero(keep)


@dataclass
class _Sorted:
    values: np.ndarray  # ascending
    order: np.ndarray  # where each sorted value was

    @classmethod
    def of(cls, hashes: np.ndarray) -> _Sorted:
        order = numpy().argsort(hashes, kind="stable")
        return cls(hashes[order], order)

    def beyond(self, other: _Sorted) -> np.ndarray:
        """Positions of the values held more often here than in ``other``: of three equal
        values against one, the last two."""
        np = numpy()
        values, theirs = self.values, other.values
        left = np.searchsorted(theirs, values, "left")
        if len(theirs) and not (theirs[1:] == theirs[:-1]).any():
            # No value repeats over there (the usual case): one search says 0 or 1.
            in_other = theirs[np.minimum(left, len(theirs) - 1)] == values
        else:
            in_other = np.searchsorted(theirs, values, "right") - left
        first = np.ones(len(values), bool)
        first[1:] = values[1:] != values[:-1]
        rank = np.arange(len(values)) - np.flatnonzero(first)[np.cumsum(first) - 1]
        return self.order[rank >= in_other]


def key_codes(
    old: list[pa.ChunkedArray], new: list[pa.ChunkedArray], types: list[pa.DataType]
) -> tuple[np.ndarray, np.ndarray]:
    """Integers equal exactly where the keys are equal, for the old and the new rows.

    One integer-like or float key is its own code; strings and several columns are
    numbered by their distinct values over both tables (exact, no hash).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    np = numpy()
    if len(types) == 1:
        direct = _direct_codes(old[0], types[0]), _direct_codes(new[0], types[0])
        if direct[0] is not None and direct[1] is not None:
            return direct[0], direct[1]
    split = len(old[0]) if old else 0
    combined: Any = None
    cardinality = 1
    for old_col, new_col, kind in zip(old, new, types, strict=True):
        both = pa.chunked_array([*old_col.chunks, *new_col.chunks], old_col.type)
        both = pc.cast(both, kind) if both.type != kind else both
        distinct = pc.unique(both)
        codes = pc.index_in(both, value_set=distinct).to_numpy().astype(np.int64)
        if combined is None:
            combined, cardinality = codes, len(distinct)
            continue
        if cardinality * len(distinct) >= 1 << 62:
            values, combined = np.unique(combined, return_inverse=True)
            cardinality = len(values)
        combined = combined * len(distinct) + codes
        cardinality *= len(distinct)
    assert combined is not None
    return combined[:split], combined[split:]


def _direct_codes(values: pa.ChunkedArray, kind: pa.DataType) -> np.ndarray | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    np = numpy()
    values = pc.cast(values, kind) if values.type != kind else values
    parts: list[Any] = []
    for chunk in values.chunks:
        if pa.types.is_floating(kind):
            floats = chunk.to_numpy(zero_copy_only=False).astype(np.float64)
            parts.append(np.where(np.isnan(floats), np.nan, floats + 0.0).view(np.int64))
            continue
        if pa.types.is_boolean(kind):
            chunk = chunk.cast(pa.int8())
        width = getattr(chunk.type, "bit_width", None) if _fixed(chunk.type) else None
        if width not in (8, 16, 32, 64):
            return None
        ints = chunk.view(getattr(pa, f"int{width}")())
        parts.append(ints.to_numpy(zero_copy_only=False).astype(np.int64, copy=False))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _fixed(kind: pa.DataType) -> bool:
    import pyarrow as pa

    types = pa.types
    return (
        types.is_integer(kind)
        or types.is_timestamp(kind)
        or types.is_date(kind)
        or types.is_time(kind)
        or types.is_duration(kind)
    )
