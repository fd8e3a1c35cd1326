"""Time `mlv runs`, the experiments table, on 10,000 runs over 1,000 commits.

The repository is built through the library, with run records written directly (running
10,000 commands would take long and measure nothing that matters here): every commit is
one step of a sweep, ten runs that each train with their own parameters file
(`sweep/K/params.yaml`: `train.lr`, `train.batch`, `train.seed`) and write a model and a
metrics file (`sweep/K/metrics.json`: `acc`, `loss`, and `f1` for half of them). Every
tenth commit has a verified reproduction recorded against it, and a `feature` branch
forks off at the middle with a hundred commits of its own (seen with `--all`).

    python benchmarks/runs_table.py                        # 1,000 commits, 5 repetitions
    python benchmarks/runs_table.py --commits 200 --workdir /tmp/rt --reps 3
    python benchmarks/runs_table.py --workdir /tmp/rt --profile   # pyinstrument, library call

Target: the first page (50 rows) comes back in under 0.5 s, from the library and from
`mlv runs` as a whole process.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_support import bench_env, benchmark_repo, mlv_exe, write_artifact

RUNS_PER_COMMIT = 10
REPRODUCE_EVERY = 10
BRANCH_COMMITS = 100
TARGET_S = 0.5


def build(root: Path, commits: int) -> None:
    """A repository at ``root`` with ``commits`` commits of the sweep described above."""
    from mlv import Repo
    from mlv.model.objects import Person
    from mlv.model.runs import Artifact, ParamsUse, Reproduction, Run
    from mlv.repo.notes import add_reproduction
    from mlv.store.pack import KIND_META

    author = Person("Bench Mark", "bench@example.com")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    repo = Repo.init(root)
    env_id = bench_env(repo)

    def write(path: str, text: str) -> Artifact:
        return write_artifact(root, path, text)

    data = write("data/train.csv", "x,y\n" + "1,2\n" * 50)
    code = write("src/train.py", "import sklearn  # train\n")

    def step(i: int, when: datetime, branch: str) -> list[str]:
        """Write and record one commit's ten runs; return their run ids."""
        run_ids = []
        for k in range(RUNS_PER_COMMIT):
            seed = i * RUNS_PER_COMMIT + k
            lr = [0.1, 0.03, 0.01, 0.003, 0.001][k % 5]
            batch = 32 if k < 5 else 64
            params = write(
                f"sweep/{k}/params.yaml", f"train:\n  lr: {lr}\n  batch: {batch}\n  seed: {seed}\n"
            )
            acc = round(0.5 + (seed % 997) / 2000, 4)
            values: dict[str, object] = {"acc": acc, "loss": round(1 - acc, 4)}
            if k % 2:
                values["f1"] = round(acc - 0.01, 4)
            metrics = write(f"sweep/{k}/metrics.json", repr(values).replace("'", '"') + "\n")
            model = write(f"sweep/{k}/model.pkl", f"model {branch} {seed}\n")
            run = Run(
                name="train" if k < 8 else "evaluate",
                cmd=f"python src/train.py sweep/{k}",
                wdir="",
                deps={"data/train.csv": data, "src/train.py": code},
                outs={f"sweep/{k}/model.pkl": model, f"sweep/{k}/metrics.json": metrics},
                params={
                    f"sweep/{k}/params.yaml": ParamsUse(
                        params, {"train.lr": lr, "train.batch": batch, "train.seed": seed}
                    )
                },
                metrics={f"sweep/{k}/metrics.json": values},
                env=env_id,
                started=int(when.timestamp()) + k * 60,
                duration_ms=1000 + (seed % 50) * 100,
                exit_code=0,
                user="Bench Mark <bench@example.com>" if k % 3 else "Ann <ann@example.com>",
                host="bench",
            )
            run_id = repo.store.put_meta(run.to_bytes(), KIND_META)
            # Written as `mlv run` would: the run object, then a pending record for the commit.
            repo.records.add_pending(run_id, {p: a.id for p, a in run.outs.items()})
            run_ids.append(run_id)
        repo.add(["sweep"])
        return run_ids

    def reproduce(commit_id: str, run_ids: list[str], when: datetime, n: int) -> None:
        result = ("identical", "close", "different")[n % 3]
        doc = Reproduction(
            commit=commit_id,
            runs=tuple(run_ids),
            results={
                f"sweep/{k}/metrics.json": {"run": "train", "result": result}
                for k in range(RUNS_PER_COMMIT)
            },
            verdict="different" if result == "different" else "reproduced",
            env=env_id,
            drift={},
            options={},
            user=str(author),
            host="bench",
            time=int(when.timestamp()),
            duration_ms=1000,
        )
        reproduction_id = repo.store.put_meta(doc.to_bytes(), KIND_META)
        repo.store.flush()
        add_reproduction(repo.store, repo.refs, repo.records, commit_id, reproduction_id, doc.time)

    repo.add(["data", "src"])
    middle = None
    for i in range(commits):
        when = start + timedelta(hours=i)
        run_ids = step(i, when, "main")
        commit_id = repo.commit(f"sweep {i}", author=author, when=when)
        if i % REPRODUCE_EVERY == 0:
            reproduce(commit_id, run_ids, when + timedelta(minutes=30), i // REPRODUCE_EVERY)
        if i == commits // 2:
            middle = commit_id
    if middle is not None:
        repo.create_branch("feature", middle)
        repo.switch("feature")
        for i in range(min(BRANCH_COMMITS, commits // 10)):
            when = start + timedelta(hours=commits + i)
            step(commits + i, when, "feature")
            repo.commit(f"feature sweep {i}", author=author, when=when)
        repo.switch("main")
    repo.close()


def timed(cmd: list[str], cwd: Path, reps: int) -> tuple[float, float, str]:
    """Median wall and CPU time (user + system) of ``reps`` runs of a process, and the
    first run's output. CPU time is what a shared machine's load does not inflate."""
    walls, cpus = [], []
    first = ""
    for n in range(reps):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        walls.append(time.perf_counter() - began)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
        if n == 0:
            first = done.stdout
    return statistics.median(walls), statistics.median(cpus), first


def library_first_page(
    root: Path, reps: int, *, warm: bool = False, **query: object
) -> tuple[float, float, int, int]:
    """Median wall and CPU time of ``Repo(root).runs_table(limit=50)``, the repository
    opened each time as a web page's request does; rows on the page and in all.

    Cold (the default), every commit and run is read from the store; ``warm`` keeps
    what an earlier query of this process read, as a server does between requests.
    """
    from mlv import Repo
    from mlv.lineage.runs_table import clear_cache

    walls, cpus = [], []
    shown = total = 0
    clear_cache()
    for _ in range(reps + (1 if warm else 0)):
        if not warm:
            clear_cache()
        began, began_cpu = time.perf_counter(), time.process_time()
        with Repo(root) as repo:
            table = repo.runs_table(limit=50, **query)  # type: ignore[arg-type]
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - began_cpu)
        shown, total = len(table.rows), table.total
    if warm:
        walls, cpus = walls[1:], cpus[1:]
    return statistics.median(walls), statistics.median(cpus), shown, total


def profile(root: Path) -> None:
    from pyinstrument import Profiler

    from mlv import Repo
    from mlv.lineage.runs_table import clear_cache

    profiler = Profiler(interval=0.0005)
    with Repo(root) as repo:
        repo.runs_table(limit=1)  # imports done, then the cold query measured
        clear_cache()
        with profiler:
            repo.runs_table(limit=50)
    sys.stdout.write(profiler.output_text(unicode=True, color=False, show_all=False))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:5.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--workdir", type=Path, help="keep the repository here (reused if built)")
    parser.add_argument("--profile", action="store_true", help="profile the library call")
    args = parser.parse_args()

    with benchmark_repo(args.workdir, "mlv-runs-", build, args.commits) as root:
        if args.profile:
            profile(root)
            return
        print(f"{'':50} {'wall':>8} {'cpu':>8}")
        worst = 0.0
        library_cases: list[tuple[str, dict[str, object]]] = [
            ("first page, newest first", {}),
            ("first page --all", {"all_refs": True}),
            ("--sort -metrics.acc", {"sort": ["-metrics.acc"]}),
            (
                "--where 'metrics.acc > 0.9' --stage train",
                {"where": ["metrics.acc > 0.9"], "stage": "train"},
            ),
            ("--only-changed", {"only_changed": True}),
        ]
        for label, query in library_cases:
            wall, cpu, shown, total = library_first_page(root, args.reps, **query)
            worst = max(worst, wall)
            print(f"library  {label:41} {_ms(wall)} {_ms(cpu)}   ({shown} of {total} rows)")
        wall, cpu, _, _ = library_first_page(root, args.reps, warm=True)
        print(f"library  {'first page, warm (a later request)':41} {_ms(wall)} {_ms(cpu)}")
        exe = mlv_exe()
        cli_cases = [
            ("mlv --version (start-up)", ["--version"]),
            ("mlv runs", ["runs"]),
            ("mlv runs --all", ["runs", "--all"]),
            ("mlv runs --sort -metrics.acc -n 20", ["runs", "--sort", "-metrics.acc", "-n", "20"]),
            ("mlv runs --json -n 50", ["runs", "--json", "-n", "50"]),
            ("mlv runs --csv (every row)", ["runs", "--csv"]),
        ]
        for label, argv in cli_cases:
            wall, cpu, out = timed([exe, *argv], root, args.reps)
            if argv[0] == "runs" and "--csv" not in argv:
                worst = max(worst, wall)
            lines = out.count("\n")
            print(f"process  {label:41} {_ms(wall)} {_ms(cpu)}   ({lines} lines of output)")
        verdict = "met" if worst < TARGET_S else "NOT met"
        print(f"target: first page under {TARGET_S} s (wall): {verdict} (slowest {worst:.2f} s)")


if __name__ == "__main__":
    main()
