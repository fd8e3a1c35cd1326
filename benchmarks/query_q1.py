"""Q1: a one-column SQL aggregate at a revision, ``mlv query`` against DuckDB on the plain file.

For a repository that has committed a Parquet table (W3: ``run.py`` leaves one in
``WORKDIR/runs``), each round times, one after the other, as whole processes:
``mlv query "SELECT avg(COL) FROM 'PATH@HEAD'"``, and a Python process that imports
DuckDB and runs the same aggregate over the working tree's file. It then reports
the bytes of stored content the query read (``--stats``) against the file's size.
Usage: ``python benchmarks/query_q1.py REPO [--path data/features.parquet]
[--column f3] [--reps 5]``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--path", default="data/features.parquet")
    parser.add_argument("--column", default="f3")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--mlv", default=str(Path(sys.executable).with_name("mlv")))
    args = parser.parse_args()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a user's installation runs
    at_rev = f"SELECT avg({args.column}) FROM '{args.path}@HEAD'"
    plain = f"SELECT avg({args.column}) FROM '{args.path}'"
    duckdb_cmd = [
        sys.executable,
        "-c",
        f"import duckdb; print(duckdb.sql({plain!r}).fetchall())",
    ]
    rounds: dict[str, list[float]] = {"mlv query": [], "DuckDB, plain file": []}
    said = ""
    for _ in range(args.reps):
        seconds, said = timed([args.mlv, "query", at_rev, "--stats"], args.repo, env)
        rounds["mlv query"].append(seconds)
        rounds["DuckDB, plain file"].append(timed(duckdb_cmd, args.repo, env)[0])
    medians = {name: statistics.median(times) for name, times in rounds.items()}
    for name, times in rounds.items():
        shown = ", ".join(f"{t:.2f}" for t in times)
        print(f"{name}: median {medians[name]:.3f} s (rounds {shown})")
    print(f"ratio: {medians['mlv query'] / medians['DuckDB, plain file']:.2f} x DuckDB")
    size = (args.repo / args.path).stat().st_size
    read = re.search(r"Read ([\d,]+) chunk\(s\), ([\d.]+) (KiB|MiB|GiB)", said)
    if read:
        scale = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}[read[3]]
        got = float(read[2]) * scale
        print(
            f"read {read[1]} chunks, {got / 1e6:.1f} MB of stored content: "
            f"{100 * got / size:.1f} % of the file's {size / 1e6:.1f} MB"
        )


if __name__ == "__main__":
    main()
