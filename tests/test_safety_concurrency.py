"""Concurrent mlv processes on one repository: each waits or fails clearly, none corrupts."""

from __future__ import annotations

import fcntl
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from helpers import AUTHOR, ENV, MLV
from mlv import Repo
from mlv.errors import LockError

pytestmark = pytest.mark.slow


def start(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [MLV, *args], cwd=root, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in out + err, err
    return proc.returncode, out, err


def assert_clean_outcome(code: int, err: str, allowed: tuple[str, ...] = ()) -> None:
    """Exit 0, or exit 2 with one clear line (about another process, or an allowed reason)."""
    lines = [line for line in err.splitlines() if not line.startswith("mlv: waiting for")]
    if code == 0:
        assert not [line for line in lines if line.startswith("mlv: error")], err
        return
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("mlv: error: "), err
    assert "another mlv process" in lines[0] or any(a in lines[0] for a in allowed), err


def dataset(root: Path, folder: str, seed: int, files: int = 200) -> dict[str, bytes]:
    rng = random.Random(seed)
    written = {}
    for i in range(files):
        written[f"{folder}/f{i:04d}.txt"] = rng.randbytes(rng.randint(20, 2000))
    written[f"{folder}/big.bin"] = rng.randbytes(3 * 1024 * 1024)
    for rel, data in written.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return written


def assert_committed(root: Path, files: dict[str, bytes]) -> None:
    with Repo(root) as r:
        report = r.fsck()
        assert report.ok, report.problems
        tree = r.flat_tree("HEAD")
        for rel, data in files.items():
            assert rel in tree, rel
            assert r.read_bytes("HEAD", rel) == data, rel
        status = r.status()
        assert not (status.staged or status.modified or status.deleted or status.untracked)
    proc = subprocess.run([MLV, "fsck"], cwd=root, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    with Repo.init(root) as r:
        (root / "seed.txt").write_text("seed\n")
        r.add(["seed.txt"])
        r.commit("seed", author=AUTHOR)
    return root


@pytest.mark.parametrize("same_folder", [False, True])
def test_two_concurrent_adds(repo: Path, same_folder: bool) -> None:
    files = dataset(repo, "one", 1)
    folders = ["one", "one"] if same_folder else ["one", "two"]
    if not same_folder:
        files |= dataset(repo, "two", 2)
    procs = [start(repo, "add", folder) for folder in folders]
    results = [finish(p) for p in procs]
    for code, _out, err in results:
        assert_clean_outcome(code, err)
    for folder, (code, _, _) in zip(folders, results, strict=True):
        if code != 0:  # refused clearly: the user runs it again
            assert subprocess.run([MLV, "add", folder], cwd=repo, env=ENV).returncode == 0
    commit = subprocess.run(
        [MLV, "commit", "-m", "both"], cwd=repo, env=ENV, capture_output=True, text=True
    )
    assert commit.returncode == 0, commit.stderr
    assert_committed(repo, files)


def test_two_concurrent_add_and_commit(repo: Path) -> None:
    files = dataset(repo, "one", 3) | dataset(repo, "two", 4)
    before = _head(repo)
    procs = [
        subprocess.Popen(
            f"{MLV} add {folder} && {MLV} commit -m 'add {folder}'",
            shell=True,
            cwd=repo,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in ("one", "two")
    ]
    results = [finish(p) for p in procs]
    for code, _out, err in results:
        # The second commit may find the first already took everything it staged.
        assert_clean_outcome(code, err, allowed=("nothing to commit",))
    assert any(code == 0 for code, _, _ in results)
    assert_committed(repo, files)
    with Repo(repo) as r:
        chain = [e.id for e in r.log()]
        assert before in chain
        made = chain[: chain.index(before)]
        assert 1 <= len(made) <= 2
        for commit_id in made:
            assert len(r.read_commit(commit_id).parents) == 1


def test_two_concurrent_commits(repo: Path) -> None:
    files = dataset(repo, "one", 5, files=50)
    with Repo(repo) as r:
        r.add(["one"])
    before = _head(repo)
    procs = [start(repo, "commit", "-m", f"racer {i}") for i in range(2)]
    results = [finish(p) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    for code, _out, err in results:
        assert_clean_outcome(code, err, allowed=("nothing to commit",))
    assert_committed(repo, files)
    with Repo(repo) as r:
        head = r.read_commit(r.resolve("HEAD"))
        # Linear history: the racer that lost either committed on top or had nothing left.
        first = r.read_commit(head.parents[0]) if head.parents[0] != before else None
        assert head.parents[0] == before or (first is not None and first.parents[0] == before)


def test_readers_while_a_writer_adds(repo: Path) -> None:
    files = dataset(repo, "big", 6, files=400)
    writer = start(repo, "add", "big")
    reads = 0
    deadline = time.monotonic() + 20
    while writer.poll() is None and time.monotonic() < deadline:
        for args in (["status"], ["log", "--oneline"], ["show", "HEAD:seed.txt"]):
            proc = subprocess.run(
                [MLV, *args], cwd=repo, env=ENV, capture_output=True, text=True, timeout=60
            )
            assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
            assert proc.returncode == 0, (args, proc.stderr)
            reads += 1
    code, _out, err = finish(writer)
    assert code == 0, err
    assert reads >= 1
    ok = subprocess.run([MLV, "commit", "-m", "big"], cwd=repo, env=ENV, capture_output=True)
    assert ok.returncode == 0, ok.stderr
    assert_committed(repo, files)


def test_lock_timeout_is_a_clear_error(repo: Path) -> None:
    """A writer that cannot get the lock in time says so; nothing is changed."""
    (repo / "new.txt").write_text("new\n")
    fd = os.open(repo / ".mlv" / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with Repo(repo, lock_timeout=0.3) as r, pytest.raises(LockError) as info:
            r.add(["new.txt"])
        assert "another mlv process" in str(info.value)
        # A CLI writer waits, saying so, rather than failing at once.
        proc = start(repo, "add", "new.txt")
        time.sleep(1.5)
        assert proc.poll() is None, "the writer did not wait for the lock"
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    code, _out, err = finish(proc)
    assert code == 0, err
    assert "waiting for another mlv process" in err
    with Repo(repo) as r:
        assert "new.txt" in r.staging.load()
        assert r.fsck().ok


def _head(root: Path) -> str:
    with Repo(root) as r:
        return r.resolve("HEAD")
