"""runs: the experiments table, every recorded run with its params and metrics."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from mlv.cli.commands.common import JSON_OPTION, open_repo
from mlv.cli.output import print_json, print_markup, styled, warn

if TYPE_CHECKING:
    from mlv.lineage.runs_table import RunTable

TERMINAL_LIMIT = 50
STATUS_STYLES = {
    "identical": "green",
    "equivalent": "green",
    "close": "cyan",
    "different": "red",
    "failed": "red",
    "not yet": "dim",
}


def _split(values: list[str] | None) -> list[str]:
    """Repeated options whose values may also be comma-separated lists."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def runs(
    rev: str = typer.Argument("HEAD", help="The revision whose history to list."),
    all_refs: bool = typer.Option(
        False, "--all", help="List the runs in the history of every branch and tag."
    ),
    stage: str = typer.Option(None, "--stage", help="Only the runs of this stage (run name)."),
    since: str = typer.Option(
        None, "--since", help="Only runs started at or after this time ('3 days ago', a date)."
    ),
    until: str = typer.Option(
        None, "--until", help="Only runs started at or before this time (a date: its end)."
    ),
    where: list[str] = typer.Option(
        None,
        "--where",
        "-w",
        help="A filter, COLUMN OP VALUE with OP one of = != < <= > >= ~ (contains); "
        "repeat for several, all must hold. E.g. 'metrics.acc > 0.9'.",
    ),
    sort: list[str] = typer.Option(
        None,
        "--sort",
        "-s",
        help="Sort by these columns (comma-separated or repeated), -NAME for descending; "
        "missing values last. Default: newest first.",
    ),
    columns: list[str] = typer.Option(
        None,
        "--columns",
        "-c",
        help="Show these columns (comma-separated), or prefixes such as 'params.'.",
    ),
    only_changed: bool = typer.Option(
        False, "--only-changed", help="Hide the columns whose value is the same in every run."
    ),
    limit: int = typer.Option(
        None,
        "--limit",
        "-n",
        help=f"Show at most N runs (default {TERMINAL_LIMIT} in the table, every run with "
        "--json or --csv; 0 for every run).",
    ),
    offset: int = typer.Option(0, "--offset", help="Skip the first N runs (the next page)."),
    csv: bool = typer.Option(
        False,
        "--csv",
        help="Print the rows as CSV (text a spreadsheet would run as a formula gets a leading ').",
    ),
    json: bool = JSON_OPTION,
) -> None:
    """List the recorded runs: when, who, stage, commit, duration, reproduction status,
    and every parameter and metric, one row per run.

    The runs are those the commits in the history of REV carry (with --all, of every
    branch and tag), newest first. Status is how the latest 'mlv reproduce' that
    re-executed the run compared its outputs: identical, equivalent, close,
    different, failed, or not yet. Columns are named run, when, who, stage, commit,
    branch, duration, status, params.KEY and metrics.KEY.

    Example: mlv runs --sort -metrics.acc -w 'metrics.acc > 0.9' --only-changed
    """
    from mlv.errors import InvalidArgumentError

    if json and csv:
        raise InvalidArgumentError("--json and --csv ask for two formats: pick one")
    if limit is None:
        limit = 0 if json or csv else TERMINAL_LIMIT
    with open_repo() as repo:
        table = repo.runs_table(
            rev=rev,
            all_refs=all_refs,
            stage=stage,
            since=since,
            until=until,
            where=list(where or []),
            sort=_split(sort),
            columns=_split(columns),
            only_changed=only_changed,
            limit=limit or None,
            offset=offset,
        )
    for message in table.warnings:
        warn(message)
    if json:
        print_json(table.to_json())
    elif csv:
        table.write_csv(sys.stdout)
    else:
        _show(table, filtered=bool(stage or since or until or where))


def _show(table: RunTable, *, filtered: bool) -> None:
    from mlv.cli.views import table as show_table

    if not table.rows:
        if table.total:
            print_markup(f"no runs past the first {table.total} (--offset {table.offset})")
        elif filtered:
            print_markup("no runs match")
        else:
            print_markup("no recorded runs: record one with 'mlv run' and commit its outputs")
        return
    headers = [c.name for c in table.columns]
    show_table(
        headers,
        [[_cell(c.name, row.values.get(c.name)) for c in table.columns] for row in table.rows],
    )
    first, last = table.offset + 1, table.offset + len(table.rows)
    if first > 1 or last < table.total:
        more = f"; --offset {last} for the next page" if last < table.total else ""
        print_markup(styled(f"runs {first}-{last} of {table.total:,}{more}", "dim"))


def _cell(column: str, value: Any) -> str:
    from mlv.lineage.runs_table import cell_text

    if value is None:
        return "—"
    if column in ("run", "commit"):
        text = str(value)[:12]
    elif column == "when":
        text = datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M")
    elif column == "who":
        text = str(value).split(" <", 1)[0]
    elif column == "duration":
        text = _duration(float(value))
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = cell_text(value)
    if len(text) > 40:
        text = text[:39] + "…"
    if column == "status":
        return styled(text, STATUS_STYLES.get(text, "none"))
    return styled(text, "none")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def register(app: typer.Typer) -> None:
    app.command()(runs)
