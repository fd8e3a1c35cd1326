"""64-bit hashes of column values and of whole rows, vectorised with numpy.

The row diff compares millions of rows by comparing hashes first and values only
where hashes differ, so a hash must never call equal values different: values are
cast to the comparison type of their column first (``mlv.tables.schema_diff``),
``-0.0`` hashes as ``0.0``, every NaN as one NaN, and every null as ``NULL_HASH``.
Two different values share a hash with probability 2**-64.

Why numpy: pyarrow has no hash kernel, and it has neither the scatter nor the sorted
search that matching two key columns needs; numpy (a dependency for this) has all
three. It is imported lazily, only by the row diff and by uniqueness checks (which
partition their keys by a hash when they spill).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlv.errors import UnhashableTypeError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

SEED = 0x9E3779B97F4A7C15
NULL_HASH = 0x6A09E667F3BCC908
# A string's length goes into its hash, so that "" and a null never look alike.
LENGTH_SEED = 0xBB67AE8584CAA73B
# splitmix64's finaliser: every input bit reaches every output bit.
MIX_1 = 0xBF58476D1CE4E5B9
MIX_2 = 0x94D049BB133111EB


def numpy() -> Any:
    """numpy, imported on first use: only the row diff needs it."""
    import numpy

    return numpy


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, on a new uint64 array."""
    np = numpy()
    x = x ^ (x >> np.uint64(30))
    x *= np.uint64(MIX_1)
    x ^= x >> np.uint64(27)
    x *= np.uint64(MIX_2)
    x ^= x >> np.uint64(31)
    return x


def scramble(x: np.ndarray) -> np.ndarray:
    """A cheaper non-linear mix for one column's values, before the rows' final ``mix``.

    Half of ``mix``'s steps: enough that a weighted sum of columns cannot cancel out
    the way a sum of raw values could; ``hash_rows`` mixes fully at the end.
    """
    np = numpy()
    x = (x + np.uint64(SEED)) * np.uint64(MIX_1)
    x ^= x >> np.uint64(32)
    return x


def column_weight(position: int) -> Any:
    """An odd multiplier per column position, so that swapped values change a row's hash."""
    np = numpy()
    return mix(np.array([SEED + position], np.uint64))[0] | np.uint64(1)


def hash_rows(columns: list[np.ndarray], rows: int) -> np.ndarray:
    """One hash per row from its columns' hashes (the same columns in the same order)."""
    np = numpy()
    total = np.zeros(rows, np.uint64)
    for position, hashes in enumerate(columns):
        total += hashes * column_weight(position)
    return mix(total)


def hash_column(values: pa.Array | pa.ChunkedArray, as_type: pa.DataType) -> np.ndarray:
    """A uint64 hash of each value once cast to ``as_type``; equal values hash equal."""
    import pyarrow as pa

    np = numpy()
    if isinstance(values, pa.ChunkedArray):
        parts = [hash_column(chunk, as_type) for chunk in values.chunks]
        return np.concatenate(parts) if parts else np.zeros(0, np.uint64)
    if pa.types.is_dictionary(values.type) and _is_bytes(as_type):
        # Hash each distinct value once: categories repeat, often millions of times.
        return _by_dictionary(values.indices, _cast(values.dictionary, as_type))
    values = _cast(values, as_type)
    if _is_bytes(values.type) and len(values) > 64:
        encoded = values.dictionary_encode()
        if len(encoded.dictionary) * 2 < len(values):
            return _by_dictionary(encoded.indices, encoded.dictionary)
    hashes = _hash_values(values)
    if values.null_count:
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        hashes[~valid] = np.uint64(NULL_HASH)
    return hashes


def _cast(values: pa.Array, as_type: pa.DataType) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    if values.type == as_type:
        return values
    try:
        return pc.cast(values, as_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise UnhashableTypeError(f"cannot compare {values.type} as {as_type}: {exc}") from None


def _by_dictionary(indices: pa.Array, dictionary: pa.Array) -> np.ndarray:
    np = numpy()
    distinct = hash_column(dictionary, dictionary.type)
    positions = indices.fill_null(0).to_numpy(zero_copy_only=False)
    hashes = distinct[positions] if len(distinct) else np.zeros(len(indices), np.uint64)
    if indices.null_count:
        hashes[~indices.is_valid().to_numpy(zero_copy_only=False)] = np.uint64(NULL_HASH)
    return hashes


def _hash_values(values: pa.Array) -> np.ndarray:
    """Hashes of the values of an array already in its comparison type (nulls: anything)."""
    import pyarrow as pa

    np = numpy()
    kind = values.type
    if pa.types.is_floating(kind):
        raw = values.fill_null(0.0).to_numpy(zero_copy_only=False)
        # -0.0 + 0.0 is 0.0, and every NaN becomes the one NaN: equal values, equal bits.
        floats = np.add(raw, 0.0, dtype=np.float64)
        nans = floats != floats
        if nans.any():
            floats[nans] = np.nan
        return scramble(floats.view(np.uint64))
    if pa.types.is_boolean(kind):
        values = values.cast(pa.int8())
        kind = values.type
    if _is_bytes(kind):
        return _hash_bytes(values)
    if pa.types.is_decimal(kind):
        return _hash_bytes(values.cast(pa.large_string()))
    if pa.types.is_struct(kind):
        children = values.flatten()
        rows = len(values)
        return (
            hash_rows([hash_column(c, c.type) for c in children], rows)
            if children
            else (np.zeros(rows, np.uint64))
        )
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind):
        offsets = values.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
        child = values.values
        elements = hash_column(child, child.type)[offsets[0] : offsets[-1]]
        return _segments(elements, offsets - offsets[0])
    if pa.types.is_fixed_size_list(kind):
        return _hash_values(values.cast(pa.large_list(kind.value_type)))
    width = _bit_width(kind)
    if width in (8, 16, 32, 64):
        ints = values.view(getattr(pa, f"int{width}")()).fill_null(0)
        bits = ints.to_numpy(zero_copy_only=False).astype(np.int64).view(np.uint64)
        return scramble(bits)
    raise UnhashableTypeError(f"values of type {kind} cannot be compared")


def _hash_bytes(values: pa.Array) -> np.ndarray:
    """Hashes of strings or binaries: their bytes with their positions, summed per value."""
    import pyarrow as pa

    np = numpy()
    large = values.cast(pa.large_binary())
    rows = len(large)
    buffers = large.buffers()
    offsets = np.frombuffer(buffers[1], np.int64, count=rows + 1, offset=large.offset * 8)
    data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    start = int(offsets[0]) if rows else 0
    data = data[start : int(offsets[-1])] if rows else data[:0]
    return _segments(data.astype(np.uint64), offsets - start)


def _segments(elements: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """One hash per segment ``elements[offsets[i]:offsets[i+1]]``, position-sensitive."""
    np = numpy()
    lengths = np.diff(offsets)
    starts = np.repeat(offsets[:-1], lengths).astype(np.uint64)
    positions = np.arange(len(elements), dtype=np.uint64) - starts
    weighted = mix(elements + positions * np.uint64(SEED) + np.uint64(LENGTH_SEED))
    sums = np.zeros(len(weighted) + 1, np.uint64)
    np.cumsum(weighted, out=sums[1:])
    totals = sums[offsets[1:]] - sums[offsets[:-1]]
    return mix(totals ^ mix(lengths.astype(np.uint64) + np.uint64(LENGTH_SEED)))


def _is_bytes(kind: pa.DataType) -> bool:
    import pyarrow as pa

    types = pa.types
    return (
        types.is_string(kind)
        or types.is_large_string(kind)
        or types.is_binary(kind)
        or types.is_large_binary(kind)
    )


def _bit_width(kind: pa.DataType) -> int | None:
    try:
        return int(kind.bit_width)
    except ValueError:  # variable-width and nested types have none
        return None
