"""SIGKILL at random moments of add, commit, checkout and restore leaves a valid repository."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import AUTHOR, ENV, MLV, mlv
from mlv import Repo
from mlv.repo.diff import REMOVED

SMALL_FILES = 250
BIG_SIZE = 2 * 1024 * 1024
BUDGET_S = 18.0

pytestmark = pytest.mark.slow


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def write_dataset(root: Path, rng: random.Random, folder: str, generation: int) -> None:
    """A few hundred small files (some changed each generation) and two multi-MB files."""
    base = root / folder
    base.mkdir(parents=True, exist_ok=True)
    for i in range(SMALL_FILES):
        if generation == 0 or rng.random() < 0.3:
            (base / f"part-{i:04d}.txt").write_bytes(rng.randbytes(rng.randint(50, 3000)))
    for name in ("big-a.bin", "big-b.bin"):
        # Random bytes: stored raw and in many chunks, so packs and manifests get written.
        (base / name).write_bytes(rng.randbytes(BIG_SIZE))


def kill_after(cmd: str, cwd: Path, delay: float) -> int | None:
    """Run ``cmd`` in its own session; SIGKILL the whole group after ``delay`` seconds."""
    proc = subprocess.Popen(
        cmd,
        shell=True,
        cwd=cwd,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert "Traceback" not in stderr, stderr
    return proc.returncode


def snapshot_commits(root: Path) -> dict[str, dict[str, bytes]]:
    """Every commit reachable from HEAD with all of its files' content."""
    with Repo(root) as r:
        return {
            entry.id: {path: r.read_bytes(entry.id, path) for path in r.flat_tree(entry.id)}
            for entry in r.log()
        }


def assert_valid(root: Path, earlier: dict[str, dict[str, bytes]]) -> None:
    with Repo(root) as r:
        report = r.fsck()
        assert report.ok, report.problems
        head = r.resolve("HEAD")
        r.read_commit(head)
        for commit_id, files in earlier.items():
            assert r.resolve(commit_id) == commit_id
            for path, data in files.items():
                assert r.read_bytes(commit_id, path) == data, (commit_id, path)
        r.status()


def cli_checks(root: Path) -> None:
    out = ok(mlv(root, "fsck"))
    assert "ok" in out.stdout
    ok(mlv(root, "status"))
    ok(mlv(root, "log", "--oneline"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    rng = random.Random(1)
    with Repo.init(root) as r:
        for n in range(3):
            write_dataset(root, rng, "data", n)
            r.add(["data"])
            r.commit(f"earlier {n}", author=AUTHOR)
    return root


def test_kill_during_add_and_commit(repo: Path) -> None:
    rng = random.Random(20240601)
    earlier = snapshot_commits(repo)
    assert len(earlier) == 3
    deadline = time.monotonic() + BUDGET_S
    kills = completed = iterations = 0
    history = set(earlier)
    while iterations < 16 and (iterations < 6 or time.monotonic() < deadline):
        iterations += 1
        write_dataset(repo, rng, "data", iterations)
        cmd = f"{MLV} add data && {MLV} commit -m 'iteration {iterations}'"
        code = kill_after(cmd, repo, rng.uniform(0.05, 1.2))
        if code is None:
            kills += 1
        else:
            completed += 1
            assert code in (0, 2), code  # 2: nothing to commit after an earlier killed run
        assert_valid(repo, earlier)
        if iterations % 4 == 0:
            cli_checks(repo)
        # No commit ever leaves the history once it got there.
        with Repo(repo) as r:
            now = {e.id for e in r.log()}
        assert history <= now
        history = now
    assert kills >= 4, f"only {kills} of {iterations} runs were killed: raise the data size"
    # Work goes on as usual afterwards, and gets everything on disk into a commit.
    write_dataset(repo, rng, "data", 99)
    ok(mlv(repo, "add", "data"))
    ok(mlv(repo, "commit", "-m", "after the crashes"))
    cli_checks(repo)
    with Repo(repo) as r:
        for path in r.flat_tree("HEAD"):
            assert r.read_bytes("HEAD", path) == (repo / path).read_bytes(), path
        assert r.status().clean


def test_kill_during_checkout(repo: Path) -> None:
    rng = random.Random(99)
    ok(mlv(repo, "branch", "first", "HEAD~2"))
    ok(mlv(repo, "branch", "last", "HEAD"))
    earlier = snapshot_commits(repo)
    targets = {"first": earlier[_rev(repo, "first")], "last": earlier[_rev(repo, "last")]}
    kills = 0
    for i in range(6):
        want = "first" if i % 2 == 0 else "last"
        code = kill_after(f"{MLV} checkout {want}", repo, rng.uniform(0.05, 0.6))
        kills += code is None
        assert code in (None, 0), code
        assert_valid(repo, earlier)
        # Finishing the interrupted checkout needs no --force: nothing uncommitted is at risk.
        ok(mlv(repo, "checkout", want))
        for path, data in targets[want].items():
            assert (repo / path).read_bytes() == data, path
        with Repo(repo) as r:
            assert r.resolve("HEAD") == r.resolve(want)
            status = r.status()
            assert not (status.staged or status.modified or status.deleted), status
    assert kills >= 2, "no checkout was interrupted: raise the data size"
    cli_checks(repo)


def _rev(root: Path, rev: str) -> str:
    with Repo(root) as r:
        return r.resolve(rev)


def test_kill_during_restore_of_a_deleted_folder(tmp_path: Path) -> None:
    """Files a restore writes where nothing stands get their names only when whole: after
    a kill, every file there is the committed one, `add` stages no half of one, and the
    restore run again finishes the job."""
    root = tmp_path / "repo"
    rng = random.Random(7)
    committed = {
        f"data/d{i % 8}/f{i:04d}.bin": rng.randbytes(rng.randint(2000, 60000)) for i in range(1500)
    }
    with Repo.init(root) as r:
        for rel, data in committed.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        r.add(["data"])
        r.commit("many files", author=AUTHOR)
    kills = 0
    for _ in range(6):
        subprocess.run(["rm", "-rf", str(root / "data")], check=True)
        code = kill_after(f"{MLV} checkout HEAD -- data", root, rng.uniform(0.05, 0.8))
        kills += code is None
        assert code in (None, 0), code
        found = {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in (root / "data").rglob("*")
            if p.is_file()
        }
        assert all(committed[rel] == data for rel, data in found.items())
        ok(mlv(root, "add", "data"))
        with Repo(root) as r:
            status = r.status()
        assert {c.status for c in status.staged} <= {REMOVED}, status.staged
        assert not status.modified
        ok(mlv(root, "checkout", "HEAD", "--", "data"))
        with Repo(root) as r:
            assert r.status().clean
        assert {rel: (root / rel).read_bytes() for rel in committed} == committed
    assert kills >= 2, "no restore was interrupted: raise the data size"
    cli_checks(root)
