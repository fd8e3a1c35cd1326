"""Every writer in the working tree against one table of hostile paths: nothing outside changes.

The writers are the run outputs of `mlv repro` and `mlv run`, a stage's wdir, the
run cache putting outputs back, a reproduction's workspace, and the gate itself.
Each case sets up a repository with a symlink leading out of it and a victim
folder beside it; after every attempt the victim and the repository's own
state must be exactly as they were.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import mlv, one_error_line, snapshot
from mlv import Repo
from mlv.core.paths import TreeGate, check_relpath, name_problem
from mlv.errors import MlvError, UnsafePathError
from mlv.model.runs import ARTIFACT_FILE, Artifact, Run
from mlv.reproduce.executor import run_in
from mlv.runs.artifacts import Artifacts

# Paths a pipeline file, a command line or a stored run could name. ``VICTIM`` stands
# for the absolute path of the folder outside the repository.
HOSTILE = [
    "link/sub",
    "link/sub/k.txt",
    "link/new/x.txt",
    "deep/link/sub",
    "../victim/sub",
    "VICTIM/sub",
    "a/../../victim/sub",
    ".mlv/HEAD",
    ".mlv/refs/heads/main",
    ".git/config",
    ".GIT/x",
    ".Mlv/x",
    "a\\b",
]


@pytest.fixture
def place(tmp_path: Path) -> Path:
    """``tmp_path/repo`` with ``link -> ../victim`` and ``deep/link -> ../../victim``."""
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "sub" / "k.txt").write_text("keep\n")
    (victim / "top.txt").write_text("keep too\n")
    root = tmp_path / "repo"
    Repo.init(root).close()
    (root / "link").symlink_to("../victim")
    (root / "deep").mkdir()
    (root / "deep" / "link").symlink_to("../../victim")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    return root


def _concrete(path: str, root: Path) -> str:
    return path.replace("VICTIM", str(root.parent / "victim"))


def _unchanged(root: Path, before: dict[str, dict[str, bytes | str]]) -> None:
    assert snapshot(root.parent / "victim") == before["victim"]
    assert snapshot(root / ".mlv" / "refs") == before["refs"]
    assert (root / ".mlv" / "HEAD").read_bytes() == before["head"][".mlv/HEAD"]
    assert snapshot(root / ".git") == before["git"]


def _before(root: Path) -> dict[str, dict[str, bytes | str]]:
    return {
        "victim": snapshot(root.parent / "victim"),
        "refs": snapshot(root / ".mlv" / "refs"),
        "head": {".mlv/HEAD": (root / ".mlv" / "HEAD").read_bytes()},
        "git": snapshot(root / ".git"),
    }


@pytest.mark.parametrize("path", HOSTILE)
def test_repro_never_deletes_or_writes_an_output_outside(place: Path, path: str) -> None:
    before = _before(place)
    out = _concrete(path, place)
    stage = {"stages": {"s": {"cmd": f"echo pwn > {json.dumps(out)} || true", "outs": [out]}}}
    (place / "dvc.yaml").write_text(json.dumps(stage))
    one_error_line(mlv(place, "repro"))
    _unchanged(place, before)


@pytest.mark.parametrize(
    "wdir", ["link", "link/sub", "deep/link", "../victim", "VICTIM", ".mlv", ".GIT"]
)
def test_a_stage_never_runs_in_a_wdir_outside(place: Path, wdir: str) -> None:
    before = _before(place)
    stage = {
        "stages": {
            "s": {"cmd": "echo pwn > pwned.txt", "wdir": _concrete(wdir, place), "outs": ["o"]}
        }
    }
    (place / "dvc.yaml").write_text(json.dumps(stage))
    one_error_line(mlv(place, "repro"))
    _unchanged(place, before)
    assert not list(place.parent.rglob("pwned.txt"))


@pytest.mark.parametrize("path", HOSTILE)
def test_run_never_deletes_or_writes_an_output_outside(place: Path, path: str) -> None:
    before = _before(place)
    out = _concrete(path, place)
    one_error_line(mlv(place, "run", "-o", out, "--", "true"))
    _unchanged(place, before)


@pytest.mark.parametrize("path", HOSTILE)
def test_the_run_cache_never_restores_outside(place: Path, path: str) -> None:
    before = _before(place)
    with Repo(place) as repo:
        data = b"pwn\n"
        object_id = repo.store.put_meta(data, 1)
        artifacts = Artifacts(
            tracker=repo.core,
            worktree=repo.worktree,
            stage=repo.staging,
            objects=repo.objects,
            store=repo.store,
            lock=repo.write_lock,
        )
        hostile = {_concrete(path, place): Artifact(object_id, ARTIFACT_FILE, len(data))}
        with pytest.raises(MlvError):
            artifacts.restore(hostile)
    _unchanged(place, before)


@pytest.mark.parametrize("path", HOSTILE)
def test_the_gate_refuses_every_hostile_path(place: Path, path: str) -> None:
    before = _before(place)
    gate = TreeGate(place)
    for attempt in (gate.remove, gate.make_parents, gate.make_folder, gate.full):
        with pytest.raises(MlvError):
            attempt(_concrete(path, place))
    _unchanged(place, before)


def test_an_output_that_is_a_symlink_is_removed_itself_not_what_it_points_to(
    place: Path,
) -> None:
    before = _before(place)
    stage = {"stages": {"s": {"cmd": "echo new > link", "outs": ["link"]}}}
    (place / "dvc.yaml").write_text(json.dumps(stage))
    proc = mlv(place, "repro")
    assert proc.returncode == 0, proc.stderr
    assert (place / "link").read_text() == "new\n" and not (place / "link").is_symlink()
    _unchanged(place, before)


def test_a_reproduction_workspace_keeps_the_run_inside(tmp_path: Path) -> None:
    """A symlink that an earlier command left in the workspace is no way out."""
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "sub" / "k.txt").write_text("keep\n")
    space = tmp_path / "space"
    space.mkdir()
    (space / "link").symlink_to(victim)
    before = snapshot(victim)
    for wdir, outs in (("link", ("o",)), ("", ("link/sub/o",)), ("link/sub", ("x",))):
        run = Run(
            name="s",
            cmd="echo pwn > pwned.txt",
            wdir=wdir,
            deps={},
            outs={o: Artifact("0" * 64, ARTIFACT_FILE, 0) for o in outs},
            params={},
            metrics={},
            env="0" * 64,
            started=0,
            duration_ms=0,
            exit_code=0,
            user="u",
            host="h",
        )
        with pytest.raises(UnsafePathError):
            run_in(space, run, dict(os.environ), known_paths=[])
    assert snapshot(victim) == before
    assert not list(tmp_path.rglob("pwned.txt"))


@pytest.mark.parametrize(
    "name",
    [
        *("a\\b", ".git", ".GIT", ".Mlv", "..", ".", "", "x" * 256, "bad\udcff", "nul\x00"),
        *(".git.", ".git ", ".GIT. .", "GIT~1", "mlv~1", ".g\u200cit", ".\ufeffmlv"),
    ],
)
def test_one_rule_refuses_a_name_everywhere(name: str) -> None:
    assert name_problem(name) is not None
    with pytest.raises(UnsafePathError):
        check_relpath(f"folder/{name}")


@pytest.mark.parametrize(
    "name", ["a b", "é.csv", ".hidden", "x" * 255, "new\nline", "gitignore", "..x", "a.lock"]
)
def test_odd_but_portable_names_are_tracked(name: str) -> None:
    assert name_problem(name) is None
