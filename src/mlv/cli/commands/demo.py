"""demo: a guided tour that versions, runs and reproduces a small real ML project."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import typer

from mlv.cli.output import echo, print_markup, styled
from mlv.errors import InvalidArgumentError

DEMO_ENV = {"MLV_AUTHOR_NAME": "Dana Scientist", "MLV_AUTHOR_EMAIL": "dana@example.com"}


class Tour:
    """Runs each step as a user would type it, printing the command and its output."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # The stages run `python`: make it this interpreter, which has scikit-learn.
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        self.env = {**os.environ, **DEMO_ENV, "PATH": path}

    def say(self, text: str) -> None:
        echo()
        print_markup(styled(f"# {text}", "bold"))

    def mlv(self, *args: str) -> str:
        shown = "mlv " + " ".join(a if _plain(a) else shlex.quote(a) for a in args)
        print_markup(styled(f"$ {shown}", "cyan"))
        done = subprocess.run(
            [sys.executable, "-m", "mlv", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
        )
        out = (done.stdout + done.stderr).rstrip()
        if out:
            echo(out)
        if done.returncode not in (0, 1):
            raise InvalidArgumentError(f"the demo step '{shown}' failed: {out.splitlines()[-1]}")
        return done.stdout


def _plain(arg: str) -> bool:
    return bool(arg) and all(c.isalnum() or c in "-_./~^:=" for c in arg)


def demo(
    directory: Path = typer.Argument(Path("mlv-demo"), help="Folder to build the demo in."),
) -> None:
    """Take a five-minute tour: run, version and reproduce a small ML project.

    Builds DIR (default ./mlv-demo): a pipeline that writes a Parquet feature
    table, trains a scikit-learn random forest and scores a test set. Then, with
    the real commands: repro, commit, a parameter change, repro and commit again,
    log --graph, lineage of the predictions, metrics and params diff, SQL over
    both versions of the predictions, and a verified reproduction of the first
    model. Needs scikit-learn: install mlv
    with the demo extra (pip install 'mlv[demo]').

    Example: mlv demo /tmp/tour
    """
    from mlv.demo.project import missing_requirements, write_project

    missing = missing_requirements()
    if missing:
        raise InvalidArgumentError(
            f"the demo's ML project needs {', '.join(missing)}: "
            "install mlv with its demo extra (pip install 'mlv[demo]')"
        )
    root = directory.resolve()
    if root.exists() and any(root.iterdir()):
        raise InvalidArgumentError(f"{root} exists and is not empty; name a new folder")
    root.mkdir(parents=True, exist_ok=True)
    tour = Tour(root)

    tour.say(f"A small ML project in {root}: three stages in mlv.yaml (dvc.yaml's syntax)")
    files = write_project(root)
    echo("\n".join(f"  {name}" for name in files))
    echo((root / "mlv.yaml").read_text().split("stages:")[1].split("  train:")[0].rstrip())
    echo("  ...")
    tour.mlv("init")

    tour.say("Run the pipeline: every stage runs once and is recorded")
    tour.mlv("repro")
    tour.mlv("commit", "-m", "Baseline: 40 trees of depth 3")
    tour.mlv("tag", "baseline")

    tour.say("Change two parameters: only the stages that read them run again")
    params = root / "params.yaml"
    text = params.read_text()
    text = re.sub(r"n_estimators: \d+", "n_estimators: 150", text)
    params.write_text(re.sub(r"max_depth: \d+", "max_depth: 6", text))
    tour.mlv("repro")
    tour.mlv("commit", "-m", "Bigger forest: 150 trees of depth 6")

    tour.say("The history, as a graph")
    tour.mlv("log", "--graph", "--oneline")

    tour.say("Where did the predictions come from? Their lineage, back to the sources")
    tour.mlv("lineage", "predictions/test.parquet")

    tour.say("What did the change do to the results?")
    tour.mlv("metrics", "diff", "baseline", "HEAD")
    tour.mlv("params", "diff", "baseline", "HEAD")

    tour.say("Ask the predictions themselves: SQL over both versions, read in place")
    tour.mlv(
        "query",
        "SELECT count(*) AS rows, sum(CASE WHEN a.label <> b.label THEN 1 ELSE 0 END) "
        "AS flipped, round(avg(abs(b.proba - a.proba)), 4) AS mean_change "
        "FROM 'predictions/test.parquet@baseline' a "
        "JOIN 'predictions/test.parquet@HEAD' b USING (id)",
    )

    tour.say("Who ran what, with what: the runs behind the first model")
    tour.mlv("show", "baseline")

    tour.say("Rebuild the first model in a fresh workspace and prove it came out the same")
    tour.mlv("reproduce", "baseline")

    tour.say("Nothing changed since: the pipeline is up to date")
    tour.mlv("repro")

    tour.say("Done. Try it yourself:")
    mlv = _command_name()
    echo(f"  cd {root} && {mlv} lineage models/model.pkl && {mlv} history metrics.json")
    echo("Or see all of it in a web browser (runs, history, files, lineage, the pipeline):")
    # The pipeline's Run button runs the stages with the `python` on PATH, as `mlv repro`
    # does: it must be the one with scikit-learn, this installation's.
    path = "" if mlv == "mlv" else f'PATH="{Path(sys.executable).parent}:$PATH" '
    echo(f"  cd {root} && {path}{mlv} ui --open")


def _command_name() -> str:
    """``mlv`` when it is on PATH, else the full path of this installation's command."""
    beside = Path(sys.executable).parent / "mlv"
    found = shutil.which("mlv")
    if found and Path(found).resolve() == beside.resolve():
        return "mlv"
    return str(beside) if beside.exists() else "mlv"


def register(app: typer.Typer) -> None:
    app.command()(demo)
