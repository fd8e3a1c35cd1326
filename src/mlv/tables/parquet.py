"""Writing Parquet that an edit changes in few places, so mlv's store keeps most of its chunks."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlv.core.paths import temporary_name
from mlv.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow never writes a row group longer than this, whatever it is asked.
PYARROW_MAX_ROW_GROUP = 64 * 1024 * 1024

# Content-defined row groups (see _row_group_cuts): a group ends at the first candidate row
# at least MIN_FRACTION of the target past its start; candidates come on average every
# SPACING_FRACTION of the target, so groups average about the target. A group is cut
# where it stands only past MAX_FACTOR times the target (about 1 group in 150).
MIN_FRACTION = 0.25
SPACING_FRACTION = 0.75
MAX_FACTOR = 4
# The row hash reads at most this many columns: enough to place cuts on varied rows, and a
# bounded cost on wide tables (about 3 ms per million rows and column).
HASHED_COLUMNS = 8
# 64-bit constants of splitmix64: the golden ratio to combine columns, then its finaliser
# (xor-shift, multiply, twice), without which sequential ids would give evenly spaced cuts.
GOLDEN = 0x9E3779B97F4A7C15
MIX_1, MIX_2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


@dataclass(frozen=True)
class ParquetWriterOptions:
    """How ``write_parquet`` lays a table out. Each default was chosen by measuring how
    much an edited table re-stores in mlv's store (docs/design.md, "Parquet that
    deduplicates").

    Attributes:
        min_chunk_size: smallest content-defined page, in bytes of values before encoding.
        max_chunk_size: largest content-defined page. 32-128 KiB pages are the size of
            mlv's own chunks (16/64/256 KiB), so a changed page costs about one chunk;
            pyarrow's default (256 KiB-1 MiB) re-stored 3.5 times as much after rows
            were inserted or removed.
        compression: snappy, pyarrow's default. zstd makes the file 30 % smaller, but
            mlv cannot compress its pages further and an edit re-stores more; none makes
            the file 60 % larger and the store 9 % larger.
        use_dictionary: off. A dictionary numbers values in the order they first appear,
            so inserting or removing rows renumbers every page of a column chunk.
        row_group_rows: rows per row group on average (pyarrow's default length). The
            boundaries are content-defined, so rows inserted or removed near the start do
            not shift every later group: groups of a fixed length re-stored 7 times as
            much after such edits.
    """

    min_chunk_size: int = 32 * 1024
    max_chunk_size: int = 128 * 1024
    compression: str = "snappy"
    use_dictionary: bool = False
    row_group_rows: int = 1024 * 1024

    def keywords(self) -> dict[str, Any]:
        """These options as keyword arguments of ``write_parquet``."""
        return {
            "row_group_size": self.row_group_rows,
            "compression": self.compression,
            "use_dictionary": self.use_dictionary,
            "use_content_defined_chunking": {
                "min_chunk_size": self.min_chunk_size,
                "max_chunk_size": self.max_chunk_size,
            },
        }


DEFAULT_OPTIONS = ParquetWriterOptions()


def write_parquet(table: pa.Table, path: str | os.PathLike[str], **options: Any) -> None:
    """Write ``table`` to ``path`` as Parquet that deduplicates well in mlv's store.

    Pages and row groups both end where the content says, not at fixed counts, so
    rewriting an edited table (rows changed, inserted, removed or appended) leaves
    most of the file's bytes as they were, and ``mlv add`` re-stores little.

    Args:
        table: a ``pyarrow.Table`` (or ``RecordBatch``).
        path: the file to write; it is replaced whole, never half-written.
        **options: any keyword of ``pyarrow.parquet.ParquetWriter``, overriding the
            defaults of ``ParquetWriterOptions`` (``compression="zstd"``,
            ``use_content_defined_chunking=True``, ...), and ``row_group_size``: the
            average rows per row group. ``**ParquetWriterOptions(...).keywords()``
            passes a whole set.

    Raises:
        InvalidArgumentError: ``table`` is not an Arrow table, or an option is unknown
            or invalid.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if not isinstance(table, pa.Table):
        kind = type(table).__name__
        raise InvalidArgumentError(f"write_parquet needs a pyarrow.Table, not {kind}")
    kwargs = DEFAULT_OPTIONS.keywords() | options
    target_rows = kwargs.pop("row_group_size")
    if target_rows is None:
        target_rows = DEFAULT_OPTIONS.row_group_rows
    if not isinstance(target_rows, int) or isinstance(target_rows, bool) or target_rows < 1:
        raise InvalidArgumentError(f"row_group_size must be a positive integer: {target_rows!r}")
    path = Path(path)
    tmp = path.with_name(temporary_name(path.name))
    try:
        try:
            with pq.ParquetWriter(tmp, table.schema, **kwargs) as writer:
                start = 0
                for end in _row_group_cuts(table, target_rows):
                    writer.write_table(table.slice(start, end - start), row_group_size=end - start)
                    start = end
        except OSError:
            raise
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise InvalidArgumentError(f"cannot write {path.name} as Parquet: {exc}") from None
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@dataclass(frozen=True)
class Rewritten:
    """What ``rewrite_parquet`` did: the rows written and the file sizes before and after."""

    source: Path
    target: Path
    rows: int
    bytes_before: int
    bytes_after: int

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "target": str(self.target),
            "rows": self.rows,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
        }


def rewrite_parquet(
    source: str | os.PathLike[str], target: str | os.PathLike[str] | None = None, **options: Any
) -> Rewritten:
    """Read the table at ``source`` (any format mlv reads) and write it with
    ``write_parquet`` to ``target`` (default: ``source`` itself, which must then be
    Parquet). The table is read into memory whole; the target is replaced whole.

    Raises:
        InvalidArgumentError: no target for a table that is not Parquet, or a bad option.
        FormatError: ``source`` is not a readable table.
    """
    import pyarrow as pa

    from mlv.tables.formats import PARQUET, open_batches, table_format

    source = Path(source)
    for path in (source, Path(target) if target is not None else None):
        if path is not None and path.is_symlink():
            raise InvalidArgumentError(
                f"{path.name} is a symbolic link; name the file it points to"
            )
    if not source.is_file():
        raise NotFoundError(f"{source.name}: no such file in the working tree")
    kind = table_format(source)
    if kind is None:
        raise InvalidArgumentError(
            f"{source.name} is not a table: Parquet, CSV/TSV, Arrow/Feather or JSON Lines"
        )
    if target is None and kind != PARQUET:
        raise InvalidArgumentError(
            f"{source.name} is {kind}, not Parquet: name the Parquet file to write (--output)"
        )
    target = Path(target) if target is not None else source
    if table_format(target) != PARQUET:
        raise InvalidArgumentError(f"{target.name}: the file to write must end in .parquet")
    if not target.parent.is_dir():
        raise InvalidArgumentError(f"{target}: no such folder {target.parent}")
    if target != source and target.exists() and not _is_parquet(target):
        raise InvalidArgumentError(
            f"{target.name} exists and is not Parquet: it would be lost; move it first"
        )
    before = source.stat().st_size
    schema, batches = open_batches(source)
    table = pa.Table.from_batches(list(batches), schema=schema)
    write_parquet(table, target, **options)
    return Rewritten(source, target, table.num_rows, before, target.stat().st_size)


def _is_parquet(path: Path) -> bool:
    """Whether ``path`` is a file that starts as Parquet does (its magic bytes)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PAR1"
    except OSError:
        return False


def _row_group_cuts(table: pa.Table, target_rows: int) -> list[int]:
    """Where each row group ends: rows chosen by their content, so that the same rows
    end a group wherever they sit in the table.

    A row is a candidate when a hash of its values falls under a threshold; a group
    ends at the first candidate at least ``MIN_FRACTION`` of the target past its
    start, or is cut where it stands at ``MAX_FACTOR`` times the target. After an
    insert or a removal the old candidates come back, so the groups after it are
    the old ones again, much as content-defined chunking re-finds its cut points.
    """
    n = table.num_rows
    most = min(MAX_FACTOR * target_rows, PYARROW_MAX_ROW_GROUP)
    least = max(1, int(MIN_FRACTION * target_rows))
    if n <= least:
        return [n] if n else []
    spacing = max(1, int(SPACING_FRACTION * target_rows))
    candidates = list(_candidate_rows(table, spacing))
    expected = n / spacing
    if expected >= 16 and not expected / 4 <= len(candidates) <= expected * 4:
        # The hashed columns hardly vary (the same row again and again): the content
        # cannot place the cuts, so they fall every target_rows rows, as pyarrow's do.
        candidates = list(range(target_rows, n, target_rows))
    cuts: list[int] = []
    start, i = 0, 0
    while True:
        while i < len(candidates) and candidates[i] < start + least:
            i += 1
        if i < len(candidates) and candidates[i] <= start + most:
            start = candidates[i]
        elif n - start > most:
            start += most
        else:
            break
        cuts.append(start)
    cuts.append(n)
    return cuts


def _candidate_rows(table: pa.Table, spacing: int) -> Iterator[int]:
    """Rows whose hash falls under 2**64 / spacing: one row in ``spacing`` on average."""
    import pyarrow as pa
    import pyarrow.compute as pc

    threshold = pa.scalar(min((1 << 64) // spacing, (1 << 64) - 1), pa.uint64())
    offset = 0
    for batch in table.to_batches():
        hashes = _row_hashes(batch)
        if hashes is None:
            return  # no column to hash, so no candidates (see _row_group_cuts)
        for row in pc.indices_nonzero(pc.less(hashes, threshold)).to_pylist():
            yield offset + row
        offset += batch.num_rows


def _row_hashes(batch: pa.RecordBatch) -> pa.Array | None:
    """A 64-bit hash of each row's values in the first ``HASHED_COLUMNS`` columns that
    have fixed-width values or strings (strings by length), computed with pyarrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    u64 = pa.uint64()
    golden = pa.scalar(GOLDEN, u64)
    mixed = None
    used = 0
    for column in batch.columns:
        words = _column_words(column)
        if words is None:
            continue
        words = words.cast(u64)
        # Starting from the golden ratio keeps an all-zero row from hashing to zero, which
        # would make every such row a candidate.
        mixed = pc.add(pc.multiply(mixed, golden) if mixed is not None else golden, words)
        used += 1
        if used == HASHED_COLUMNS:
            break
    if mixed is None:
        return None
    for shift, factor in ((30, MIX_1), (27, MIX_2)):
        mixed = pc.bit_wise_xor(mixed, pc.shift_right(mixed, pa.scalar(shift, u64)))
        mixed = pc.multiply(mixed, pa.scalar(factor, u64))
    return pc.bit_wise_xor(mixed, pc.shift_right(mixed, pa.scalar(31, u64)))


def _column_words(column: pa.Array) -> pa.Array | None:
    """A column's values as unsigned integers (their bits), or None for other types."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    unsigned = {8: pa.uint8(), 16: pa.uint16(), 32: pa.uint32(), 64: pa.uint64()}
    if pa.types.is_boolean(kind):
        words = pc.cast(column, pa.uint8())
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_temporal(kind):
        if kind.bit_width not in unsigned:
            return None
        words = column.view(unsigned[kind.bit_width])
    elif _is_string_like(kind):
        lengths = pc.binary_length(column)
        words = lengths.view(unsigned[lengths.type.bit_width])
    else:
        return None
    return pc.fill_null(words, 0) if words.null_count else words


def _is_string_like(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )
