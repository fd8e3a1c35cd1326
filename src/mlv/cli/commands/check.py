"""check: tables against the data contracts declared in mlv.yaml."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mlv.cli.commands.common import JSON_OPTION, open_repo, user_paths
from mlv.cli.output import echo, print_json, print_markup, styled

if TYPE_CHECKING:
    from mlv.tables.checking import CheckReport


def check(
    paths: list[str] = typer.Argument(
        None, help="Tables or folders to check (default: every table a contract names)."
    ),
    rev: str = typer.Option(
        None, "--rev", help="Check the tables as they are in this revision, not on disk."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Check tables against their data contracts in mlv.yaml.

    A contract (under `tables:` in the root mlv.yaml) declares required columns and
    their types, not-null and unique columns, composite unique keys, value ranges,
    allowed values, the largest share of nulls and bounds on the row count. Every
    violation is listed with its column, rule, count and examples. Exits 1 when a
    table breaks its contract, 0 when all meet theirs, 2 for a path that does not
    exist or a contract mlv cannot read. Tables are read batch by batch.

    Example: mlv check      mlv check data/train.parquet --rev v1 --json
    """
    with open_repo() as repo:
        report = repo.check(user_paths(paths) if paths else None, rev=rev)
    if json:
        print_json(report.to_json())
    else:
        show_check(report)
    if not report.ok:
        raise typer.Exit(1)


def show_check(report: CheckReport) -> None:
    lines = []
    for path in report.skipped:
        lines.append(styled(f"{path}: no contract in mlv.yaml names it; not checked", "dim"))
    for table in report.tables_checked:
        found = [v for v in report.violations if v.table == table]
        if not found:
            lines.append(styled(table, "bold") + ": " + styled("meets its contract", "green"))
            continue
        count = f"{len(found)} {'violation' if len(found) == 1 else 'violations'}"
        lines.append(styled(table, "bold") + ": " + styled(count, "red"))
        lines.extend(f"  {v.message}" for v in found)
    if lines:
        print_markup("\n".join(lines))
    echo(_summary(report))


def _summary(report: CheckReport) -> str:
    checked = len(report.tables_checked)
    if not checked:
        return "no table to check: no contract in mlv.yaml names one"
    failing = len(report.failing())
    if not failing:
        return (
            "1 table meets its contract"
            if checked == 1
            else f"{checked} tables meet their contracts"
        )
    count = len(report.violations)
    violations = f"{count} {'violation' if count == 1 else 'violations'}"
    if checked == 1:
        return f"1 table breaks its contract: {violations}"
    verb = "breaks its contract" if failing == 1 else "break their contracts"
    return f"{failing} of {checked} tables {verb}: {violations}"


def register(app: typer.Typer) -> None:
    app.command()(check)
