"""A checkout killed (SIGKILL) while it writes files is finished by running it again, and
leaves nothing that ``mlv add .`` would stage: neither a part of a deleted folder being
rebuilt (in `.mlv/tmp`), nor a half-written file restored into a folder that is still
there (written unnamed, O_TMPFILE, and named when whole)."""

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

pytestmark = pytest.mark.slow

FILES = 1500
TRIES = 6


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def killed_after(cmd: list[str], cwd: Path, delay: float) -> bool:
    """Run ``cmd``; SIGKILL it after ``delay`` seconds. True when it was killed."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _, err = proc.communicate(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        return True
    assert proc.returncode == 0, err.decode()
    return False


def on_disk(root: Path) -> dict[str, bytes]:
    """Every file under the working tree but `.mlv`, hidden ones included."""
    found = {}
    for base, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".mlv"]
        for name in names:
            full = Path(base, name)
            found[full.relative_to(root).as_posix()] = full.read_bytes()
    return found


@pytest.fixture
def committed(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path / "repo"
    rng = random.Random(5)
    files = {
        f"data/d{i % 10}/f{i:04d}.bin": rng.randbytes(rng.randint(2000, 60000))
        for i in range(FILES)
    }
    with Repo.init(root) as r:
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        r.add(["data"])
        r.commit("many files", author=AUTHOR)
    return root, files


def delete_folder(root: Path, files: dict[str, bytes]) -> None:
    subprocess.run(["rm", "-rf", str(root / "data")], check=True)


def delete_files(root: Path, files: dict[str, bytes]) -> None:
    for rel in files:
        (root / rel).unlink(missing_ok=True)


@pytest.mark.parametrize("delete", [delete_folder, delete_files], ids=["folder", "files"])
def test_a_killed_restore_leaves_only_whole_files_and_is_finished_by_running_it_again(
    committed: tuple[Path, dict[str, bytes]], delete
) -> None:
    root, files = committed
    rng = random.Random(11)
    # Kills land within the time a whole restore takes on this machine, however fast.
    delete(root, files)
    began = time.monotonic()
    ok(mlv(root, "checkout", "HEAD", "--", "data"))
    whole = time.monotonic() - began
    kills = 0
    for _ in range(TRIES):
        delete(root, files)
        delay = whole * rng.uniform(0.1, 0.8)
        kills += killed_after([MLV, "checkout", "HEAD", "--", "data"], root, delay)
        # What is visible is committed content, whole.
        visible = {rel: data for rel, data in on_disk(root).items() if rel.startswith("data/")}
        assert all(files[rel] == data for rel, data in visible.items())
        ok(mlv(root, "add", "."))
        with Repo(root) as r:
            status = r.status()
        assert {c.status for c in status.staged} <= {REMOVED}, status.staged
        assert not status.modified and not status.untracked
        ok(mlv(root, "checkout", "HEAD", "--", "data"))
        assert on_disk(root) == files, "the next checkout left something behind"
        assert not list((root / ".mlv" / "tmp").glob("checkout-*"))
        assert not list((root / ".mlv" / "tmp").glob("building-*"))
        with Repo(root) as r:
            assert r.status().clean
    assert kills >= 2, "no restore was interrupted: raise the data size"
