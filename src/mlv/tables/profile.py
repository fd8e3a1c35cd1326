"""Profiling a table file: schema, row count and per-column statistics, batch by batch."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from mlv.model.tables import Profile
from mlv.tables.footer import footer_profile
from mlv.tables.formats import PARQUET, open_batches, read_ahead, table_format
from mlv.tables.statistics import ColumnStats, TableStats

if TYPE_CHECKING:
    import pyarrow as pa

WORKERS = max(2, min(4, os.cpu_count() or 1))
# A table this small gets its complete profile even on add: it costs some 0.2 s, and
# the profile that travels with history then has every figure, so a clone without the
# content shows what the original shows.
COMPLETE_BELOW = 16 * 1024 * 1024


def profile_file(
    path: Path,
    fmt: str | None = None,
    *,
    on_rows: Callable[[int], None] | None = None,
    complete: bool = True,
    complete_below: int | None = None,
) -> Profile:
    """The profile of a table file, read as a stream of batches: never loaded whole.

    ``complete`` False makes the quick profile ``mlv add`` stores for a table over
    ``complete_below`` bytes (default ``COMPLETE_BELOW``): a Parquet file written by
    pyarrow is profiled from its footer (``mlv.tables.footer``: mean and distinct
    pending), any other table in one pass without the distinct sketch (distinct
    pending), which is most of a pass's cost. ``on_rows`` hears how many rows each
    batch had, for a progress bar. Raises ``FormatError`` naming the problem when the
    file is not a readable table.
    """
    fmt = fmt or table_format(path)
    small = COMPLETE_BELOW if complete_below is None else complete_below
    if not complete and path.stat().st_size <= small:
        complete = True  # cheap enough; and a clone without the content has every figure
    if not complete and fmt == PARQUET:
        found = _from_footer(path)
        if found is not None:
            return found
    schema, batches = open_batches(path, fmt)
    stats = TableStats(schema, distinct=complete)
    # pyarrow's kernels release the GIL: the columns of a batch are profiled side by side.
    with ThreadPoolExecutor(WORKERS) as pool:
        for batch in read_ahead(batches, pool):
            stats.add(batch, pool)
            if on_rows is not None:
                on_rows(batch.num_rows)
    return Profile(
        table_format=str(fmt),
        rows=stats.rows,
        columns=tuple(stats.profiles()),
        pending=() if complete else ("distinct",),
    )


def _from_footer(path: Path) -> Profile | None:
    import pyarrow as pa

    try:
        return footer_profile(path, _read_columns)
    except (pa.ArrowException, OSError, ValueError):
        return None  # the full read says what is wrong with the file


def _read_columns(path: Path, fields: list[pa.Field]) -> list[ColumnStats]:
    """Statistics of the columns ``fields`` of a Parquet file names, read alone."""
    names = [f.name for f in fields]
    stats = [ColumnStats(f.type, distinct=False) for f in fields]
    _, batches = open_batches(path, PARQUET, columns=names)
    for batch in batches:
        for found, name in zip(stats, names, strict=True):
            found.add(batch.column(name))
    return stats


def row_count(path: Path, fmt: str | None = None) -> int | None:
    """The rows a table holds when its footer says so (Parquet, Arrow IPC files), else None."""
    import pyarrow as pa

    fmt = fmt or table_format(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if fmt == "arrow":
            import pyarrow.ipc as ipc

            with ipc.open_file(path) as reader:
                return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
    except (pa.ArrowException, OSError, ValueError):
        return None
    return None
