"""R1: what ``mlv reproduce`` costs over running a pipeline's commands by hand.

A three-stage pipeline (generate data, fit, predict) whose commands take about
five seconds in all is recorded with ``mlv repro`` and committed. Then, alternating,
the three commands are run by hand in a fresh copy of the project, and
``mlv reproduce HEAD`` rebuilds and verifies the commit. The target
(../shared/BENCHMARKS.md): reproduce <= 1.1 x by hand + 1 s.

Usage: python benchmarks/reproduce_r1.py [--workdir DIR] [--reps 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENERATE = """\
import random, struct, sys, yaml
p = yaml.safe_load(open("params.yaml"))
rng = random.Random(p["seed"])
with open("data.bin", "wb") as f:
    for _ in range(p["rows"]):
        f.write(struct.pack("<dd", rng.random(), rng.random()))
"""

FIT = """\
import hashlib, json, struct, yaml
p = yaml.safe_load(open("params.yaml"))
data = open("data.bin", "rb").read()
sx = sy = sxy = sxx = 0.0
for x, y in struct.iter_unpack("<dd", data):
    sx += x; sy += y; sxy += x * y; sxx += x * x
digest = data
for _ in range(p["rounds"]):
    digest = hashlib.sha256(digest).digest()
n = len(data) // 16
slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
json.dump({"slope": slope, "intercept": (sy - slope * sx) / n, "tag": digest.hex()},
          open("model.json", "w"))
"""

PREDICT = """\
import json, struct, yaml
p = yaml.safe_load(open("params.yaml"))
m = json.load(open("model.json"))
data = open("data.bin", "rb").read()
err = 0.0
with open("predictions.csv", "w") as out:
    for i, (x, y) in enumerate(struct.iter_unpack("<dd", data)):
        guess = m["slope"] * x + m["intercept"]
        err += (guess - y) ** 2
        if i % 10 == 0:
            out.write(f"{i},{guess!r}\\n")
json.dump({"mse": err / (len(data) // 16)}, open("metrics.json", "w"))
"""

PIPELINE = """\
stages:
  generate:
    cmd: python generate.py
    deps: [generate.py]
    params: [seed, rows]
    outs: [data.bin]
  fit:
    cmd: python fit.py
    deps: [fit.py, data.bin]
    params: [rounds]
    outs: [model.json]
  predict:
    cmd: python predict.py
    deps: [predict.py, model.json, data.bin]
    outs: [predictions.csv]
    metrics: [metrics.json]
"""

COMMANDS = ["python generate.py", "python fit.py", "python predict.py"]


def write_project(root: Path, rows: int, rounds: int) -> None:
    root.mkdir(parents=True)
    for name, text in {
        "generate.py": GENERATE,
        "fit.py": FIT,
        "predict.py": PREDICT,
        "mlv.yaml": PIPELINE,
        "params.yaml": f"seed: 7\nrows: {rows}\nrounds: {rounds}\n",
    }.items():
        (root / name).write_text(text)


def by_hand(project: Path, scratch: Path, env: dict[str, str]) -> float:
    """Copy the sources to a fresh folder and run the three commands there, in order."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    for name in ("generate.py", "fit.py", "predict.py", "params.yaml"):
        shutil.copy(project / name, scratch / name)
    begin = time.perf_counter()
    for cmd in COMMANDS:
        subprocess.run(cmd, shell=True, cwd=scratch, env=env, check=True)
    return time.perf_counter() - begin


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    begin = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - begin


def calibrate(seconds: float, workdir: Path, env: dict[str, str]) -> tuple[int, int]:
    """Rows and hash rounds that make the three commands take about ``seconds``.

    Every command's work grows with the rows, fit's with the rounds too: both are
    scaled together, twice, since the first measure is rough.
    """
    rows, rounds = 100_000, 200_000
    for _ in range(2):
        probe = workdir / "probe"
        if probe.exists():
            shutil.rmtree(probe)
        write_project(probe, rows, rounds)
        begin = time.perf_counter()
        for cmd in COMMANDS:
            subprocess.run(cmd, shell=True, cwd=probe, env=env, check=True)
        scale = seconds / max(time.perf_counter() - begin, 0.01)
        rows, rounds = int(rows * scale), int(rounds * scale)
        shutil.rmtree(probe)
    return max(rows, 10_000), max(rounds, 10_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mlv-r1-"))
    workdir.mkdir(parents=True, exist_ok=True)
    mlv = str(Path(sys.executable).with_name("mlv"))
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "MLV_AUTHOR_NAME": "Bench",
        "MLV_AUTHOR_EMAIL": "bench@example.com",
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    rows, rounds = calibrate(args.seconds, workdir, env)
    project = workdir / "project"
    if project.exists():
        shutil.rmtree(project)
    write_project(project, rows, rounds)
    subprocess.run([mlv, "init"], cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([mlv, "repro"], cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [mlv, "commit", "-m", "R1"], cwd=project, env=env, check=True, stdout=subprocess.DEVNULL
    )
    hand, reproduce = [], []
    for _ in range(args.reps):
        hand.append(by_hand(project, workdir / "by-hand", env))
        reproduce.append(timed([mlv, "reproduce", "HEAD"], project, env))
    h, r = statistics.median(hand), statistics.median(reproduce)
    limit = 1.1 * h + 1.0
    print(f"R1 ({rows:,} rows, {rounds:,} rounds, {args.reps} repetitions, medians)")
    print(f"  commands by hand:   {h:.2f} s  {[round(t, 2) for t in hand]}")
    print(f"  mlv reproduce HEAD: {r:.2f} s  {[round(t, 2) for t in reproduce]}")
    print(f"  overhead:           {r - h:+.2f} s ({r / h:.3f} x)")
    verdict = "met" if r <= limit else "NOT met"
    print(f"  target:             <= 1.1 x + 1 s = {limit:.2f} s: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
