"""Approximate distinct counts: a K-minimum-values sketch over 64-bit hashes, in pyarrow compute.

Why this sketch, and why hash in pyarrow:

- **Mergeable and streaming.** A table is profiled batch by batch; the sketch of a
  column is the ``K`` smallest distinct hashes seen so far, and adding a batch keeps
  only hashes below the current ``K``-th smallest. Memory is ``K`` hashes per column,
  whatever the table's size.
- **Exact when small.** Below ``K`` distinct values the sketch holds every hash, so
  the count is exact (up to 64-bit collisions); above, the estimate
  ``(K - 1) / (K-th smallest / 2**64)`` has a relative standard error of about
  ``1 / sqrt(K - 2)``: 1.1 % for ``K = 8192``.
- **Vectorised in pyarrow.** pyarrow exposes no hash kernel, so the hash is built
  from its wrapping ``uint64`` arithmetic (over W3's 11 columns this took 1.3 s,
  against 2.9 s for the row diff's numpy hashes, which also cast and handle nulls):
  a fixed-width value's bits go through MurmurHash3's 64-bit finaliser; a string's
  bytes get a polynomial hash (computed for a whole batch at once with a cumulative
  sum over its data buffer), then the finaliser. Never a Python loop per value.
"""

from __future__ import annotations

from functools import cache
from itertools import pairwise
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

K = 8192
# Texts are hashed in slices of about this many bytes, so the weight arrays stay small.
SLICE_BYTES = 512 * 1024
SEED = 0x9E3779B97F4A7C15
POLY = 0x100000001B3  # odd, so it has an inverse modulo 2**64
POLY_INVERSE = pow(POLY, -1, 1 << 64)
LENGTH_MULTIPLIER = 0xC2B2AE3D27D4EB4F
MIX_1 = 0xFF51AFD7ED558CCD
MIX_2 = 0xC4CEB9FE1A85EC53
TWO_64 = float(1 << 64)


class DistinctSketch:
    """The ``K`` smallest distinct 64-bit hashes of a column's values."""

    def __init__(self) -> None:
        import pyarrow as pa

        self.hashes = pa.array([], pa.uint64())  # sorted, distinct, at most K
        self.hashable = True
        # Candidates wait here and are merged K at a time: sorting the sketch for every
        # batch would cost more than hashing the batch.
        self._pending: list[pa.Array] = []
        self._waiting = 0
        self._bound: pa.Scalar | None = None  # no hash at or above it can enter

    def add(self, values: pa.Array) -> None:
        """Add a batch of values (nulls are not counted)."""
        import pyarrow.compute as pc

        if not self.hashable:
            return
        hashes = hash_values(values)
        if hashes is None:
            self.hashable = False
            return
        if self._bound is not None:
            hashes = pc.filter(hashes, pc.less(hashes, self._bound))
        if len(hashes):
            self._pending.append(hashes)
            self._waiting += len(hashes)
            if self._waiting >= K:
                self._merge()

    def _merge(self) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not self._pending:
            return
        merged = pc.unique(pa.concat_arrays([self.hashes, *self._pending]))
        self.hashes = pc.take(merged, pc.array_sort_indices(merged)).slice(0, K)
        self._pending, self._waiting = [], 0
        if len(self.hashes) == K:
            self._bound = self.hashes[K - 1]

    def estimate(self) -> int | None:
        """The number of distinct values: exact below ``K``; None for unhashable types."""
        if not self.hashable:
            return None
        self._merge()
        if len(self.hashes) < K:
            return len(self.hashes)
        kth = self.hashes[K - 1].as_py()
        return round((K - 1) / ((kth + 1) / TWO_64))


def hash_values(values: pa.Array) -> pa.Array | None:
    """A ``uint64`` hash of each non-null value, or None for a type that cannot be hashed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = values.type
    if pa.types.is_dictionary(kind):
        values = values.dictionary_decode()
        kind = values.type
    if values.null_count:
        values = pc.drop_null(values)
    if pa.types.is_boolean(kind):
        return _mix(pc.cast(values, pa.uint64()))
    # Texts repeat more often than not, and hashing their bytes costs more than finding
    # the distinct ones first.
    if pa.types.is_string(kind) or pa.types.is_binary(kind):
        return _hash_bytes(pc.unique(values), pa.int32())
    if pa.types.is_large_string(kind) or pa.types.is_large_binary(kind):
        return _hash_bytes(pc.unique(values), pa.int64())
    if pa.types.is_float32(kind) or pa.types.is_float64(kind):
        values = pc.add(values, pa.scalar(0, kind))  # -0.0 + 0 is 0.0: one zero, as in ==
    width = _fixed_width(kind)
    if width in (8, 16, 32, 64):
        bits = values.view(getattr(pa, f"uint{width}")())
        return _mix(bits if width == 64 else pc.cast(bits, pa.uint64()))
    try:
        as_text = pc.cast(values, pa.large_string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return None
    return _hash_bytes(pc.unique(as_text), pa.int64())


def _fixed_width(kind: pa.DataType) -> int | None:
    import pyarrow as pa

    if pa.types.is_decimal(kind) or pa.types.is_fixed_size_binary(kind):
        return None
    try:
        return int(kind.bit_width)
    except ValueError:  # variable-width or nested types have no bit width
        return None


def _mix(bits: pa.Array) -> pa.Array:
    """MurmurHash3's 64-bit finaliser of ``bits ^ SEED``, in wrapping ``uint64`` arithmetic."""
    import pyarrow as pa
    import pyarrow.compute as pc

    u64 = pa.uint64()
    shift = pa.scalar(33, u64)
    h = pc.bit_wise_xor(bits, pa.scalar(SEED, u64))
    h = pc.multiply(pc.bit_wise_xor(h, pc.shift_right(h, shift)), pa.scalar(MIX_1, u64))
    h = pc.multiply(pc.bit_wise_xor(h, pc.shift_right(h, shift)), pa.scalar(MIX_2, u64))
    return pc.bit_wise_xor(h, pc.shift_right(h, shift))


def _hash_bytes(values: pa.Array, offset_type: pa.DataType) -> pa.Array:
    """Hashes of variable-length values (no nulls), in slices of at most ``2 * SLICE_BYTES``.

    A value longer than ``SLICE_BYTES`` is hashed on its first ``SLICE_BYTES`` bytes and
    its length, so that the weight arrays never grow past ``2 * SLICE_BYTES``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(values)
    if n == 0:
        return pa.array([], pa.uint64())
    lengths = pc.cast(pc.binary_length(values), pa.uint64())
    if pc.max(lengths).as_py() > SLICE_BYTES:
        binary = pa.large_binary() if offset_type == pa.int64() else pa.binary()
        values = pc.binary_slice(values.cast(binary), 0, SLICE_BYTES)
    offsets = pa.Array.from_buffers(
        offset_type, n + 1, [None, values.buffers()[1]], offset=values.offset
    )
    # Cut where a value starts in the next SLICE_BYTES of the data: each slice then
    # holds less than SLICE_BYTES of starts plus one value of at most SLICE_BYTES.
    local = pc.subtract(offsets, offsets[0])
    bucket = pc.divide(local, pa.scalar(SLICE_BYTES, offset_type))
    moved = pc.not_equal(bucket.slice(1, n - 1), bucket.slice(0, n - 1))
    cuts = [0, *(i + 1 for i in pc.indices_nonzero(moved).to_pylist()), n]
    data = values.buffers()[2]
    parts = [
        _hash_slice(offsets.slice(a, b - a + 1), data, lengths.slice(a, b - a))
        for a, b in pairwise(cuts)
    ]
    return parts[0] if len(parts) == 1 else pa.concat_arrays(parts)


def _hash_slice(offsets: pa.Array, data: pa.Buffer | None, lengths: pa.Array) -> pa.Array:
    """sum(byte[i] * POLY**i) of each value, from one cumulative sum over the slice's bytes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    u64 = pa.uint64()
    first = offsets[0].as_py()
    local = pc.cast(pc.subtract(offsets, pa.scalar(first, offsets.type)), pa.int64())
    size = local[len(local) - 1].as_py()
    starts, ends = local.slice(0, len(local) - 1), local.slice(1)
    if size:
        raw = pa.Array.from_buffers(pa.uint8(), size, [None, data], offset=first)
        powers, inverses = _weights()
        weighted = pc.multiply(pc.cast(raw, u64), powers.slice(0, size))
        prefix = pa.concat_arrays([pa.array([0], u64), pc.cumulative_sum(weighted)])
        # The sum over [start, end) carries POLY**start; its inverse brings it to POLY**0.
        span = pc.subtract(pc.take(prefix, ends), pc.take(prefix, starts))
        poly = pc.multiply(span, pc.take(inverses, starts))
    else:
        poly = pa.repeat(pa.scalar(0, u64), len(starts))
    return _mix(pc.bit_wise_xor(poly, pc.multiply(lengths, pa.scalar(LENGTH_MULTIPLIER, u64))))


@cache
def _weights() -> tuple[pa.Array, pa.Array]:
    """``POLY**i`` and ``POLY**-i`` modulo 2**64 for i < ``2 * SLICE_BYTES`` (16 MiB in all)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    u64 = pa.uint64()
    length = 2 * SLICE_BYTES
    one = pa.array([1], u64)
    powers = [
        pa.concat_arrays([one, pc.cumulative_prod(pa.repeat(pa.scalar(base, u64), length - 1))])
        for base in (POLY, POLY_INVERSE)
    ]
    return powers[0], powers[1]
