"""Time `mlv ui`: its start-up, and the time to the first byte of its pages, on the
1,000-commit history of ``lineage_history.py`` (two runs per commit, one more every
10th).

The server runs as ``mlv ui --port 0`` would for a user; each page is fetched with a
fresh connection, and the time from sending the request to the first byte of the
response is taken (the page is server-rendered, so that is when its content is ready).
The first request of each page is shown apart: it imports the page's code and fills
the caches of immutable objects; a target is met when both it and the median are
under it.

    python benchmarks/ui_pages.py                        # 1,000 commits, 7 repetitions
    python benchmarks/ui_pages.py --workdir /tmp/lh      # reuse lineage_history's repository

Targets: Runs under 300 ms, lineage under 1 s.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import statistics
import subprocess
import time
from pathlib import Path

from bench_support import benchmark_repo, mlv_exe
from lineage_history import build

TARGETS = {"runs": 0.3, "lineage": 1.0}


def first_byte(host: str, port: int, path: str) -> tuple[float, int, int]:
    """Seconds to the first byte of ``path``, its status and its size."""
    connection = http.client.HTTPConnection(host, port, timeout=60)
    began = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    response.fp.peek(1)  # type: ignore[union-attr]
    seconds = time.perf_counter() - began
    body = response.read()
    connection.close()
    return seconds, response.status, len(body)


def start(root: Path) -> tuple[subprocess.Popen[str], str, int, float]:
    """``mlv ui --port 0`` in ``root``: the process, its address, and the seconds from
    starting the process to the first page answered."""
    began = time.perf_counter()
    process = subprocess.Popen(
        [mlv_exe(), "ui", "--port", "0"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    match = re.search(r"http://([\d.]+):(\d+)/", process.stdout.readline())
    if match is None:
        process.kill()
        raise SystemExit("mlv ui did not print its address")
    host, port = match.group(1), int(match.group(2))
    first_byte(host, port, "/history?limit=1")
    return process, host, port, time.perf_counter() - began


def stop(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument(
        "--settle", type=float, default=3.0, help="seconds from start-up to the first page"
    )
    parser.add_argument("--workdir", type=Path, help="keep the repository here (reused if built)")
    args = parser.parse_args()

    with benchmark_repo(args.workdir, "mlv-ui-", build, args.commits) as root:
        startups, at_once = [], []
        for _ in range(3):
            process, host, port, seconds = start(root)
            startups.append(seconds)
            at_once.append(first_byte(host, port, "/runs")[0])
            stop(process)
        startup_ms = statistics.median(startups) * 1000
        print(f"{'mlv ui start-up (to the first page)':44} {startup_ms:7.0f} ms")
        at_once_ms = statistics.median(at_once) * 1000
        print(f"{'Runs, asked for the moment it starts':44} {at_once_ms:7.0f} ms")
        process, host, port, _ = start(root)
        # As a user would: the page opens a moment after start-up, while the server
        # reads the branch's runs in the background.
        time.sleep(args.settle)
        try:
            pages = [
                ("runs", "Runs, first page (50 rows)", "/runs"),
                ("runs", "Runs, sorted by a metric", "/runs?sort=-metrics.acc"),
                ("runs", "Runs, filtered", "/runs?where=metrics.acc+%3E+0.5"),
                ("lineage", "Lineage of the model (upstream)", "/lineage?path=models/model.pkl"),
                (
                    "lineage",
                    "Lineage of raw.csv (downstream)",
                    "/lineage?path=data/raw.csv&direction=downstream",
                ),
                ("", "History, first page", "/history"),
                ("", "Commit page", "/commit/HEAD"),
            ]
            verdicts = []
            for kind, label, path in pages:
                # The first request imports the page's modules and fills the caches of
                # objects read (immutable, so kept across requests): shown apart.
                cold, _, _ = first_byte(host, port, path)
                times, status, size = [], 0, 0
                for _ in range(args.reps):
                    seconds, status, size = first_byte(host, port, path)
                    times.append(seconds)
                median = statistics.median(times)
                note = f"first {cold * 1000:.0f} ms; HTTP {status}, {size / 1024:.0f} KiB"
                if kind:
                    met = max(median, cold) < TARGETS[kind]
                    verdicts.append(met)
                    note += f", target {TARGETS[kind] * 1000:.0f} ms: {'met' if met else 'NOT met'}"
                print(f"{label:44} {median * 1000:7.0f} ms   ({note})")
            print("all targets met" if all(verdicts) else "some target NOT met")
        finally:
            stop(process)


if __name__ == "__main__":
    main()
