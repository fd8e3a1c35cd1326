"""Time `mlv lineage` and `mlv history` as whole processes on a history of 1,000 commits.

The repository is built through the library, with run records written directly (running
a command per commit would take minutes and measure nothing that matters here): a small
pipeline `data/raw.csv -> prepare -> data/features.csv -> train -> models/model.pkl +
metrics.json`, with `params.yaml` read by train. The training seed changes in every
commit, so the model and metrics have a new version in each; the raw data changes every
10th commit, so `prepare` reruns then. A notes file changes in every commit too.

    python benchmarks/lineage_history.py                 # 1,000 commits, 5 repetitions
    python benchmarks/lineage_history.py --commits 200 --workdir /tmp/lh --reps 3

Target: each command answers in under a second.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_support import bench_env, benchmark_repo, mlv_exe, write_artifact

RAW_EVERY = 10
TARGET_S = 1.0


def build(root: Path, commits: int) -> None:
    """A repository at ``root`` with ``commits`` commits of the pipeline described above."""
    from mlv import Repo
    from mlv.model.objects import Person
    from mlv.model.runs import Artifact, ParamsUse, Run
    from mlv.store.pack import KIND_META

    author = Person("Bench Mark", "bench@example.com")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    repo = Repo.init(root)
    env_id = bench_env(repo)

    def write(path: str, text: str) -> Artifact:
        return write_artifact(root, path, text)

    def record(
        when: datetime,
        name: str,
        deps: dict[str, Artifact],
        outs: dict[str, Artifact],
        params: dict[str, ParamsUse] | None = None,
        metrics: dict[str, dict[str, object]] | None = None,
    ) -> None:
        # Written as `mlv run` would: the run object, then a pending record for the commit.
        run = Run(
            name=name,
            cmd=f"python src/{name}.py",
            wdir="",
            deps=deps,
            outs=outs,
            params=params or {},
            metrics=metrics or {},
            env=env_id,
            started=int(when.timestamp()),
            duration_ms=1200,
            exit_code=0,
            user=str(author),
            host="bench",
        )
        run_id = repo.store.put_meta(run.to_bytes(), KIND_META)
        repo.records.add_pending(run_id, {p: a.id for p, a in run.outs.items()})

    prepare_py = write("src/prepare.py", "import pandas  # prepare\n")
    train_py = write("src/train.py", "import sklearn  # train\n")
    for i in range(commits):
        when = start + timedelta(hours=i)
        changed = ["notes.txt", "params.yaml", "models", "metrics.json"]
        write("notes.txt", f"commit {i}\n")
        if i % RAW_EVERY == 0:
            raw = write("data/raw.csv", "x,y\n" + f"{i},{i * 2}\n" * 20)
            features = write("data/features.csv", f"f\n{i}\n")
            record(
                when,
                name="prepare",
                deps={"data/raw.csv": raw, "src/prepare.py": prepare_py},
                outs={"data/features.csv": features},
            )
            changed += ["data", "src"]
        params = write("params.yaml", f"train:\n  lr: 0.01\n  seed: {i}\n")
        model = write("models/model.pkl", f"model {i}\n")
        metrics = write("metrics.json", f'{{"acc": {0.5 + i / (2 * commits)}}}\n')
        record(
            when,
            name="train",
            deps={"data/features.csv": features, "src/train.py": train_py},
            outs={"models/model.pkl": model, "metrics.json": metrics},
            params={"params.yaml": ParamsUse(params, {"train.lr": 0.01, "train.seed": i})},
            metrics={"metrics.json": {"acc": 0.5 + i / (2 * commits)}},
        )
        repo.add(changed)
        repo.commit(f"experiment {i}", author=author, when=when)
    repo.close()


def timed(cmd: list[str], cwd: Path, reps: int) -> tuple[float, str]:
    """Median wall time of ``reps`` runs, and the first run's output."""
    times = []
    first = ""
    for n in range(reps):
        began = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
        if n == 0:
            first = done.stdout
    return statistics.median(times), first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--workdir", type=Path, help="keep the repository here (reused if built)")
    args = parser.parse_args()

    with benchmark_repo(args.workdir, "mlv-lineage-", build, args.commits) as root:
        exe = mlv_exe()
        old = f"HEAD~{min(args.commits - 1, args.commits // 2)}"
        cases = [
            ("lineage model (upstream)", ["lineage", "models/model.pkl"]),
            ("lineage model --format json", ["lineage", "models/model.pkl", "--format", "json"]),
            (
                "lineage raw.csv@old --downstream",
                ["lineage", f"data/raw.csv@{old}", "--downstream"],
            ),
            (
                "lineage raw.csv@old --downstream --all",
                ["lineage", f"data/raw.csv@{old}", "--downstream", "--all"],
            ),
            ("history model (1 version/commit)", ["history", "models/model.pkl"]),
            ("history raw.csv", ["history", "data/raw.csv"]),
            ("history model --json", ["history", "models/model.pkl", "--json"]),
        ]
        baseline, _ = timed([exe, "--version"], root, args.reps)
        print(f"{'mlv --version (start-up)':42} {baseline * 1000:7.0f} ms")
        worst = 0.0
        for label, argv in cases:
            seconds, out = timed([exe, *argv], root, args.reps)
            worst = max(worst, seconds)
            lines = out.count("\n")
            print(f"{label:42} {seconds * 1000:7.0f} ms   ({lines} lines of output)")
        verdict = "met" if worst < TARGET_S else "NOT met"
        print(f"target: every command under {TARGET_S:.0f} s: {verdict} (slowest {worst:.2f} s)")


if __name__ == "__main__":
    main()
