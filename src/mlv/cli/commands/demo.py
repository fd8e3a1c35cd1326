"""demo: a guided tour that versions a small generated data set with the real mlv commands."""

from __future__ import annotations

import csv
import os
import random
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import typer

from mlv.cli.output import echo, print_markup, styled
from mlv.errors import InvalidArgumentError

SEED = 7
DEMO_ENV = {"MLV_AUTHOR_NAME": "Dana Scientist", "MLV_AUTHOR_EMAIL": "dana@example.com"}


def write_rows(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def make_dataset(root: Path, rng: random.Random) -> list[dict[str, object]]:
    """A small labelled data set: a CSV table and a folder of binary 'images'."""
    rows: list[dict[str, object]] = [
        {
            "id": i,
            "sepal_length": round(rng.uniform(4.3, 7.9), 1),
            "sepal_width": round(rng.uniform(2.0, 4.4), 1),
            "species": rng.choice(["setosa", "versicolor", "virginica"]),
        }
        for i in range(2000)
    ]
    write_rows(root / "data" / "train.csv", rows)
    for i in range(40):
        image = root / "data" / "images" / f"img_{i:03d}.bin"
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(rng.randbytes(rng.randint(2_000, 40_000)))
    return rows


class Tour:
    """Runs each step as a user would type it, printing the command and its output."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {**os.environ, **DEMO_ENV}

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
    """Take a five-minute tour: version a generated data set, change it, compare, go back.

    Builds DIR (default ./mlv-demo) and runs, with the real commands: init, add,
    commit, a change and a second commit, a branch merged back, log --graph,
    diff, show, checkout of the old version, and fsck.

    Example: mlv demo /tmp/tour
    """
    root = directory.resolve()
    if root.exists() and any(root.iterdir()):
        raise InvalidArgumentError(f"{root} exists and is not empty; name a new folder")
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    tour = Tour(root)

    tour.say(f"A small ML project in {root}: a labelled table and 40 images")
    rows = make_dataset(root, rng)
    tour.mlv("init")
    tour.mlv("add", "data")
    tour.mlv("commit", "-m", "Add the raw training data")
    tour.mlv("tag", "v1")

    tour.say("Relabel 50 rows, add 10 images, drop one: status sees exactly that")
    for row in rng.sample(rows, 50):
        row["species"] = "setosa"
    write_rows(root / "data" / "train.csv", rows)
    for i in range(40, 50):
        (root / "data" / "images" / f"img_{i:03d}.bin").write_bytes(rng.randbytes(5_000))
    (root / "data" / "images" / "img_000.bin").unlink()
    tour.mlv("status")
    tour.mlv("add", "data")
    tour.mlv("commit", "-m", "Fix labels; add ten images")

    tour.say("A teammate works on a branch while main moves on, then the two merge")
    tour.mlv("switch", "-c", "more-data")
    extra = [{**r, "id": 2000 + i} for i, r in enumerate(rows[:200])]
    write_rows(root / "data" / "extra.csv", extra)
    tour.mlv("add", "data")
    tour.mlv("commit", "-m", "Add 200 extra rows")
    tour.mlv("switch", "main")
    (root / "data" / "images" / "img_050.bin").write_bytes(rng.randbytes(8_000))
    tour.mlv("add", "data")
    tour.mlv("commit", "-m", "Add one more image")
    tour.mlv("merge", "more-data")

    tour.say("The history, as a graph")
    tour.mlv("log", "--graph", "--oneline")

    tour.say("What changed in the data since the first commit, file by file")
    tour.mlv("diff", "v1", "HEAD")
    tour.mlv("show", "HEAD~1")

    tour.say("Back to the first version of the data, then forward again")
    tour.mlv("checkout", "v1")
    label_count = (root / "data" / "train.csv").read_text().count("setosa")
    echo(f"(data/train.csv is back to its first version: {label_count} 'setosa' labels)")
    tour.mlv("switch", "main")
    tour.mlv("fsck")

    tour.say("Done. Try it yourself:")
    mlv = _command_name()
    echo(f"  cd {root} && {mlv} log --graph && {mlv} show v1:data/train.csv | head")


def _command_name() -> str:
    """``mlv`` when it is on PATH, else the full path of this installation's command."""
    beside = Path(sys.executable).parent / "mlv"
    found = shutil.which("mlv")
    if found and Path(found).resolve() == beside.resolve():
        return "mlv"
    return str(beside) if beside.exists() else "mlv"


def register(app: typer.Typer) -> None:
    app.command()(demo)
