"""The floor of a push to a folder remote, measured alternating with mlv's push.

For a repository with a folder remote configured, each round times, one after the
other: ``mlv push REMOTE`` into the emptied remote folder; the store's pack files
copied into a new folder with read/write, each fsynced and then the folder (the
smallest program doing a durable push's I/O); and the same copy without fsync.
Usage: ``python benchmarks/push_floor.py REPO REMOTE_FOLDER [--remote origin] [--reps 5]``.
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

BLOCK = 8 * 1024 * 1024


def copy_packs(packs: list[Path], dest: Path, *, durable: bool) -> float:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    os.sync()
    start = time.perf_counter()
    for pack in packs:
        with pack.open("rb") as src, (dest / pack.name).open("wb") as out:
            while block := src.read(BLOCK):
                out.write(block)
            if durable:
                out.flush()
                os.fsync(out.fileno())
    if durable:
        fd = os.open(dest, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    return time.perf_counter() - start


def mlv_push(mlv: str, repo: Path, remote: str, folder: Path) -> float:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a user's installation runs
    os.sync()
    start = time.perf_counter()
    subprocess.run([mlv, "push", remote], cwd=repo, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("folder", type=Path, help="the folder the remote names (emptied)")
    parser.add_argument("--remote", default="origin")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--mlv", default=str(Path(sys.executable).with_name("mlv")))
    args = parser.parse_args()
    packs = sorted((args.repo / ".mlv" / "packs").glob("*.pack"))
    rounds: dict[str, list[float]] = {"mlv push": [], "durable copy": [], "plain copy": []}
    with tempfile.TemporaryDirectory(dir=args.folder.parent) as scratch:
        dest = Path(scratch) / "copy"
        for _ in range(args.reps):
            rounds["mlv push"].append(mlv_push(args.mlv, args.repo, args.remote, args.folder))
            rounds["durable copy"].append(copy_packs(packs, dest, durable=True))
            rounds["plain copy"].append(copy_packs(packs, dest, durable=False))
    print(f"{sum(p.stat().st_size for p in packs)} bytes in {len(packs)} packs")
    for name, times in rounds.items():
        shown = ", ".join(f"{t:.2f}" for t in times)
        print(f"{name}: median {statistics.median(times):.3f} s (rounds {shown})")


if __name__ == "__main__":
    main()
