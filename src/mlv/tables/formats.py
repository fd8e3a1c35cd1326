"""Which files are tables, and reading them as a stream of record batches with pyarrow.

Parquet and Arrow IPC carry their types; CSV, TSV and JSON Lines are typed from the
whole file by ``mlv.tables.textformats``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from mlv.errors import FormatError
from mlv.tables.textformats import open_csv, open_jsonl

if TYPE_CHECKING:
    import pyarrow as pa

PARQUET = "parquet"
CSV = "csv"
ARROW = "arrow"
JSONL = "jsonl"

FORMAT_OF_SUFFIX = {
    ".parquet": PARQUET,
    ".pq": PARQUET,
    ".csv": CSV,
    ".tsv": CSV,
    ".arrow": ARROW,
    ".feather": ARROW,
    ".ipc": ARROW,
    ".jsonl": JSONL,
    ".ndjson": JSONL,
}

# Rows per batch when a format does not decide it (CSV and JSON Lines use bytes).
BATCH_ROWS = 64 * 1024


def table_format(path: str | Path) -> str | None:
    """The table format a path's name says, or None for anything else."""
    return FORMAT_OF_SUFFIX.get(Path(path).suffix.lower())


def is_table(path: str | Path) -> bool:
    return table_format(path) is not None


def open_batches(
    path: Path, fmt: str | None = None, columns: Sequence[str] | None = None
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema of a table file and an iterator over its record batches: the one way
    mlv reads a table, for profiles, contracts, diffs and the comparison of outputs.

    Never loads the whole table: Parquet is read row group by row group, Arrow IPC
    batch by batch, CSV and JSON Lines block by block, after a first pass over the file
    that fixes their column types (see the module's docstring). Feather version 1 is
    the exception, read whole (see ``_open_ipc``). A file that is not a
    valid table raises ``FormatError`` naming the problem (at open or while
    iterating). ``columns`` keeps only those of them the table has in the batches
    (Parquet then reads no others); the schema stays the whole table's. The file is
    closed once the batches are read to the end, or dropped.
    """
    schema, batches = _open_batches(path, fmt, columns)
    try:
        schema.names  # noqa: B018 - pyarrow decodes names lazily: a bad one fails here
    except UnicodeDecodeError:
        raise FormatError(f"{Path(path).name}: a column name is not UTF-8 text") from None
    return schema, batches


def read_ahead(
    batches: Iterator[pa.RecordBatch], pool: ThreadPoolExecutor
) -> Iterator[pa.RecordBatch]:
    """The batches, the next one decoded on ``pool`` while the caller works on the current
    one (pyarrow's readers release the GIL)."""
    done = object()
    pending = pool.submit(next, batches, done)
    while (batch := pending.result()) is not done:
        pending = pool.submit(next, batches, done)
        yield batch


def _open_batches(
    path: Path, fmt: str | None, columns: Sequence[str] | None
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """:func:`open_batches`, without its check of the column names."""
    import pyarrow as pa

    fmt = fmt or table_format(path)
    if columns is not None and fmt != PARQUET:
        schema, batches = _open_batches(path, fmt, None)
        kept = [name for name in schema.names if name in set(columns)]
        return schema, (batch.select(kept) for batch in batches)
    if fmt not in (PARQUET, ARROW, CSV, JSONL):
        raise FormatError(
            f"{Path(path).name} is not a table (Parquet, CSV, Arrow IPC or JSON Lines)"
        )
    try:
        source = pa.OSFile(str(path))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FormatError(
            f"{Path(path).name} is not a readable {fmt} table: {_short(exc)}"
        ) from None
    try:
        if fmt == PARQUET:
            import pyarrow.parquet as pq

            # pre_buffer would read every row group's pages ahead and hold them until the
            # iterator ends: memory grows with the file (330 MB for W3) instead of one group.
            parquet = pq.ParquetFile(source, pre_buffer=False)
            schema = parquet.schema_arrow
            wanted = None if columns is None else [c for c in schema.names if c in set(columns)]
            batches = parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted)
        elif fmt == ARROW:
            schema, batches = _open_ipc(path, source)
        elif fmt == CSV:
            schema, batches = open_csv(path, source)
        else:
            schema, batches = open_jsonl(source)
    except (pa.ArrowException, OSError, ValueError) as exc:
        source.close()
        raise FormatError(
            f"{Path(path).name} is not a readable {fmt} table: {_short(exc)}"
        ) from None
    except BaseException:
        source.close()
        raise
    return schema, _guarded(batches, path, source)


def _open_ipc(path: Path, source: pa.NativeFile) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """An Arrow IPC file (Feather version 2), an IPC stream, or a Feather version 1 file."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    try:
        reader = ipc.open_file(source)  # the random-access file format (Feather v2)

        def file_batches() -> Iterator[pa.RecordBatch]:
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)

        return reader.schema, file_batches()
    except pa.ArrowInvalid:
        pass
    try:
        source.seek(0)
        stream = ipc.open_stream(source)  # the streaming format
        return stream.schema, iter(stream)
    except pa.ArrowInvalid:
        pass
    import pyarrow.feather as feather

    # Feather version 1 (deprecated by pyarrow) has no batches to stream: read whole.
    table = feather.read_table(str(path))
    return table.schema, iter(table.to_batches(max_chunksize=BATCH_ROWS))


def _guarded(
    batches: Iterator[pa.RecordBatch], path: Path, source: pa.NativeFile
) -> Iterator[pa.RecordBatch]:
    """Batches, with a damaged or truncated file reported as ``FormatError``; ``source``
    is closed when they end or are dropped."""
    import pyarrow as pa

    try:
        yield from batches
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FormatError(f"{Path(path).name} is damaged or truncated: {_short(exc)}") from None
    finally:
        source.close()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
