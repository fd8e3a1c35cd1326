"""Actions: the commands under mlv.yaml's hooks:, around mlv commit and mlv merge."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import ENV, MLV, mlv, one_error_line, write_files
from mlv import Repo
from mlv.actions import load_actions
from mlv.errors import HookFailedError, PipelineError


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """A repository with one commit, and a log file outside it that hooks append to."""
    root = tmp_path / "repo"
    log = tmp_path / "hooks.log"
    assert mlv(tmp_path, "init", str(root)).returncode == 0
    write_files(root, {"data/a.csv": "x\n1\n"})
    assert mlv(root, "add", "data").returncode == 0
    assert mlv(root, "commit", "-m", "first").returncode == 0
    return root, log


def declare(root: Path, hooks: str) -> None:
    (root / "mlv.yaml").write_text("hooks:\n" + hooks)


def head(root: Path) -> str:
    with Repo(root) as repo:
        return repo.resolve("HEAD")


def test_hooks_run_around_a_commit_with_its_facts(project) -> None:
    root, log = project
    declare(
        root,
        f"  pre-commit:\n"
        f"    - name: record\n"
        f'      cmd: echo "pre $MLV_EVENT $MLV_BRANCH $MLV_HEAD $MLV_MESSAGE" >> {log}\n'
        f"  post-commit:\n"
        f'    - echo "post $MLV_COMMIT $MLV_AUTHOR" >> {log}\n',
    )
    before = head(root)
    write_files(root, {"data/a.csv": "x\n2\n"})
    assert mlv(root, "add", "data").returncode == 0
    done = mlv(root, "commit", "-m", "second")
    assert done.returncode == 0, done.stderr
    after = head(root)
    pre, post = log.read_text().splitlines()
    assert pre == f"pre pre-commit main {before} second"
    assert post == f"post {after} Safety <safety@example.com>"


def test_a_failing_pre_commit_hook_aborts_and_shows_its_output(project) -> None:
    root, _ = project
    declare(
        root, "  pre-commit:\n    - name: checks\n      cmd: echo 'age out of range' >&2; exit 3\n"
    )
    before = head(root)
    write_files(root, {"data/a.csv": "x\n3\n"})
    assert mlv(root, "add", "data").returncode == 0
    done = mlv(root, "commit", "-m", "refused")
    assert done.returncode == 1
    assert "age out of range" in done.stderr  # the hook's own output
    assert "pre-commit hook 'checks' failed (exit code 3)" in done.stderr
    assert head(root) == before
    with Repo(root) as repo:
        assert [c.path for c in repo.status().staged] == ["data/a.csv"]


def test_a_failing_post_commit_hook_never_undoes_the_commit(project) -> None:
    root, _ = project
    declare(root, "  post-commit:\n    - exit 5\n    - echo second-hook-ran\n")
    write_files(root, {"data/a.csv": "x\n4\n"})
    assert mlv(root, "add", "data").returncode == 0
    done = mlv(root, "commit", "-m", "kept")
    assert done.returncode == 0
    assert "post-commit hook 'exit 5' failed (exit code 5); the commit stands" in done.stderr
    assert "second-hook-ran" in done.stdout
    with Repo(root) as repo:
        assert repo.log()[0].commit.summary == "kept"


def test_a_hook_may_run_mlv_itself(project) -> None:
    root, _ = project
    declare(root, "  pre-commit:\n    - mlv status --json > /dev/null && mlv check\n")
    write_files(root, {"data/a.csv": "x\n5\n"})
    assert mlv(root, "add", "data").returncode == 0
    # `mlv` on PATH is this installation's; the lock is free while hooks run.
    path = f"{Path(MLV).parent}{os.pathsep}{ENV.get('PATH', '')}"
    env = {**ENV, "MLV_LOCK_TIMEOUT": "5", "PATH": path}
    done = mlv(root, "commit", "-m", "nested", env=env)
    assert done.returncode == 0, done.stderr


def test_a_failing_pre_merge_hook_aborts_the_merge(project) -> None:
    root, log = project
    assert mlv(root, "switch", "-c", "side").returncode == 0
    write_files(root, {"data/b.csv": "y\n1\n"})
    assert mlv(root, "add", "data").returncode == 0
    side = mlv(root, "commit", "-m", "side work")
    assert side.returncode == 0
    assert mlv(root, "switch", "main").returncode == 0
    main_before = head(root)
    declare(
        root,
        f'  pre-merge:\n    - echo "$MLV_MERGE_SOURCE $MLV_BRANCH" >> {log}; exit 1\n'
        f"  pre-commit:\n    - echo pre-commit >> {log}\n",
    )
    line = one_error_line_code1(mlv(root, "merge", "side"))
    assert "pre-merge hook" in line and "the merge is not made" in line
    assert head(root) == main_before
    assert log.read_text() == "side main\n"
    # Without the failing hook the merge goes through; a merge runs no commit hooks.
    declare(root, f"  pre-commit:\n    - echo pre-commit >> {log}\n")
    done = mlv(root, "merge", "side", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kind"] == "fast-forward"
    assert log.read_text() == "side main\n"


def one_error_line_code1(proc) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("mlv: error: ")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ("  pre-push:\n    - true\n", ["unknown hook event 'pre-push'"]),
        ("  pre-commit:\n    - name: x\n", ["hooks.pre-commit, item 1", "cmd:"]),
        ("  pre-commit:\n    - cmd: true\n      when: always\n", ["unknown key 'when'"]),
        ("  pre-commit: 3\n", ["hooks.pre-commit must be a list"]),
    ],
)
def test_a_malformed_hooks_section_is_one_clear_line(project, section: str, words) -> None:
    root, _ = project
    declare(root, section)
    write_files(root, {"data/a.csv": "x\n6\n"})
    assert mlv(root, "add", "data").returncode == 0
    line = one_error_line(mlv(root, "commit", "-m", "malformed"))
    for word in words:
        assert word in line, line
    with pytest.raises(PipelineError):
        load_actions(root)


def test_hooks_through_the_python_api(project) -> None:
    root, log = project
    declare(root, f"  pre-commit:\n    - echo api >> {log}; exit 2\n")
    write_files(root, {"data/a.csv": "x\n7\n"})
    with Repo(root) as repo:
        repo.add(["data"])
        with pytest.raises(HookFailedError) as info:
            repo.commit("from a notebook", environ=ENV)
        assert info.value.exit_code == 1
    assert log.read_text() == "api\n"
    # An mlv.yaml with only stages (or none) runs no hooks.
    (root / "mlv.yaml").unlink()
    with Repo(root) as repo:
        repo.commit("no hooks", environ=ENV)


def test_actions_run_inside_the_write_lock_unless_asked_not_to(project) -> None:
    # Holding the write lock used to skip the actions silently; now only the argument does.
    root, log = project
    declare(root, f"  pre-commit:\n    - echo pre $MLV_MESSAGE >> {log}\n")
    with Repo(root) as repo:
        with repo.write_lock:
            write_files(root, {"data/a.csv": "x\n8\n"})
            repo.add(["data"])
            first = repo.commit("locked", environ=ENV)
        write_files(root, {"data/a.csv": "x\n9\n"})
        repo.add(["data"])
        second = repo.commit("quiet", environ=ENV, run_actions=False)
        assert repo.read_commit(second).parents == (first,)
    assert log.read_text() == "pre locked\n"
