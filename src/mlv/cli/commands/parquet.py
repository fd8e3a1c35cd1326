"""parquet rewrite: a table rewritten as Parquet that deduplicates (``Repo.rewrite_parquet``)."""

from __future__ import annotations

import typer

from mlv.cli.commands.common import JSON_OPTION, open_repo, user_paths
from mlv.cli.output import human_size, print_json

parquet_app = typer.Typer(
    name="parquet", no_args_is_help=True, rich_markup_mode=None, add_completion=False
)


@parquet_app.callback()
def parquet() -> None:
    """Lay out Parquet files so that mlv stores their edits in little space.

    Example: mlv parquet rewrite data/features.parquet
    """


def rewrite(
    path: str = typer.Argument(..., help="A table in the working tree (any format mlv reads)."),
    output: str | None = typer.Option(
        None, "--output", "-o", help="The Parquet file to write (default: PATH itself)."
    ),
    row_group_rows: int | None = typer.Option(
        None, "--row-group-rows", help="Rows per row group on average (default 1,048,576)."
    ),
    compression: str | None = typer.Option(
        None, "--compression", help="Parquet compression (default snappy; zstd is smaller)."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Rewrite a table as Parquet whose pages and row groups end where its content says.

    Use it on a table that is rewritten and committed again and again (features,
    predictions, a training set with rows fixed or appended), before 'mlv add': a
    later edit then changes a few pages, and mlv stores a few chunks, where the same
    edit written by pandas or pyarrow's defaults re-stores most of the file. A table
    written once and never edited gains nothing. The table is read into memory;
    the file is replaced whole, never half-written. In Python: Repo.write_parquet.

    Example: mlv parquet rewrite data/features.parquet && mlv add data/features.parquet

    Example: mlv parquet rewrite data/raw.csv -o data/raw.parquet
    """
    options: dict[str, object] = {}
    if row_group_rows is not None:
        options["row_group_size"] = row_group_rows
    if compression is not None:
        options["compression"] = compression
    with open_repo() as repo:
        source = user_paths([path])[0]
        target = user_paths([output])[0] if output is not None else None
        done = repo.rewrite_parquet(source, target, **options)
    if json:
        print_json(done.to_json())
        return
    where = (
        done.target.relative_to(repo.root) if done.target.is_relative_to(repo.root) else done.target
    )
    typer.echo(
        f"Wrote {where}: {done.rows:,} rows, {human_size(done.bytes_before)} → "
        f"{human_size(done.bytes_after)}. 'mlv add' it to store it."
    )


def register(app: typer.Typer) -> None:
    parquet_app.command("rewrite")(rewrite)
    app.add_typer(parquet_app)
