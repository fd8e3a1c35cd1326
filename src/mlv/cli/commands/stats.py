"""stats: a table's profile, its columns' statistics side by side."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import typer

from mlv.cli.commands.common import JSON_OPTION, open_repo, user_paths
from mlv.cli.output import echo, print_json

if TYPE_CHECKING:
    from mlv.model.tables import Profile


def stats(
    target: str = typer.Argument(
        ..., help="A table in the working tree, or PATH@REV for the table at a revision."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Show a table's row count and each column's type, nulls, min, max, mean, distinct.

    Works for Parquet, CSV, TSV, Arrow IPC/Feather and JSON Lines. The profile is
    made when the table is added, or now (and remembered) when its content has none.

    Example: mlv stats data/train.parquet@HEAD~1
    """
    path, rev = split_target(target)
    with open_repo() as repo:
        rel = repo.relpath(user_paths([path])[0])
        profile = repo.profile(rel, rev)
    if json:
        from mlv.tables.sketch import K

        doc = profile.to_json()
        for column in doc["columns"]:  # exact below the sketch's size, estimated above
            column["distinct_exact"] = column["distinct"] is not None and column["distinct"] < K
        print_json({"path": rel, "rev": rev, **doc})
        return
    where = f"{rel}@{rev}" if rev else rel
    echo(
        f"{where}: {profile.table_format}, {profile.rows:,} rows, "
        f"{len(profile.columns)} columns  (profile {profile.id[:12]})"
    )
    show_columns(profile)
    if profile.pending:
        echo(
            f"{' and '.join(profile.pending)} not computed: this partial clone lacks the "
            f"content ('mlv restore {rel}' brings it); the other figures are as "
            "the table's own statistics record them"
        )


def split_target(target: str) -> tuple[str, str | None]:
    """PATH@REV as (path, rev); a name that holds '@' and exists is a path alone."""
    from mlv.repo.revisions import split_at

    path, at, rev = split_at(target)
    if not at or not path or not rev or (os.path.lexists(target) and not os.path.lexists(path)):
        return target, None
    return path, rev


def show_schema(profile: Profile, path: str, rev: str, json: bool) -> None:
    """``mlv show REV:PATH --schema``: the columns and their types, and the row count."""
    columns = [{"name": c.name, "type": c.type} for c in profile.columns]
    if json:
        print_json(
            {
                "path": path,
                "rev": rev or "HEAD",
                "profile": profile.id,
                "table_format": profile.table_format,
                "rows": profile.rows,
                "columns": columns,
            }
        )
        return
    from mlv.cli.views import table

    echo(f"{path} at {rev or 'HEAD'}: {profile.table_format}, {profile.rows:,} rows")
    table(["column", "type"], [[_cell(c["name"]), _cell(c["type"])] for c in columns])


def show_columns(profile: Profile) -> None:
    from mlv.cli.views import table
    from mlv.tables.sketch import K

    rows = []
    for c in profile.columns:
        distinct = "" if c.distinct is None else f"{c.distinct:,}"
        if c.distinct is not None and c.distinct >= K:
            distinct = "~" + distinct  # estimated: see mlv.tables.sketch
        if "distinct" in profile.pending:
            distinct = "?"
        rows.append(
            [
                _cell(c.name),
                _cell(c.type),
                f"{c.nulls:,}",
                _cell(_value(c.min)),
                _cell(_value(c.max)),
                "?" if "mean" in profile.pending else _value(c.mean),
                distinct,
            ]
        )
    table(["column", "type", "nulls", "min", "max", "mean", "distinct"], rows)


def _value(value: Any) -> str:
    from mlv.tables.statistic_text import statistic_text

    return statistic_text(value, 40)


def _cell(text: str) -> str:
    """Text as a table cell: on a terminal, rich must not read '[...]' as markup."""
    if sys.stdout.isatty():
        from rich.markup import escape

        return escape(text)
    return text


def register(app: typer.Typer) -> None:
    app.command()(stats)
