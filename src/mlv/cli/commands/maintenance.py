"""fsck."""

from __future__ import annotations

import typer

from mlv.cli.commands.common import JSON_OPTION, open_repo
from mlv.cli.output import TerminalProgress, echo, print_json


def fsck(json: bool = JSON_OPTION) -> None:
    """Verify every object against its id and everything every ref reaches.

    Exits 1 and names each damaged or missing object when anything is wrong.

    Example: mlv fsck
    """
    with open_repo() as repo:
        report = repo.fsck(progress=TerminalProgress())
    if json:
        print_json(report.to_json())
    else:
        for problem in report.problems:
            what = problem.object_id or "-"
            echo(f"damaged: {what} ({problem.where}): {problem.problem}")
        verdict = "ok" if report.ok else f"{len(report.problems)} problem(s) found"
        echo(
            f"checked {report.objects_checked} objects and {report.commits_checked} commits: "
            f"{verdict}"
        )
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(fsck)
