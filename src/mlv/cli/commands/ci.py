"""ci: the one command a CI job runs: reproduce, check contracts, report for a pull request."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from mlv.cli.commands.common import JSON_OPTION, author_from_env, open_repo
from mlv.cli.output import echo, print_json, print_markup, styled

STDOUT = "-"


def ci(
    base: str = typer.Option(
        None,
        "--base",
        help="Compare with this revision (default: the merge base with main, else the parent).",
    ),
    reproduce: bool = typer.Option(
        False, "--reproduce", help="Re-execute the head's runs and compare every output."
    ),
    markdown: str = typer.Option(
        None, "--markdown", help="Write the Markdown report to this file ('-': stdout)."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Check HEAD for a CI job and write a Markdown report for the pull request.

    With --reproduce, the runs behind HEAD are executed again in a fresh workspace
    and every output compared with the recorded one. The tables at HEAD are checked
    against the data contracts in mlv.yaml. Metrics (with deltas), parameters and
    data files (with row counts for tables) are compared with the base: the merge
    base with main when HEAD is on another branch, else HEAD's parent. The report
    goes to stdout, or with --markdown FILE to the file (a one-line summary on
    stdout); command output goes to stderr. Exits 0 when HEAD reproduced and meets
    its contracts, 1 when not, 2 for a bad revision.

    Example: mlv ci --reproduce --markdown report.md
    """
    if json and markdown == STDOUT:
        from mlv.errors import InvalidArgumentError

        raise InvalidArgumentError("--json and --markdown - both print to stdout: choose one")
    with open_repo() as repo:
        report = repo.ci(
            base=base,
            reproduce=reproduce,
            environ=os.environ,
            stdout=sys.stderr,
            author=author_from_env(),
        )
    if markdown is not None and markdown != STDOUT:
        _write(Path(markdown), report.to_markdown())
    if json:
        print_json(report.to_json())
    elif markdown is None or markdown == STDOUT:
        sys.stdout.write(report.to_markdown())
    else:
        verdict = styled("passed", "green") if report.ok else styled("failed", "red")
        why = f": {'; '.join(report.problems())}" if not report.ok else ""
        print_markup(f"mlv ci: {report.head[:12]} {verdict}{why}")
        echo(f"report written to {markdown}")
    if not report.ok:
        raise typer.Exit(1)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        from mlv.errors import InvalidArgumentError

        raise InvalidArgumentError(f"cannot write {path}: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    app.command()(ci)
