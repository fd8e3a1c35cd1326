"""Local gc (``mlv.repo.gc``): what is unreachable goes, everything a user has stays."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from helpers import mlv
from mlv.api import Repo
from mlv.repo.gc import GcReport
from mlv.store.pack import finished_packs


def _write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _local(repo: Repo) -> GcReport:
    report = repo.gc()
    assert isinstance(report, GcReport)
    return report


def _project(root: Path) -> Repo:
    repo = Repo.init(root)
    _write(root, "data/a.txt", b"a\n")
    _write(root, "model.bin", os.urandom(150_000))
    repo.add(["data", "model.bin"])
    repo.commit("first")
    return repo


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".mlv" not in p.relative_to(root).parts
    }


def test_gc_keeps_everything_reachable_and_files_check_out(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    _write(tmp_path, "model.bin", os.urandom(120_000))
    repo.add(["model.bin"])
    repo.commit("second")
    before = _files(tmp_path)
    report = _local(repo)
    assert report.objects_removed == 0 and report.bytes_freed == 0
    assert repo.fsck().ok
    (tmp_path / "model.bin").unlink()
    repo.restore(["model.bin"])
    assert _files(tmp_path) == before
    assert len([e for e in repo.log()]) == 2


def test_gc_removes_content_nothing_reaches(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    # Staged, then replaced before any commit: the first content is reached by nothing.
    _write(tmp_path, "big.bin", os.urandom(300_000))
    repo.add(["big.bin"])
    _write(tmp_path, "big.bin", b"small now\n")
    repo.add(["big.bin"])
    repo.commit("second")
    dry = repo.gc(dry_run=True)
    assert isinstance(dry, GcReport) and dry.objects_removed > 0 and dry.bytes_freed > 250_000
    packs = sorted(p.name for p in finished_packs(repo.store.packs_dir))
    assert sorted(p.name for p in finished_packs(repo.store.packs_dir)) == packs  # unchanged
    report = _local(repo)
    assert report.objects_removed == dry.objects_removed
    assert report.bytes_freed > 250_000
    assert report.packs_removed + report.packs_rewritten >= 1
    assert repo.fsck().ok
    assert (tmp_path / "big.bin").read_bytes() == b"small now\n"
    again = _local(repo)
    assert again.objects_removed == 0 and again.bytes_freed == 0


def test_gc_keeps_what_reflogs_staging_and_pending_runs_reach(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    # A commit main moved away from: only main's reflog names it now.
    _write(tmp_path, "old.bin", os.urandom(80_000))
    repo.add(["old.bin"])
    old = repo.commit("to be dropped")
    head = repo.refs.head()
    assert head.ref is not None
    repo.refs.update(head.ref, repo.read_commit(old).parents[0], old, message="reset")
    # Staged, not committed.
    _write(tmp_path, "staged.bin", os.urandom(70_000))
    repo.add(["staged.bin"])
    # A pending run's output.
    code = "import os; open('out.bin', 'wb').write(os.urandom(60000))"
    repo.run(f'{sys.executable} -c "{code}"', outs=["out.bin"], name="make")
    pending = repo.records.pending()
    assert pending
    report = _local(repo)
    assert repo.fsck().ok
    assert repo.store.has(old)
    staged = repo.staging.load()["staged.bin"].id
    assert repo.store.has(staged)
    run_id, outs = pending[0]
    assert repo.store.has(run_id) and all(repo.store.has(i) for i in outs.values())
    assert report.objects_removed == 0
    shutil.rmtree(repo.layout.mlv / "logs")
    assert _local(repo).objects_removed > 0 and not repo.store.has(old)
    assert repo.store.has(staged) and repo.fsck().ok


def test_gc_keeps_what_remote_tracking_refs_reach(tmp_path: Path) -> None:
    repo = _project(tmp_path / "a")
    _write(tmp_path / "a", "tracked.bin", os.urandom(90_000))
    repo.add(["tracked.bin"])
    commit = repo.commit("tracked only")
    repo.refs.update("refs/remotes/origin/main", commit, None, message="test")
    # Move main back: only the remote-tracking ref (and reflogs) name the commit.
    shutil.rmtree(repo.layout.mlv / "logs")
    head = repo.refs.head()
    parent = repo.read_commit(commit).parents[0]
    assert head.ref is not None
    repo.refs.update(head.ref, parent, commit, message="test")
    shutil.rmtree(repo.layout.mlv / "logs")
    report = _local(repo)
    assert repo.store.has(commit)
    tracked = repo.flat_tree(commit)["tracked.bin"].id
    assert repo.store.has(tracked)
    assert report.objects_removed == 0
    # Without the remote-tracking ref the commit goes (its file stays: it is staged).
    repo.refs.delete("refs/remotes/origin/main")
    shutil.rmtree(repo.layout.mlv / "logs", ignore_errors=True)
    gone = _local(repo)
    assert gone.objects_removed > 0 and not repo.store.has(commit)
    assert repo.store.has(tracked)
    assert repo.fsck().ok


def test_gc_removes_leftovers_of_killed_writes(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    packs = repo.store.packs_dir
    one = finished_packs(packs)[0]
    stray = packs / "pack-000000000000000000000000.pack"
    shutil.copyfile(one, stray)  # a pack no index row names, as a killed gc leaves
    scratch = repo.layout.tmp / "push-0123456789ab"
    scratch.mkdir(parents=True)
    (scratch / "x.building").write_bytes(b"x")
    fresh = _local(repo)
    assert fresh.unindexed_packs_removed == 0 and stray.exists()  # young: maybe a writer's
    old = time.time() - 7200
    os.utime(stray, (old, old))
    os.utime(scratch, (old, old))
    report = _local(repo)
    assert report.unindexed_packs_removed == 1 and report.scratch_removed == 1
    assert not stray.exists() and not scratch.exists()
    assert repo.fsck().ok


def test_gc_cli_prints_a_report_and_json(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    _write(tmp_path, "x.bin", os.urandom(50_000))
    repo.add(["x.bin"])
    _write(tmp_path, "x.bin", b"x\n")
    repo.add(["x.bin"])
    repo.close()
    dry = mlv(tmp_path, "gc", "--dry-run")
    assert "dry run" in dry.stdout and "freed" in dry.stdout
    done = mlv(tmp_path, "gc", "--json")
    doc = json.loads(done.stdout)
    assert doc["bytes_freed"] > 40_000 and doc["objects_removed"] >= 1
    assert Repo(tmp_path).fsck().ok


def _with_garbage(root: Path) -> Repo:
    """A pack of live and dead records: gc must rewrite it."""
    repo = _project(root)
    _write(root, "big.bin", os.urandom(100_000))
    _write(root, "keep.bin", os.urandom(30_000))
    repo.add(["big.bin", "keep.bin"])
    _write(root, "big.bin", b"b\n")
    repo.add(["big.bin"])
    repo.commit("second")
    return repo


class _Killed(Exception):
    pass


def test_gc_stopped_before_its_transaction_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _with_garbage(tmp_path)
    before = _files(tmp_path)
    indexed = set(repo.store.index.pack_names())

    def killed(*args: object) -> None:
        raise _Killed

    monkeypatch.setattr(repo.store.index, "add_pack", killed)
    with pytest.raises(_Killed):
        _local(repo)
    monkeypatch.undo()
    assert set(repo.store.index.pack_names()) == indexed  # the transaction rolled back
    assert len(finished_packs(repo.store.packs_dir)) > len(indexed)  # the new pack, unindexed
    assert repo.fsck().ok
    for path in tmp_path.glob("*.bin"):
        path.unlink()
    repo.restore(["model.bin", "big.bin", "keep.bin"])
    assert _files(tmp_path) == before
    old = time.time() - 7200
    for path in finished_packs(repo.store.packs_dir):
        os.utime(path, (old, old))
    report = _local(repo)
    assert report.unindexed_packs_removed == 1 and report.objects_removed > 0
    assert repo.fsck().ok


def test_gc_stopped_after_its_transaction_leaves_a_pack_the_next_gc_removes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _with_garbage(tmp_path)

    def killed(name: str) -> None:
        raise _Killed

    monkeypatch.setattr(repo.store, "forget_pack", killed)
    with pytest.raises(_Killed):
        _local(repo)
    monkeypatch.undo()
    check = repo.fsck()
    assert check.ok and any("not in the index" in n for n in check.notes)
    assert repo.read_bytes("HEAD", "model.bin") == (tmp_path / "model.bin").read_bytes()
    old = time.time() - 7200
    for path in finished_packs(repo.store.packs_dir):
        os.utime(path, (old, old))
    report = _local(repo)
    assert report.unindexed_packs_removed == 1
    assert repo.fsck().ok and not repo.fsck().notes
