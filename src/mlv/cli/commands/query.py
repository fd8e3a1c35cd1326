"""query: SQL over tables at any revision (``Repo.open_query``), rendered or written."""

from __future__ import annotations

import json as jsonlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import typer

from mlv.cli.commands.common import open_repo
from mlv.cli.output import echo, human_size
from mlv.errors import InvalidArgumentError
from mlv.repo.layout import MLV_DIR

if TYPE_CHECKING:
    from mlv.tables.query import QueryRun

FORMATS = ("table", "csv", "json", "parquet")
SHOWN_ROWS = 100


def query(
    sql: str = typer.Argument(
        ..., help="The SQL (DuckDB's dialect); '-' reads it from standard input."
    ),
    output_format: str = typer.Option(
        "table", "--format", "-f", help="table (on screen), csv, json or parquet."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the result to this file (written whole, or not at all)."
    ),
    json: bool = typer.Option(False, "--json", help="The same as --format json."),
    stats: bool = typer.Option(
        False, "--stats", help="Say on stderr how much stored content the query read."
    ),
    memory_limit: str | None = typer.Option(
        None, "--memory-limit", help="DuckDB's memory limit (e.g. 2GB); beyond it, work spills."
    ),
) -> None:
    """Run SQL over tables at any revision, with DuckDB.

    Name a table at a revision as 'PATH@REV' after FROM or JOIN, or as
    mlv('PATH', 'REV') anywhere a table goes. Paths are relative to the repository
    root; Parquet, CSV/TSV, Arrow/Feather and JSON Lines are read. Only what the
    query needs is read: one column of a Parquet table reads that column's chunks.

    The table format shows the first 100 rows; csv, json and parquet give them all
    (parquet needs --output).

    Example: mlv query "SELECT count(*) FROM 'data/train.parquet@v1' WHERE store_id IS NULL"

    Example: mlv query "SELECT a.id, b.y - a.y AS change FROM mlv('preds.parquet', 'HEAD~1')
    a JOIN mlv('preds.parquet', 'HEAD') b USING (id)" --format csv
    """
    chosen = "json" if json else output_format.lower()
    if chosen == "table" and output is not None:  # a file's format is in its name
        chosen = output.suffix.lower().lstrip(".")
        if chosen not in _WRITERS:
            raise InvalidArgumentError(
                f"--output {output}: say the format with --format csv, json or parquet"
            )
    if chosen not in FORMATS:
        raise InvalidArgumentError(
            f"unknown format {output_format!r}: choose one of {', '.join(FORMATS)}"
        )
    if chosen == "parquet" and output is None:
        raise InvalidArgumentError("--format parquet writes a file: give --output FILE")
    text = sys.stdin.read() if sql == "-" else sql
    with open_repo() as repo, repo.open_query(text, memory_limit=memory_limit) as run:
        if chosen == "table" and output is None:
            rows = _show(run)
        else:
            with _destination(output, binary=chosen == "parquet") as out:
                rows = _WRITERS[chosen](run, out)
            if output is not None:
                noun = "row" if rows == 1 else "rows"
                sys.stderr.write(f"Wrote {rows:,} {noun} to {output}.\n")
        if stats:
            _say_read(run)


def _show(run: QueryRun) -> int:
    from mlv.cli.views import table
    from mlv.tables.pyvalues import short

    shown: list[list[str]] = []
    total = 0
    for batch in run.batches():
        total += batch.num_rows
        room = SHOWN_ROWS - len(shown)
        if room > 0:
            # By column, not as dicts: a result may hold two columns of one name.
            head = batch.slice(0, room)
            columns = [head.column(i).to_pylist() for i in range(head.num_columns)]
            shown.extend([short(v) for v in row] for row in zip(*columns, strict=True))
    if run.columns:
        table(run.columns, shown)
    more = total - len(shown)
    echo(f"({total:,} row{'s' if total != 1 else ''})")
    if more:
        sys.stderr.write(
            f"{more:,} more row(s) not shown: use --format csv or json, or --output FILE\n"
        )
    return total


def _write_csv(run: QueryRun, out: IO[Any]) -> int:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rows = 0
    try:
        with pacsv.CSVWriter(out, run.schema()) as writer:
            for batch in run.batches():
                writer.write_batch(batch)
                rows += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidArgumentError(
            f"CSV cannot hold this result ({exc}); use --format json or parquet"
        ) from None
    return rows


def _write_json(run: QueryRun, out: IO[Any]) -> int:
    from mlv.tables.pyvalues import json_value

    twice = sorted({c for c in run.columns if run.columns.count(c) > 1})
    if twice:
        raise InvalidArgumentError(
            f"the result has more than one column named {', '.join(twice)}, which JSON "
            "objects cannot hold: name them apart with AS"
        )
    rows = 0
    out.write(b"[")
    for batch in run.batches():
        for row in batch.to_pylist():
            out.write(b",\n  " if rows else b"\n  ")
            value = {k: json_value(v, None) for k, v in row.items()}
            out.write(jsonlib.dumps(value, ensure_ascii=False).encode("utf-8"))
            rows += 1
    out.write(b"\n]\n" if rows else b"]\n")
    return rows


def _write_parquet(run: QueryRun, out: IO[Any]) -> int:
    import pyarrow.parquet as pq

    rows = 0
    with pq.ParquetWriter(out, run.schema()) as writer:
        for batch in run.batches():
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


_WRITERS = {"csv": _write_csv, "json": _write_json, "parquet": _write_parquet}


@contextmanager
def _destination(output: Path | None, *, binary: bool) -> Iterator[IO[bytes]]:
    """Standard output; a file written beside itself and renamed when whole; or, for a
    device or a fifo (which a rename would replace), the thing itself."""
    if output is None:
        if binary and sys.stdout.isatty():
            raise InvalidArgumentError("parquet is binary: give --output FILE")
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    _check_output(output)
    if output.exists() and not output.is_file():
        with open(output, "wb") as out:
            yield out
        return
    temporary = output.with_name(f".{output.name}.mlv-{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as out:
            yield out
        os.replace(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _check_output(output: Path) -> None:
    """Refuse an output that would replace a folder or a link, land in a missing folder,
    or write into a repository's ``.mlv`` (its store, refs and index)."""
    if output.is_symlink():
        raise InvalidArgumentError(f"--output {output} is a symbolic link; name the file itself")
    if output.is_dir():
        raise InvalidArgumentError(f"--output {output} is a folder; name a file")
    folder = output.parent
    if not folder.is_dir():
        raise InvalidArgumentError(f"--output {output}: no such folder {folder}")
    real = folder.resolve()
    if any(part.lower() == MLV_DIR for part in real.parts):
        raise InvalidArgumentError(
            f"--output {output} is inside {MLV_DIR}, the repository's own store; write it elsewhere"
        )


def _say_read(run: QueryRun) -> None:
    names = ", ".join(t.view for t in run.tables) or "no versioned table"
    sys.stderr.write(
        f"Read {run.stats.chunks:,} chunk(s), {human_size(run.stats.bytes)} of stored "
        f"content, for {names}.\n"
    )


def register(app: typer.Typer) -> None:
    app.command()(query)
