"""Git hooks and the pre-commit framework hooks, driven by the real git and pre-commit tools."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import one_error_line, write_files
from mlv.githooks.run import NO_REMOTES
from mlv.githooks.scripts import hook_script

BIN = Path(sys.executable).parent
MLV = str(BIN / "mlv")
HOOKS = ("pre-commit", "post-checkout", "post-merge", "pre-push")
USER_HOOK = (
    b'#!/bin/sh\necho "user hook ran $*" >> "$(git rev-parse --show-toplevel)/../user.log"\n'
)


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLV_", "GIT_"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Ada",
        GIT_AUTHOR_EMAIL="ada@example.com",
        GIT_COMMITTER_NAME="Ada",
        GIT_COMMITTER_EMAIL="ada@example.com",
        MLV_AUTHOR_NAME="Ada",
        MLV_AUTHOR_EMAIL="ada@example.com",
        PRE_COMMIT_HOME=str(home / "pre-commit-cache"),
        # The published hooks run the `mlv` on PATH: this checkout's.
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


class Project:
    """A git work tree that is also an mlv repository, with data ignored by git."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = env_for(root.parent)

    def git(self, *args: str, expect: int | None = 0, stdin: str | None = None):
        proc = subprocess.run(
            ["git", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            input=stdin,
            timeout=120,
        )
        if expect is not None:
            assert proc.returncode == expect, (args, proc.stdout, proc.stderr)
        return proc

    def mlv(self, *args: str, expect: int | None = 0):
        proc = subprocess.run(
            [MLV, *args], cwd=self.root, env=self.env, capture_output=True, text=True, timeout=120
        )
        if expect is not None:
            assert proc.returncode == expect, (args, proc.stdout, proc.stderr)
        return proc

    def commit_data(self, files: dict[str, str], message: str) -> None:
        write_files(self.root, files)
        self.mlv("add", *files)
        self.mlv("commit", "-m", message)

    @property
    def hooks(self) -> Path:
        return self.root / ".git" / "hooks"

    def states(self) -> dict[str, str]:
        return {
            s["name"]: s["state"] for s in json.loads(self.mlv("hooks", "status", "--json").stdout)
        }


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = Project(tmp_path / "proj")
    p.root.mkdir()
    p.git("init", "-q", "-b", "main")
    p.mlv("init")
    write_files(p.root, {".gitignore": "data/\n", "train.py": "print('train')\n"})
    p.commit_data({"data/a.csv": "x\n1\n"}, "data one")
    p.git("add", "-A")
    p.git("commit", "-q", "-m", "code one")
    return p


def test_install_writes_executable_hooks_and_is_idempotent(project: Project) -> None:
    installed = json.loads(project.mlv("hooks", "install", "--json").stdout)
    assert [h["state"] for h in installed] == ["installed"] * 4
    for name in HOOKS:
        mode = (project.hooks / name).stat().st_mode
        assert mode & stat.S_IXUSR, name
    assert project.states() == dict.fromkeys(HOOKS, "mlv")
    again = json.loads(project.mlv("hooks", "install", "--json").stdout)
    assert [h["state"] for h in again] == ["unchanged"] * 4
    removed = json.loads(project.mlv("hooks", "uninstall", "--json").stdout)
    assert [h["state"] for h in removed] == ["removed"] * 4
    assert not any((project.hooks / name).exists() for name in HOOKS)


def test_an_existing_hook_is_chained_runs_first_and_comes_back_byte_for_byte(
    project: Project,
) -> None:
    hook = project.hooks / "pre-commit"
    hook.write_bytes(USER_HOOK)
    hook.chmod(0o750)
    project.mlv("hooks", "install")
    assert project.states()["pre-commit"] == "mlv-chained"
    assert (project.hooks / "pre-commit.pre-mlv").read_bytes() == USER_HOOK

    project.git("commit", "-q", "--allow-empty", "-m", "empty")
    assert (project.root.parent / "user.log").read_text() == "user hook ran \n"

    project.mlv("hooks", "uninstall")
    assert hook.read_bytes() == USER_HOOK
    assert stat.S_IMODE(hook.stat().st_mode) == 0o750
    assert not (project.hooks / "pre-commit.pre-mlv").exists()
    assert project.states() == {**dict.fromkeys(HOOKS, "absent"), "pre-commit": "other"}


def test_a_failing_chained_hook_stops_the_commit(project: Project) -> None:
    hook = project.hooks / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'lint failed' >&2\nexit 3\n")
    hook.chmod(0o755)
    project.mlv("hooks", "install")
    proc = project.git("commit", "--allow-empty", "-m", "x", expect=1)
    assert "lint failed" in proc.stderr


def test_force_keeps_the_existing_hook_without_running_it(project: Project) -> None:
    hook = project.hooks / "pre-commit"
    hook.write_bytes(USER_HOOK)
    hook.chmod(0o755)
    states = json.loads(project.mlv("hooks", "install", "--force", "--json").stdout)
    assert states[0]["state"] == "replaced"
    assert project.states()["pre-commit"] == "mlv-replacing"
    project.git("commit", "-q", "--allow-empty", "-m", "empty")
    assert not (project.root.parent / "user.log").exists()
    project.mlv("hooks", "uninstall")
    assert hook.read_bytes() == USER_HOOK


def test_a_kept_hook_in_the_way_is_refused(project: Project) -> None:
    (project.hooks / "pre-commit").write_bytes(USER_HOOK)
    (project.hooks / "pre-commit.pre-mlv").write_bytes(b"#!/bin/sh\n")
    line = one_error_line(project.mlv("hooks", "install", expect=None))
    assert "pre-commit.pre-mlv already exists" in line
    assert (project.hooks / "pre-commit").read_bytes() == USER_HOOK


def test_not_a_git_repository_is_one_line(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    proc = subprocess.run(
        [MLV, "init"], cwd=root, env=env_for(tmp_path), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(
        [MLV, "hooks", "install"], cwd=root, env=env_for(tmp_path), capture_output=True, text=True
    )
    assert "not a git repository" in one_error_line(proc)


def test_an_unwritable_hooks_folder_is_a_clear_error(project: Project) -> None:
    if os.geteuid() == 0:
        # Permissions do not stop root: a hooks path below a file cannot be written either.
        (project.root / "blocker").write_text("")
        project.git("config", "core.hooksPath", "blocker/hooks")
    else:
        project.hooks.chmod(0o500)
    try:
        line = one_error_line(project.mlv("hooks", "install", expect=None))
    finally:
        project.hooks.chmod(0o755)
    assert "cannot write git hooks in" in line


def test_core_hooks_path_is_honoured(project: Project) -> None:
    project.git("config", "core.hooksPath", ".githooks")
    project.mlv("hooks", "install")
    assert all((project.root / ".githooks" / name).is_file() for name in HOOKS)
    assert not (project.hooks / "pre-commit").exists()
    write_files(project.root, {"data/a.csv": "x\n2\n"})
    proc = project.git("commit", "--allow-empty", "-m", "x", expect=1)
    assert "modified: data/a.csv" in proc.stderr


def test_git_commit_is_refused_while_tracked_data_is_uncommitted(project: Project) -> None:
    project.mlv("hooks", "install")
    write_files(project.root, {"data/a.csv": "x\n2\n", "train.py": "print('v2')\n"})
    project.git("add", "train.py")
    proc = project.git("commit", "-m", "code two", expect=1)
    assert "modified: data/a.csv" in proc.stderr
    assert 'run: mlv add data/a.csv && mlv commit -m "..."' in proc.stderr

    project.mlv("add", "data/a.csv")
    proc = project.git("commit", "-m", "code two", expect=1)
    assert "staged:   data/a.csv" in proc.stderr
    assert 'run: mlv commit -m "..."' in proc.stderr

    project.mlv("commit", "-m", "data two")
    proc = project.git("commit", "-m", "code two", expect=1)
    assert "mlv.lock has changes that git has not staged" in proc.stderr
    assert "run: git add mlv.lock" in proc.stderr
    project.git("add", "mlv.lock")
    project.git("commit", "-q", "-m", "code two")
    assert "mlv.lock" in project.git("show", "--name-only", "HEAD").stdout


def test_a_stale_lock_is_refused(project: Project) -> None:
    project.mlv("hooks", "install")
    (project.root / "mlv.lock").unlink()
    proc = project.git("commit", "--allow-empty", "-m", "x", expect=1)
    assert "run: mlv commit (or mlv lock) and git add mlv.lock" in proc.stderr
    assert project.mlv("hooks", "run", "lock-current", expect=1).stderr
    assert project.mlv("hooks", "run", "status-clean").stderr == ""


def test_git_checkout_and_merge_materialise_the_locked_data(project: Project) -> None:
    project.mlv("hooks", "install")
    project.git("checkout", "-q", "-b", "feature")
    project.commit_data({"data/a.csv": "x\n2\n", "data/b.csv": "y\n"}, "data two")
    project.git("add", "mlv.lock")
    project.git("commit", "-q", "-m", "code two")

    proc = project.git("checkout", "main")
    assert (project.root / "data/a.csv").read_text() == "x\n1\n"
    assert not (project.root / "data/b.csv").exists()
    assert "synced the data to mlv.lock" in proc.stderr
    assert "removed: data/b.csv" in proc.stderr

    # A checkout of files, not of a branch, leaves the data alone.
    proc = project.git("checkout", "feature", "--", "train.py")
    assert "synced" not in proc.stderr

    proc = project.git("merge", "--ff-only", "feature")
    assert (project.root / "data/a.csv").read_text() == "x\n2\n"
    assert (project.root / "data/b.csv").read_text() == "y\n"
    assert "synced the data to mlv.lock" in proc.stderr
    assert project.mlv("hooks", "run", "status-clean").returncode == 0


def test_git_push_runs_pre_push_as_a_no_op(project: Project, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "remote.git")], check=True)
    hook = project.hooks / "pre-push"
    hook.write_text(f'#!/bin/sh\necho "$1" > {tmp_path}/pushed\ncat >> {tmp_path}/pushed\n')
    hook.chmod(0o755)
    project.mlv("hooks", "install")
    project.git("remote", "add", "origin", str(tmp_path / "remote.git"))
    proc = project.git("push", "-q", "origin", "main")
    assert NO_REMOTES in proc.stderr
    head = project.git("rev-parse", "HEAD").stdout.strip()
    assert (tmp_path / "pushed").read_text() == (
        f"origin\nrefs/heads/main {head} refs/heads/main {'0' * 40}\n"
    )


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=200))
def test_pre_push_hands_its_input_unchanged_to_the_chained_hook(tmp_path: Path, text: str) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    kept = hooks / "pre-push.pre-mlv"
    kept.write_text(f'#!/bin/sh\ncat > "{tmp_path}/got"\n')
    kept.chmod(0o755)
    script = hooks / "pre-push"
    # `true` stands in for mlv: this checks the script's own handling of its input.
    script.write_text(hook_script("pre-push", shutil.which("true") or "true", ".", chain=True))
    script.chmod(0o755)
    subprocess.run([str(script), "origin", "url"], input=text.encode(), check=True)
    assert (tmp_path / "got").read_bytes() == text.encode()


def test_an_unknown_hook_name_is_one_line(project: Project) -> None:
    assert "no hook named 'pre-rebase'" in one_error_line(
        project.mlv("hooks", "run", "pre-rebase", expect=None)
    )


def test_the_published_hooks_run_through_the_pre_commit_framework(
    project: Project, tmp_path: Path
) -> None:
    published = tmp_path / "published"
    published.mkdir()
    shutil.copy(Path(__file__).parents[1] / ".pre-commit-hooks.yaml", published)
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "hooks")):
        subprocess.run(["git", *args], cwd=published, env=project.env, check=True)
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=published, capture_output=True, text=True, check=True
    ).stdout.strip()
    ids = ("mlv-status", "mlv-lock", "mlv-check")
    config = f"repos:\n- repo: {published}\n  rev: {rev}\n  hooks:\n"
    config += "".join(f"  - id: {i}\n" for i in ids)
    write_files(project.root, {".pre-commit-config.yaml": config})
    project.git("add", ".pre-commit-config.yaml")

    def run() -> tuple[int, str]:
        proc = subprocess.run(
            [str(BIN / "pre-commit"), "run", "--all-files"],
            cwd=project.root,
            env=project.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return proc.returncode, proc.stdout + proc.stderr

    code, out = run()
    assert code == 0, out
    assert out.count("Passed") == 3, out

    write_files(project.root, {"data/a.csv": "x\n7\n"})
    (project.root / "mlv.lock").unlink()
    write_files(
        project.root,
        {
            "mlv.yaml": "tables:\n  data/a.csv:\n    contract:\n"
            "      columns:\n        x: {max: 5}\n"
        },
    )
    code, out = run()
    assert code == 1, out
    assert out.count("Failed") == 3, out
    assert "modified: data/a.csv" in out
    assert "mlv.lock does not name the current mlv commit" in out
    assert "data/a.csv: 1 violation" in out


def test_an_mlv_project_below_the_git_top_and_a_partial_commit(tmp_path: Path) -> None:
    top = Project(tmp_path / "top")
    top.root.mkdir()
    top.git("init", "-q", "-b", "main")
    ml = Project(top.root / "ml")
    ml.env = top.env
    ml.root.mkdir()
    ml.mlv("init")
    write_files(top.root, {".gitignore": "data/\n", "README": "top\n"})
    ml.commit_data({"data/a.csv": "x\n1\n"}, "data one")
    ml.mlv("hooks", "install")
    assert (top.root / ".git/hooks/pre-commit").is_file()
    # `git commit PATH` commits from a temporary index: the staged mlv.lock is not in it.
    top.git("add", "README", "ml/mlv.lock")
    proc = top.git("commit", "-m", "readme", "README", expect=1)
    assert "run: git add mlv.lock" in proc.stderr
    top.git("commit", "-q", "-m", "readme and lock", "README", "ml/mlv.lock")
    write_files(ml.root, {"data/a.csv": "x\n2\n"})
    proc = top.git("commit", "--allow-empty", "-m", "x", expect=1)
    assert "modified: data/a.csv" in proc.stderr
