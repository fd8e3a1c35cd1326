"""run, repro, reproduce: executing commands and pipelines, and verifying commits."""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any

import typer

from mlv.cli.commands.common import JSON_OPTION, author_from_env, open_repo
from mlv.cli.output import echo, human_size, print_json, print_markup, styled


def run(
    command: list[str] = typer.Argument(..., help="The command to run, after '--'."),
    name: str = typer.Option(
        None, "--name", "-n", help="A name for the run (default: the first output's name)."
    ),
    deps: list[str] = typer.Option(None, "--dep", "-d", help="A file or folder the command reads."),
    outs: list[str] = typer.Option(
        None, "--out", "-o", help="A file or folder the command writes."
    ),
    params: list[str] = typer.Option(
        None,
        "--params",
        "-p",
        help="Parameters it reads: [FILE:]KEY[,KEY…] (FILE defaults to params.yaml).",
    ),
    metrics: list[str] = typer.Option(
        None, "--metrics", "-M", help="A JSON or YAML metrics file it writes."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Run a command and record it: inputs, outputs, parameters, metrics, environment.

    The dependencies are hashed before the command runs and the outputs after;
    outputs are deleted first, as DVC does, so that what is recorded is what the
    command wrote (content of theirs that mlv never stored is gone).
    The outputs are staged, and the next 'mlv commit' carries the run. A failing
    command records nothing, leaves its files for inspection, and mlv exits with
    its exit code. One argument is run as a shell command line; several are quoted
    as given.

    Example: mlv run -n train -d data.csv -d train.py -p lr -o model.pkl -- python train.py
    """
    from mlv.runs.recorder import parse_params_option

    cmd = command[0] if len(command) == 1 else shlex.join(command)
    with open_repo() as repo:
        run_id, record = repo.run(
            cmd,
            name=name,
            deps=_here(deps),
            outs=_here(outs),
            params=parse_params_option(params or [], os.getcwd()),
            metrics=_here(metrics),
            wdir=os.getcwd(),
            environ=os.environ,
            stdout=sys.stderr if json else None,
            author=author_from_env(),
        )
    if json:
        print_json({"id": run_id, **record.body()})
        return
    print_markup(
        f"recorded run {styled(record.name, 'bold')} {run_id[:12]} "
        f"({record.duration_ms / 1000:.1f} s): "
        + ", ".join(f"{p} ({human_size(a.size)})" for p, a in record.outs.items())
    )
    echo("the outputs are staged; 'mlv commit' records them with this run")


def repro(
    targets: list[str] = typer.Argument(None, help="Stages to bring up to date (default: all)."),
    force: bool = typer.Option(False, "--force", "-f", help="Run the stages even if unchanged."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would run; run nothing."),
    keep_going: bool = typer.Option(
        False, "--keep-going", "-k", help="After a failure, go on with stages that do not need it."
    ),
    downstream: bool = typer.Option(
        False, "--downstream", help="Also run the stages that depend on the targets."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Run the pipeline in mlv.yaml (or dvc.yaml): only the stages whose inputs changed.

    A stage runs when its command, dependencies, parameters or environment differ
    from every earlier run of it; otherwise its outputs are kept, or put back
    from the run cache. A stage's outputs are deleted before it runs, unless
    declared with persist: true. Each run is recorded as 'mlv run' records it, and the
    next 'mlv commit' carries them. The file uses dvc.yaml's syntax: stages with
    cmd, deps, params, outs, metrics and wdir, params.yaml, ${...} and foreach.

    Example: mlv repro train
    """
    from mlv.errors import StagesFailedError

    reporter = _StageLines(to_stderr=json)
    try:
        with open_repo() as repo:
            result = repo.repro(
                targets or (),
                force=force,
                dry_run=dry_run,
                keep_going=keep_going,
                downstream=downstream,
                environ=os.environ,
                reporter=reporter,
                stdout=sys.stderr if json else None,
                author=author_from_env(),
            )
    except StagesFailedError as exc:
        if json:  # what happened to each stage; the error line and exit code follow
            print_json(exc.result.to_json())
        raise
    if json:
        print_json(result.to_json())
        return
    ran = sum(1 for s in result.stages if s.status == "ran")
    if dry_run:
        todo = [s for s in result.stages if s.status.startswith("would")]
        echo(f"{len(todo)} of {len(result.stages)} stage(s) would run or be restored")
    elif ran or any(s.status == "restored" for s in result.stages):
        echo("the outputs are staged; 'mlv commit' records them with their runs")
    else:
        echo("everything is up to date")


class _StageLines:
    """One line per stage as it starts and as it ends: on stdout, or stderr beside --json."""

    def __init__(self, to_stderr: bool) -> None:
        self.to_stderr = to_stderr

    def _say(self, text: str, style: str = "") -> None:
        if self.to_stderr:
            sys.stderr.write(text + "\n")
            return
        print_markup(styled(text, style) if style else text)
        sys.stdout.flush()

    def starting(self, stage: Any, reason: str) -> None:
        sys.stderr.flush()
        self._say(f"running stage {stage.name} ({reason}): {stage.cmd}", "bold")

    def finished(self, outcome: Any) -> None:
        if outcome.status == "ran":
            text = f"stage {outcome.stage} done in {outcome.duration_ms / 1000:.1f} s"
        elif outcome.status == "failed":
            return  # the error line says it
        else:
            reason = f" ({outcome.reason})" if outcome.reason else ""
            text = f"stage {outcome.stage}: {outcome.status}{reason}"
        self._say(text, "green" if outcome.status in ("ran", "unchanged") else "yellow")


def reproduce(
    rev: str = typer.Argument("HEAD", help="The commit to reproduce."),
    target: str = typer.Option(
        None, "--target", help="Rebuild only this output and what it needs."
    ),
    workspace: str = typer.Option(
        None, "--workspace", help="Rebuild in this folder (new or empty; kept afterwards)."
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the temporary workspace afterwards."),
    rtol: float = typer.Option(1e-9, "--rtol", help="Relative tolerance for numbers."),
    atol: float = typer.Option(0.0, "--atol", help="Absolute tolerance for numbers."),
    exact: bool = typer.Option(False, "--exact", help="Accept identical bytes only."),
    json: bool = JSON_OPTION,
) -> None:
    """Rebuild a commit's outputs in a fresh workspace and check they came out the same.

    The commit's inputs, code and parameters are written to an isolated folder
    (your working tree is never touched), its recorded runs are executed again in
    order with a controlled environment (PYTHONHASHSEED, TZ, locale,
    SOURCE_DATE_EPOCH, thread counts), and every output is compared with the
    recorded one: identical (same bytes), equivalent (same table rows or JSON/YAML
    values), close (numbers within --rtol/--atol) or different. Exits 0 when all
    match, 1 when any output differs, 2 when a command fails.

    Example: mlv reproduce HEAD~1 --target model.pkl
    """
    from mlv.errors import ReproductionFailedError

    reporter = _ReproduceLines(quiet=json)
    try:
        with open_repo() as repo:
            report = repo.reproduce(
                rev,
                target=os.path.join(os.getcwd(), target) if target else None,
                workspace=os.path.abspath(workspace) if workspace else None,
                keep=keep,
                rtol=rtol,
                atol=atol,
                exact=exact,
                environ=os.environ,
                reporter=reporter,
                stdout=sys.stderr if json else None,
                author=author_from_env(),
            )
    except ReproductionFailedError as exc:
        if json:  # the report up to the failure; the error line and exit code follow
            print_json(exc.report.to_json())
        raise
    if json:
        print_json(report.to_json())
    else:
        show_reproduction(report)
    if not report.ok:
        raise typer.Exit(1)


class _ReproduceLines:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def starting(self, run_id: str, run: Any) -> None:
        if not self.quiet:
            print_markup(f"running {styled(run.name, 'bold')} {run_id[:12]}: {run.cmd}")
            sys.stdout.flush()

    def compared(self, output: Any) -> None:
        pass


def show_reproduction(report: Any) -> None:
    from mlv.cli.views import result_style, table

    rows = [
        (o.path, o.run, styled(o.result, result_style(o.result)), o.detail) for o in report.outputs
    ]
    table(["output", "run", "result", "detail"], rows)
    for note in report.notes:
        echo(f"note: {note}")
    if report.drift:
        echo("environment drift (recorded → now):")
        for name, (before, after) in sorted(report.drift.items()):
            echo(f"  {name}: {before} → {after}")
    else:
        echo("environment: same Python and packages as recorded")
    counts: dict[str, int] = {}
    for o in report.outputs:
        counts[o.result] = counts.get(o.result, 0) + 1
    summary = ", ".join(f"{n} {r}" for r, n in counts.items())
    word = "reproduced" if report.ok else "NOT reproduced"
    print_markup(
        styled(f"{word}: {summary}", "green" if report.ok else "red")
        + f" ({report.duration_ms / 1000:.1f} s; recorded as {report.id[:12]})"
    )
    if report.workspace:
        echo(f"workspace kept at {report.workspace}")


def _here(paths: list[str] | None) -> list[str]:
    return [os.path.join(os.getcwd(), p) for p in paths or []]


def register(app: typer.Typer) -> None:
    app.command(context_settings={"allow_interspersed_args": False})(run)
    app.command()(repro)
    app.command()(reproduce)
