"""A page of a table's rows at a revision, read without reading the whole table.

Parquet: the footer, then the column chunks of the row groups that hold the page and
no others, through a small read buffer, so that the last page of a 1 GB file costs
what the first does. Other formats (CSV, TSV, Arrow, JSON Lines) have no index of
rows: DuckDB streams the stored file up to the page's last row and stops there.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlv.errors import InvalidArgumentError
from mlv.tables.formats import PARQUET, table_format

if TYPE_CHECKING:
    import pyarrow as pa

# Parquet pages are read through a buffer of this size, not a column chunk at once.
PARQUET_BUFFER = 1 << 20


@dataclass(frozen=True)
class RowSlice:
    """Rows ``offset`` to ``offset + table.num_rows`` of a table of ``total`` rows."""

    total: int
    offset: int
    table: pa.Table


def read_rows(
    path: str,
    commit_id: str,
    offset: int,
    limit: int,
    *,
    open_file: Callable[[], AbstractContextManager[Any]],
    query: Callable[[str], pa.Table],
    known_rows: int | None = None,
) -> RowSlice:
    """Rows ``offset`` to ``offset + limit`` of the table ``path`` in ``commit_id``.

    ``open_file`` opens the stored file as a seekable binary file (ranged reads);
    ``query`` runs SQL in which ``mlv(path, rev)`` names a stored table; ``known_rows``
    (from a stored profile) spares a count of a table with no index of rows.

    Raises:
        InvalidArgumentError: ``path`` is not a table, or ``offset`` or ``limit`` is
            negative (``limit`` must be at least 1).
    """
    if offset < 0 or limit < 1:
        raise InvalidArgumentError(
            f"rows from {offset}, {limit} of them: the offset must be 0 or more and "
            "the limit 1 or more"
        )
    kind = table_format(path)
    if kind is None:
        raise InvalidArgumentError(f"{path} is not a table: it has no rows to read")
    if kind == PARQUET:
        with open_file() as source:
            total, table = _parquet_rows(source, offset, limit)
        return RowSlice(total, offset, table)
    source = f"mlv({_sql_text(path)}, {_sql_text(commit_id)})"
    table = query(f"SELECT * FROM {source} LIMIT {limit} OFFSET {offset}")
    if known_rows is None:
        known_rows = int(query(f"SELECT count(*) AS n FROM {source}").column("n")[0].as_py())
    return RowSlice(known_rows, offset, table)


def _parquet_rows(source: Any, offset: int, limit: int) -> tuple[int, pa.Table]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source, pre_buffer=False, buffer_size=PARQUET_BUFFER)
    meta = parquet.metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    groups, skip = covering_groups(sizes, offset, limit)
    batches: list[pa.RecordBatch] = []
    wanted = limit
    if groups:
        for batch in parquet.iter_batches(batch_size=limit, row_groups=groups):
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            piece = batch.slice(skip, wanted)
            skip = 0
            batches.append(piece)
            wanted -= piece.num_rows
            if wanted == 0:
                break
    return meta.num_rows, pa.Table.from_batches(batches, schema=parquet.schema_arrow)


def covering_groups(sizes: list[int], offset: int, limit: int) -> tuple[list[int], int]:
    """The row groups (by their row counts ``sizes``) that hold rows ``offset`` to
    ``offset + limit``, and how many rows of the first to skip."""
    groups: list[int] = []
    start = skip = 0
    for index, size in enumerate(sizes):
        end = start + size
        if end > offset and start < offset + limit:
            if not groups:
                skip = offset - start
            groups.append(index)
        start = end
    return groups, skip


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
