"""`mlv run`: executing a command, recording what it read and wrote, and committing the run."""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from conftest import AUTHOR_EMAIL, AUTHOR_NAME
from helpers import one_error_line, write_files
from mlv import Repo
from mlv.model.runs import ARTIFACT_DIR, ARTIFACT_FILE, Env
from mlv.runs.environment import capture_env, drift

BIN = str(Path(sys.executable).parent)
# `python` on the command's PATH is the interpreter running these tests.
PY_ENV = {"PATH": BIN + os.pathsep + os.environ.get("PATH", "")}

MAKE = """\
import json
from pathlib import Path

print("chatter on stdout")

Path("a.csv").write_text("x,y\\n1,2\\n3,4\\n")
Path("metrics.json").write_text(json.dumps({"acc": 0.75, "loss": {"train": 0.5, "test": 0.25}}))
"""


@pytest.fixture
def project(repo_path: Path) -> Path:
    write_files(
        repo_path,
        {
            "make.py": MAKE,
            "params.yaml": "train:\n  lr: 0.01\n  epochs: 3\nseed: 7\n",
            "other.yaml": "a: 1\nb: [1, 2]\nc: unused\n",
        },
    )
    return repo_path


def record(root: Path, run_mlv, *args: str, expect: int | None = 0, env=None, cwd=None):
    """`mlv run ARGS` with python on PATH."""
    return run_mlv(cwd or root, "run", *args, env={**PY_ENV, **(env or {})}, expect=expect)


def commit(root: Path, run_mlv, message: str = "work") -> str:
    run_mlv(root, "add", ".")
    run_mlv(root, "commit", "-m", message)
    with Repo(root) as repo:
        return repo.resolve("HEAD")


# -- a recorded run ---------------------------------------------------------------


def test_run_records_everything_and_commit_carries_it(project: Path, run_mlv) -> None:
    before = time.time()
    proc = record(
        project,
        run_mlv,
        "-n",
        "make",
        "-d",
        "make.py",
        "-o",
        "a.csv",
        "-p",
        "train.lr",
        "-p",
        "other.yaml:a,b",
        "-M",
        "metrics.json",
        "--json",
        "--",
        "python",
        "make.py",
        env={"OMP_NUM_THREADS": "2"},
    )
    shown = json.loads(proc.stdout)
    assert (project / "a.csv").read_text() == "x,y\n1,2\n3,4\n"

    # Staged, and waiting for the next commit.
    status = json.loads(run_mlv(project, "status", "--json").stdout)
    staged = json.dumps(status["staged"])
    for path in ("a.csv", "metrics.json", "make.py", "params.yaml", "other.yaml"):
        assert path in staged
    with Repo(project) as repo:
        assert [r for r, _ in repo.records.pending()] == [shown["id"]]

    commit_id = commit(project, run_mlv)
    with Repo(project) as repo:
        assert repo.read_commit(commit_id).runs == (shown["id"],)
        runs = repo.runs("HEAD")
        assert list(runs) == [shown["id"]]
        run = runs[shown["id"]]
        tree = repo.read_commit(commit_id).tree
        env = repo.read_env(run.env)
        assert repo.records.pending() == []

        assert run.name == "make"
        assert run.cmd == "python make.py"
        assert run.wdir == ""
        assert run.exit_code == 0
        assert run.user == f"{AUTHOR_NAME} <{AUTHOR_EMAIL}>"
        assert run.host == socket.gethostname()
        assert int(before) <= run.started <= time.time()
        assert 0 <= run.duration_ms < 60_000
        assert set(run.deps) == {"make.py"}
        assert run.deps["make.py"].id == repo.trees.entry_at(tree, "make.py").id
        assert run.deps["make.py"].kind == ARTIFACT_FILE
        assert run.deps["make.py"].size == len(MAKE.encode())
        assert set(run.outs) == {"a.csv", "metrics.json"}
        for path, artifact in run.outs.items():
            assert artifact.id == repo.trees.entry_at(tree, path).id
            assert artifact.size == (project / path).stat().st_size

        assert run.params["params.yaml"].values == {"train.lr": 0.01}
        assert run.params["other.yaml"].values == {"a": 1, "b": [1, 2]}
        assert run.params["other.yaml"].artifact.id == repo.trees.entry_at(tree, "other.yaml").id
        assert run.metrics == {"metrics.json": {"acc": 0.75, "loss.train": 0.5, "loss.test": 0.25}}

        assert run.variables["PYTHONHASHSEED"] == "0"  # set for the command unless the user did
        assert run.variables["OMP_NUM_THREADS"] == "2"
        assert env.variables["OMP_NUM_THREADS"] == "2"
        assert env.python == platform.python_version()
        assert env.implementation == platform.python_implementation()
        assert env.machine == platform.machine()
        assert env.packages["numpy"] == metadata.version("numpy")
        assert env.packages["pyyaml"] == metadata.version("pyyaml")
        assert env.packages["mlv"] == metadata.version("mlv")

        assert shown == {"id": shown["id"], **run.body()}
        details = repo.show("HEAD")
        assert [r.id for r in details.runs] == [shown["id"]]
        assert details.runs[0].recorded_here
        assert details.runs[0].env == env

    doc = json.loads(run_mlv(project, "show", "--json", "HEAD").stdout)
    assert doc["runs"][0]["id"] == shown["id"]
    assert doc["runs"][0]["params"]["other.yaml"]["values"] == {"a": 1, "b": [1, 2]}
    assert doc["runs"][0]["metrics"]["metrics.json"]["acc"] == 0.75
    assert doc["runs"][0]["env"]["python"] == platform.python_version()
    assert doc["runs"][0]["env"]["packages"]["numpy"] == metadata.version("numpy")
    assert doc["reproductions"] == []
    text = run_mlv(project, "show", "HEAD").stdout
    assert "run make" in text
    assert "train.lr=0.01" in text
    assert "acc=0.75" in text
    assert f"CPython {platform.python_version()}" in text


def test_params_file_without_keys_takes_every_key(project: Path, run_mlv) -> None:
    doc = json.loads(
        record(
            project,
            run_mlv,
            "-d",
            "make.py",
            "-o",
            "a.csv",
            "-p",
            "other.yaml:",
            "-p",
            "seed",
            "--json",
            "--",
            "python make.py",
        ).stdout
    )
    assert doc["name"] == "a"  # the first output's name
    assert doc["params"]["other.yaml"]["values"] == {"a": 1, "b": [1, 2], "c": "unused"}
    assert doc["params"]["params.yaml"]["values"] == {"seed": 7}
    assert doc["metrics"] == {}


def test_missing_param_key_is_refused(project: Path, run_mlv) -> None:
    args = ("-d", "make.py", "-o", "a.csv", "-p", "train.nope", "--", "python make.py")
    proc = record(project, run_mlv, *args, expect=2)
    assert "train.nope" in one_error_line(proc)
    assert not (project / "a.csv").exists()


def test_run_in_a_subfolder_records_its_working_folder(repo_path: Path, run_mlv) -> None:
    write_files(
        repo_path,
        {
            "sub/step.py": "import yaml\n"
            "lr = yaml.safe_load(open('params.yaml'))['lr']\n"
            "open('out.txt', 'w').write(f'lr={lr}\\n')\n",
            "sub/params.yaml": "lr: 0.5\n",
        },
    )
    doc = json.loads(
        record(
            repo_path,
            run_mlv,
            "-d",
            "step.py",
            "-o",
            "out.txt",
            "-p",
            "lr",
            "--json",
            "--",
            "python step.py",
            cwd=repo_path / "sub",
        ).stdout
    )
    assert (repo_path / "sub/out.txt").read_text() == "lr=0.5\n"
    assert doc["wdir"] == "sub"
    assert list(doc["deps"]) == ["sub/step.py"]
    assert list(doc["outs"]) == ["sub/out.txt"]
    assert doc["params"]["sub/params.yaml"]["values"] == {"lr": 0.5}
    commit(repo_path, run_mlv)
    with Repo(repo_path) as repo:
        (run,) = repo.runs("HEAD").values()
        assert run.wdir == "sub"
        assert (
            run.outs["sub/out.txt"].id
            == repo.trees.entry_at(repo.read_commit(repo.resolve("HEAD")).tree, "sub/out.txt").id
        )


def test_folder_output_is_recorded_as_its_tree(repo_path: Path, run_mlv) -> None:
    write_files(
        repo_path,
        {
            "fit.py": "import os\nos.makedirs('model/parts', exist_ok=True)\n"
            "open('model/w.bin', 'wb').write(b'\\x00' * 10)\n"
            "open('model/parts/p.txt', 'w').write('p\\n')\n"
        },
    )
    # A stale file in the output folder is removed before the command runs.
    write_files(repo_path, {"model/stale.txt": "old\n"})
    doc = json.loads(
        record(
            repo_path, run_mlv, "-d", "fit.py", "-o", "model", "--json", "--", "python fit.py"
        ).stdout
    )
    assert not (repo_path / "model/stale.txt").exists()
    assert doc["outs"]["model"]["kind"] == ARTIFACT_DIR
    assert doc["outs"]["model"]["size"] == 12
    commit_id = commit(repo_path, run_mlv)
    with Repo(repo_path) as repo:
        tree = repo.read_commit(commit_id).tree
        assert doc["outs"]["model"]["id"] == repo.trees.entry_at(tree, "model").id
        assert list(repo.runs("HEAD")) == [doc["id"]]


def test_next_commit_carries_only_runs_whose_outputs_it_holds(project: Path, run_mlv) -> None:
    record(project, run_mlv, "-d", "make.py", "-o", "a.csv", "--", "python make.py")
    (project / "a.csv").write_text("edited by hand\n")  # no longer what the run wrote
    commit_id = commit(project, run_mlv)
    with Repo(project) as repo:
        assert repo.read_commit(commit_id).runs == ()
        assert repo.runs("HEAD") == {}


def test_runs_of_earlier_commits_stay_behind_unchanged_outputs(project: Path, run_mlv) -> None:
    first = json.loads(
        record(
            project, run_mlv, "-d", "make.py", "-o", "a.csv", "--json", "--", "python make.py"
        ).stdout
    )
    commit(project, run_mlv, "one")
    write_files(project, {"notes.txt": "n\n"})
    second_commit = commit(project, run_mlv, "two")
    with Repo(project) as repo:
        assert repo.read_commit(second_commit).runs == ()
        assert list(repo.runs("HEAD")) == [first["id"]]
        (details,) = repo.show("HEAD").runs
        assert not details.recorded_here


def test_a_newer_run_of_the_same_output_supersedes_the_older(project: Path, run_mlv) -> None:
    args = ("-d", "make.py", "-o", "a.csv", "--json", "--", "python make.py")
    first = json.loads(record(project, run_mlv, *args).stdout)
    (project / "make.py").write_text(MAKE.replace("1,2", "5,6"))
    second = json.loads(record(project, run_mlv, *args).stdout)
    with Repo(project) as repo:
        assert repo.status().pending_runs == [second["id"], first["id"]]
    commit(project, run_mlv)
    with Repo(project) as repo:
        assert repo.read_commit(repo.resolve("HEAD")).runs == (second["id"],)
        # The older run wrote a path the newer one claimed: it no longer waits.
        assert repo.status().pending_runs == []
    assert "wait for a commit" not in run_mlv(project, "status").stdout


# -- failures -----------------------------------------------------------------------


def test_failing_command_records_nothing_and_keeps_its_files(repo_path: Path, run_mlv) -> None:
    write_files(
        repo_path,
        {"fail.py": "import sys\nopen('part.csv', 'w').write('x\\n1\\n')\nsys.exit(3)\n"},
    )
    proc = record(
        repo_path, run_mlv, "-d", "fail.py", "-o", "part.csv", "--", "python fail.py", expect=3
    )
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlv: error: "), proc.stderr
    assert "code 3" in lines[0]
    assert "no outputs were recorded" in lines[0]
    assert (repo_path / "part.csv").read_text() == "x\n1\n"  # left for inspection
    with Repo(repo_path) as repo:
        assert repo.records.pending() == []
    commit_id = commit(repo_path, run_mlv)
    with Repo(repo_path) as repo:
        assert repo.read_commit(commit_id).runs == ()
        assert repo.runs("HEAD") == {}


def test_command_that_does_not_write_its_output(repo_path: Path, run_mlv) -> None:
    write_files(repo_path, {"noop.py": "pass\n"})
    proc = record(
        repo_path, run_mlv, "-d", "noop.py", "-o", "never.csv", "--", "python noop.py", expect=2
    )
    assert "never.csv" in one_error_line(proc)
    with Repo(repo_path) as repo:
        assert repo.records.pending() == []


def test_missing_dependency_is_named(repo_path: Path, run_mlv) -> None:
    write_files(repo_path, {"make.py": MAKE})
    proc = record(
        repo_path,
        run_mlv,
        "-d",
        "make.py",
        "-d",
        "data/raw.csv",
        "-o",
        "a.csv",
        "--",
        "python make.py",
        expect=2,
    )
    line = one_error_line(proc)
    assert "data/raw.csv" in line and "does not exist" in line
    assert not (repo_path / "a.csv").exists()


def test_output_equal_to_a_dependency_is_refused(project: Path, run_mlv) -> None:
    proc = record(
        project, run_mlv, "-d", "make.py", "-o", "make.py", "--", "python make.py", expect=2
    )
    assert "make.py" in one_error_line(proc)
    assert (project / "make.py").read_text() == MAKE


def test_output_folder_holding_a_dependency_is_refused(repo_path: Path, run_mlv) -> None:
    """Outputs are deleted before the command runs: the dependency must survive."""
    write_files(repo_path, {"data/raw.csv": "x\n1\n"})
    proc = record(
        repo_path, run_mlv, "-d", "data/raw.csv", "-o", "data", "--", "python -c pass", expect=2
    )
    assert "data/raw.csv" in one_error_line(proc)
    assert (repo_path / "data/raw.csv").read_text() == "x\n1\n"


@pytest.mark.parametrize("where", ["", "sub"])
def test_repository_root_or_working_folder_as_output_is_refused(
    repo_path: Path, run_mlv, where: str
) -> None:
    write_files(repo_path, {"precious.txt": "keep me\n", "sub/also.txt": "me too\n"})
    proc = record(
        repo_path, run_mlv, "-o", ".", "--", "python -c pass", expect=2, cwd=repo_path / where
    )
    one_error_line(proc)
    assert (repo_path / "precious.txt").read_text() == "keep me\n"
    assert (repo_path / "sub/also.txt").read_text() == "me too\n"
    assert (repo_path / ".mlv").is_dir()


def test_no_outputs_is_refused(project: Path, run_mlv) -> None:
    proc = record(project, run_mlv, "-d", "make.py", "--", "python make.py", expect=2)
    assert "-o" in one_error_line(proc)
    assert not (project / "a.csv").exists()  # nothing ran


# -- environment ----------------------------------------------------------------------


def test_capture_env_describes_the_python_on_path() -> None:
    env, executable = capture_env({"PATH": BIN, "TZ": "UTC", "HOME": "/nowhere"})
    assert executable is not None and Path(executable).parent == Path(sys.executable).parent
    assert env.python == platform.python_version()
    assert env.packages["numpy"] == metadata.version("numpy")
    assert env.variables == {"TZ": "UTC"}
    assert drift(env, env) == {}

    empty, none = capture_env({"PATH": "/nonexistent-folder"})
    assert none is None
    assert empty.python == "" and empty.packages == {}


def test_drift_reports_implementation_change() -> None:
    cpython = Env("3.10.13", "CPython", "Linux", "x86_64", {}, {})
    pypy = Env("3.10.13", "PyPy", "Linux", "x86_64", {}, {})
    assert drift(cpython, pypy) == {"implementation": ["CPython", "PyPy"]}


def test_drift_reports_python_and_package_changes() -> None:
    base = Env("3.11.7", "CPython", "Linux", "x86_64", {"numpy": "1.26.0", "pandas": "2.1.0"}, {})
    now = Env("3.12.1", "CPython", "Linux", "x86_64", {"numpy": "2.0.0", "scipy": "1.13.0"}, {})
    assert drift(base, now) == {
        "python": ["3.11.7", "3.12.1"],
        "numpy": ["1.26.0", "2.0.0"],
        "pandas": ["2.1.0", "absent"],
        "scipy": ["absent", "1.13.0"],
    }
    assert drift(base, base) == {}


def test_metrics_and_params_that_json_cannot_hold(repo_path: Path, run_mlv) -> None:
    """A diverged loss (NaN), infinities and YAML dates are recorded, as text."""
    write_files(
        repo_path,
        {
            "p.yaml": "start: 2024-01-31\nlr: .inf\n",
            "m.py": 'text = \'{"loss": NaN, "best": -Infinity, "acc": 0.5}\'\n'
            "open('m.json', 'w').write(text)\n"
            "open('m.yaml', 'w').write('when: 2024-02-01\\n1: one\\n')\n",
        },
    )
    doc = json.loads(
        record(
            repo_path,
            run_mlv,
            "-d",
            "m.py",
            "-p",
            "p.yaml:start,lr",
            "-M",
            "m.json",
            "-M",
            "m.yaml",
            "--json",
            "--",
            "python m.py",
        ).stdout
    )
    assert doc["metrics"] == {
        "m.json": {"loss": "nan", "best": "-inf", "acc": 0.5},
        "m.yaml": {"when": "2024-02-01", "1": "one"},
    }
    assert doc["params"]["p.yaml"]["values"] == {"start": "2024-01-31", "lr": "inf"}
    commit(repo_path, run_mlv)
    with Repo(repo_path) as repo:
        (run,) = repo.runs("HEAD").values()
        assert run.metrics["m.json"]["loss"] == "nan"


def test_command_killed_by_a_signal(repo_path: Path, run_mlv) -> None:
    write_files(repo_path, {"die.py": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"})
    proc = record(repo_path, run_mlv, "-d", "die.py", "-o", "x", "--", "python die.py", expect=137)
    last = proc.stderr.splitlines()[-1]  # the shell may say "Killed" first
    assert last.startswith("mlv: error: ") and "code 137" in last
    assert "Traceback" not in proc.stderr
    with Repo(repo_path) as repo:
        assert repo.records.pending() == []


def test_ignored_dependency_or_output_is_refused(repo_path: Path, run_mlv) -> None:
    """Not recorded as an empty folder, which would lose the content and fail to reproduce."""
    write_files(repo_path, {".mlvignore": "*.log\n", "in.log": "data\n", "copy.py": "pass\n"})
    proc = record(
        repo_path, run_mlv, "-d", "in.log", "-o", "o.txt", "--", "python copy.py", expect=2
    )
    assert "in.log is ignored" in one_error_line(proc)
    proc = record(repo_path, run_mlv, "-o", "out.log", "--", "echo hi > out.log", expect=2)
    assert "out.log is ignored" in one_error_line(proc)
    with Repo(repo_path) as repo:
        assert repo.records.pending() == []
