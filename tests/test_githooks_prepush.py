"""The pre-push git hook: a real ``git push`` sends the mlv data its commits pin."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlv.api import Repo
from mlv.gitcode.pin import read_pin
from mlv.githooks.run import NO_REMOTES
from test_githooks import Project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A git work tree that is an mlv project, a bare git remote, hooks installed."""
    p = Project(tmp_path / "proj")
    p.root.mkdir()
    p.git("init", "-q", "-b", "main")
    p.mlv("init")
    (p.root / ".gitignore").write_text("data/\n")
    p.commit_data({"data/a.csv": "x\n1\n"}, "data one")
    p.git("add", "-A")
    p.git("commit", "-q", "-m", "code one")
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "code.git")], check=True)
    p.git("remote", "add", "origin", str(tmp_path / "code.git"))
    p.mlv("hooks", "install")
    return p


def _add_mlv_remote(project: Project, tmp_path: Path) -> Path:
    remote = tmp_path / "data-remote"
    remote.mkdir()
    project.mlv("remote", "add", "store", str(remote))
    return remote


def test_git_push_pushes_the_pinned_mlv_commit(project: Project, tmp_path: Path) -> None:
    remote = _add_mlv_remote(project, tmp_path)
    pin = read_pin(project.root)
    assert pin is not None
    proc = project.git("push", "-q", "origin", "main")
    assert "mlv: pushed mlv branch main to store" in proc.stderr
    clone, _ = Repo.clone(str(remote), tmp_path / "clone")
    with clone:
        assert clone.resolve("main") == pin.commit
    assert (tmp_path / "clone" / "data" / "a.csv").read_text() == "x\n1\n"
    # A second git push with nothing new for mlv: the data is already there.
    project.commit_data({"data/b.csv": "y\n2\n"}, "data two")
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "code two")
    project.git("push", "-q", "origin", "main")
    project.git("commit", "-q", "--allow-empty", "-m", "docs only")
    proc = project.git("push", "-q", "origin", "main")
    assert "already on store" in proc.stderr
    clone2, _ = Repo.clone(str(remote), tmp_path / "clone2")
    with clone2:
        assert (tmp_path / "clone2" / "data" / "b.csv").read_text() == "y\n2\n"


def test_without_an_mlv_remote_git_push_goes_on(project: Project, tmp_path: Path) -> None:
    proc = project.git("push", "-q", "origin", "main")
    assert NO_REMOTES in proc.stderr
    assert project.git("ls-remote", "origin", "main").stdout.strip()


def test_without_an_mlv_remote_the_env_var_refuses(project: Project, tmp_path: Path) -> None:
    project.env["MLV_REQUIRE_REMOTE"] = "1"
    proc = project.git("push", "-q", "origin", "main", expect=None)
    assert proc.returncode != 0
    assert "no mlv remote (core.remote) and MLV_REQUIRE_REMOTE is set" in proc.stderr
    assert not project.git("ls-remote", "origin", "main").stdout.strip()


def test_a_pinned_commit_off_the_current_branch_refuses(project: Project, tmp_path: Path) -> None:
    remote = _add_mlv_remote(project, tmp_path)
    project.mlv("branch", "experiment")
    project.mlv("checkout", "experiment")
    project.commit_data({"data/a.csv": "x\n9\n"}, "an experiment")
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "code for the experiment")
    pin = read_pin(project.root)
    assert pin is not None
    project.mlv("checkout", "main")  # the git commit pins experiment's mlv commit
    proc = project.git("push", "-q", "origin", "main", expect=None)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("mlv:")]
    assert lines == [lines[0]]
    assert f"pins mlv commit {pin.commit[:12]}" in lines[0]
    assert "run 'mlv push store experiment'" in lines[0]
    assert not project.git("ls-remote", "origin", "main").stdout.strip()
    assert not (remote / "refs").exists() or not list((remote / "refs").rglob("main"))
    # Doing what it says lets the git push through.
    project.mlv("push", "store", "experiment")
    project.git("push", "-q", "origin", "main")
    assert project.git("ls-remote", "origin", "main").stdout.strip()


def test_a_failing_mlv_push_stops_git(project: Project, tmp_path: Path) -> None:
    remote = _add_mlv_remote(project, tmp_path)
    project.mlv("push")
    # Someone else moves the remote's main: ours is no longer a fast-forward.
    other, _ = Repo.clone(str(remote), tmp_path / "other")
    with other:
        (tmp_path / "other" / "data" / "c.csv").write_text("z\n3\n")
        other.add(["data/c.csv"])
        other.commit("theirs")
        other.push()
    project.commit_data({"data/b.csv": "y\n2\n"}, "ours")
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "code two")
    proc = project.git("push", "-q", "origin", "main", expect=None)
    assert proc.returncode != 0
    assert "mlv: could not push mlv branch main to store:" in proc.stderr
    assert not project.git("ls-remote", "origin", "main").stdout.strip()
