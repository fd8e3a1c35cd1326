"""Code versions from git, mlv.lock, mlv lock and mlv sync: real git repositories, real mlv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from helpers import ENV, mlv, one_error_line, write_files
from mlv import Repo
from mlv.gitcode.pin import PIN_FILE, Pin
from mlv.model.runs import Run
from mlv.repo.blobs import read_content

GIT_ENV = {
    **{k: v for k, v in ENV.items() if not k.startswith("GIT_")},
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

TRAIN = """\
import helper
open("model.txt", "w").write(helper.fit(open("data.csv").read()))
"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def project(root: Path, *, branch: str = "main") -> Path:
    """A git repository with two source files and an mlv repository holding data."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", branch)
    write_files(
        root,
        {
            "train.py": TRAIN,
            "helper.py": "def fit(text):\n    return str(len(text.splitlines()))\n",
            ".gitignore": "data.csv\nmodel.txt\n.mlv/\n",
            "data.csv": "a,b\n1,2\n3,4\n",
        },
    )
    git(root, "add", "train.py", "helper.py", ".gitignore")
    git(root, "commit", "-q", "-m", "code")
    assert mlv(root, "init").returncode == 0
    return root


def commit_data(root: Path, message: str = "data") -> str:
    assert mlv(root, "add", "data.csv").returncode == 0
    done = mlv(root, "commit", "-m", message, "--json")
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["id"])


def code_of(root: Path, rev: str = "HEAD") -> dict:
    with Repo(root) as repo:
        return repo.read_commit(repo.resolve(rev)).code


def source_paths(root: Path, tree: str) -> set[str]:
    with Repo(root) as repo:
        return set(repo.trees.flatten(tree))


# -- capture ---------------------------------------------------------------------------


def test_commit_in_git_records_commit_branch_clean_and_source_tree(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    commit_data(root)
    code = code_of(root)
    assert code["git_commit"] == git(root, "rev-parse", "HEAD")
    assert code["branch"] == "main"
    assert code["dirty"] is False
    assert "shallow" not in code
    assert source_paths(root, code["tree"]) == {"train.py", "helper.py", ".gitignore"}
    with Repo(root) as repo:
        assert repo.read_bytes(repo.resolve("HEAD"), "data.csv")  # data is data
        flat = repo.trees.flatten(code["tree"])
        assert repo.store.has(flat["helper.py"].id)


def test_outside_git_a_commit_has_no_code(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    write_files(root, {"data.csv": "x\n1\n"})
    assert mlv(root, "init").returncode == 0
    commit_data(root)
    assert code_of(root) == {}
    assert not (root / PIN_FILE).exists()
    with Repo(root) as repo:
        assert repo.code_version() is None


def test_a_changed_source_file_is_dirty_and_its_content_captured(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    commit_data(root, "first")
    clean_tree = code_of(root)["tree"]
    # Same size and a fresh mtime: only the content tells.
    (root / "helper.py").write_text("def fit(text):\n    return str(len(text.split(',')))\n")
    write_files(root, {"data.csv": "a,b\n5,6\n"})
    commit_data(root, "second")
    code = code_of(root)
    assert code["dirty"] is True
    assert code["tree"] != clean_tree
    with Repo(root) as repo:
        entry = repo.trees.flatten(code["tree"])["helper.py"]
        assert b"split(','" in read_content(repo.store, entry.id)
    git(root, "commit", "-q", "-am", "helper")
    write_files(root, {"data.csv": "a,b\n7,8\n"})
    commit_data(root, "third")
    code = code_of(root)
    assert code["dirty"] is False
    assert code["tree"] == code_of(root, "HEAD~1")["tree"]


def test_staged_but_uncommitted_git_change_is_dirty(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    write_files(root, {"new.py": "X = 1\n"})
    git(root, "add", "new.py")
    commit_data(root)
    code = code_of(root)
    assert code["dirty"] is True
    assert "new.py" in source_paths(root, code["tree"])


def test_untracked_files_are_neither_dirty_nor_captured(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    write_files(root, {"scratch.py": "print()\n"})
    commit_data(root)
    code = code_of(root)
    assert code["dirty"] is False
    assert "scratch.py" not in source_paths(root, code["tree"])


def test_data_tracked_by_both_git_and_mlv_is_not_captured_as_code(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    write_files(root, {"labels.csv": "y\n1\n"})
    git(root, "add", "labels.csv")
    git(root, "commit", "-q", "-m", "labels in git")
    assert mlv(root, "add", "labels.csv").returncode == 0
    commit_data(root)
    assert "labels.csv" not in source_paths(root, code_of(root)["tree"])


def test_detached_head_is_recorded_as_detached(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    sha = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "--detach", sha)
    commit_data(root)
    code = code_of(root)
    assert code["git_commit"] == sha and code["branch"] == ""
    shown = mlv(root, "show")
    assert f"Code: git {sha[:8]} (detached HEAD), source tree" in shown.stdout


def test_a_git_repository_without_commits_records_an_empty_sha(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write_files(root, {"a.py": "A = 1\n", "data.csv": "x\n"})
    git(root, "add", "a.py")
    assert mlv(root, "init").returncode == 0
    commit_data(root)
    code = code_of(root)
    assert code["git_commit"] == "" and code["branch"] == "main" and code["dirty"] is True
    assert source_paths(root, code["tree"]) == {"a.py"}


def test_mlv_root_below_the_git_root_captures_only_its_own_files(tmp_path: Path) -> None:
    top = tmp_path / "mono"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    write_files(top, {"other/x.py": "X\n", "ml/train.py": "T\n", "ml/data.csv": "d\n"})
    git(top, "add", "other/x.py", "ml/train.py")
    git(top, "commit", "-q", "-m", "c")
    root = top / "ml"
    assert mlv(root, "init").returncode == 0
    commit_data(root)
    code = code_of(root)
    assert source_paths(root, code["tree"]) == {"train.py"}
    assert code["dirty"] is False


def test_shallow_clone_is_captured_and_noted(tmp_path: Path) -> None:
    origin = project(tmp_path / "origin")
    write_files(origin, {"helper.py": "def fit(text):\n    return '2'\n"})
    git(origin, "commit", "-q", "-am", "second")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(clone)],
        env=GIT_ENV,
        check=True,
    )
    write_files(clone, {"data.csv": "a\n1\n"})
    assert mlv(clone, "init").returncode == 0
    commit_data(clone)
    code = code_of(clone)
    assert code["shallow"] is True and code["git_commit"] == git(origin, "rev-parse", "HEAD")
    assert "(shallow clone)" in mlv(clone, "show").stdout


def test_a_run_records_the_code_version(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    done = mlv(
        root, "run", "-n", "train", "-d", "data.csv", "-o", "model.txt",
        "--", sys.executable, "train.py",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    commit = mlv(root, "commit", "-m", "trained", "--json")
    assert commit.returncode == 0, commit.stderr
    with Repo(root) as repo:
        head = repo.read_commit(repo.resolve("HEAD"))
        (run_id,) = head.runs
        run = Run.from_bytes(repo.store.get(run_id))
    assert run.code["git_commit"] == git(root, "rev-parse", "HEAD")
    assert run.code["tree"] == head.code["tree"]
    shown = mlv(root, "show").stdout
    assert "Code: git " in shown and "on main, source tree" in shown
    assert "    code:     git " in shown


def test_run_ids_outside_git_do_not_change() -> None:
    run = Run("n", "c", "", {}, {}, {}, {}, "0" * 64, 0, 0, 0, "u", "h")
    assert b'"code"' not in run.to_bytes()
    coded = Run("n", "c", "", {}, {}, {}, {}, "0" * 64, 0, 0, 0, "u", "h", code={"tree": "t"})
    assert Run.from_bytes(coded.to_bytes()).code == {"tree": "t"}


# -- reproduce -------------------------------------------------------------------------


def _train_and_commit(root: Path) -> None:
    done = mlv(
        root, "run", "-n", "train", "-d", "data.csv", "-d", "train.py", "-o", "model.txt",
        "--", sys.executable, "train.py",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert mlv(root, "commit", "-m", "trained").returncode == 0


def test_reproduce_uses_the_stored_code_after_git_history_is_rewritten(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    first = git(root, "rev-parse", "HEAD")
    write_files(root, {"helper.py": "def fit(text):\n    return text.upper()\n"})
    git(root, "commit", "-q", "-am", "uppercase")
    _train_and_commit(root)
    assert (root / "model.txt").read_text() == "A,B\n1,2\n3,4\n"
    # helper.py is imported, never declared: only the code tree brings it along.
    git(root, "reset", "-q", "--hard", first)
    (root / "helper.py").unlink()
    done = mlv(root, "reproduce", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["verdict"] == "reproduced"
    assert any("source files from git" in note for note in report["notes"])


def test_reproduce_outside_git_still_hints_at_an_undeclared_helper(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    write_files(
        root,
        {
            "train.py": TRAIN,
            "helper.py": "def fit(text):\n    return 'x'\n",
            "data.csv": "a\n",
        },
    )
    assert mlv(root, "init").returncode == 0
    assert mlv(root, "add", "helper.py").returncode == 0
    _train_and_commit(root)
    done = mlv(root, "reproduce")
    assert done.returncode == 2
    last = done.stderr.splitlines()[-1]
    assert last.startswith("mlv: error: ") and "it probably reads helper.py" in last


# -- mlv.lock --------------------------------------------------------------------------


def test_commit_writes_a_stable_lock_that_mlv_never_tracks(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    commit_id = commit_data(root)
    text = (root / PIN_FILE).read_text()
    with Repo(root) as repo:
        tree = repo.read_commit(commit_id).tree
        data_id = repo.trees.entry_at(tree, "data.csv").id  # type: ignore[union-attr]
    assert text.splitlines()[1:] == [
        "format: 1",
        f"commit: {commit_id}",
        "paths:",
        f"  data.csv: {data_id}",
    ]
    before = (root / PIN_FILE).stat().st_mtime_ns
    time.sleep(0.01)
    assert mlv(root, "lock").returncode == 0
    assert (root / PIN_FILE).read_text() == text
    assert (root / PIN_FILE).stat().st_mtime_ns == before  # unchanged: not rewritten
    status = json.loads(mlv(root, "status", "--json").stdout)
    assert PIN_FILE not in json.dumps(status)
    assert mlv(root, "add", ".").returncode == 0
    assert PIN_FILE not in source_paths(root, code_of(root)["tree"])


def test_lock_check_reports_stale_and_current(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    done = mlv(root, "lock", "--check", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["current"] is True  # nothing yet
    commit_data(root, "one")
    assert mlv(root, "lock", "--check").returncode == 0
    (root / PIN_FILE).unlink()
    stale = mlv(root, "lock", "--check")
    assert stale.returncode == 1 and "stale" in stale.stdout
    assert mlv(root, "lock").returncode == 0
    write_files(root, {"data.csv": "changed\n"})
    commit_data(root, "two")
    assert mlv(root, "lock", "--check").returncode == 0
    assert mlv(root, "checkout", "HEAD~1").returncode == 0
    assert mlv(root, "lock", "--check").returncode == 1
    with Repo(root) as repo:
        assert repo.pin_is_current() is False


def test_sync_restores_the_data_the_lock_names(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    first = commit_data(root, "one")
    git(root, "add", PIN_FILE)
    git(root, "commit", "-q", "-m", "lock one")
    git(root, "branch", "old")
    write_files(root, {"data.csv": "a,b\n9,9\n"})
    commit_data(root, "two")
    git(root, "commit", "-q", "-am", "lock two")
    git(root, "checkout", "-q", "old")
    assert (root / "data.csv").read_text() == "a,b\n9,9\n"  # git moved the lock, not the data
    assert mlv(root, "lock", "--check").returncode == 1
    done = mlv(root, "sync")
    assert done.returncode == 0, done.stderr
    assert "data.csv" in done.stdout and "1 file(s) written" in done.stdout
    assert (root / "data.csv").read_text() == "a,b\n1,2\n3,4\n"
    with Repo(root) as repo:
        assert repo.resolve("HEAD") == first
        assert repo.pin_is_current()
    git(root, "checkout", "-q", "main")
    done = mlv(root, "checkout", "--lock", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["written"] == ["data.csv"]
    assert (root / "data.csv").read_text() == "a,b\n9,9\n"


def test_sync_refuses_to_overwrite_local_changes_unless_forced(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    commit_data(root, "one")
    lock_one = (root / PIN_FILE).read_text()
    write_files(root, {"data.csv": "two\n"})
    commit_data(root, "two")
    (root / PIN_FILE).write_text(lock_one)
    write_files(root, {"data.csv": "local edit\n"})
    one_error_line(mlv(root, "sync"))
    assert (root / "data.csv").read_text() == "local edit\n"
    assert mlv(root, "sync", "--force").returncode == 0
    assert (root / "data.csv").read_text() == "a,b\n1,2\n3,4\n"


def test_bad_cases_give_one_line(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    assert "no mlv.lock" in one_error_line(mlv(root, "sync"))
    assert "nothing committed" in one_error_line(mlv(root, "lock"))
    assert "--lock" in one_error_line(mlv(root, "checkout", "--lock", "HEAD"))
    (root / PIN_FILE).write_text("format: 9\ncommit: x\n")
    assert "format 9" in one_error_line(mlv(root, "sync"))
    (root / PIN_FILE).write_text(f"format: 1\ncommit: {'a' * 64}\npaths:\n")
    assert "lacks" in one_error_line(mlv(root, "sync"))


names = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\x00"), min_size=1
).filter(lambda n: n not in (".", "..") and n.strip() == n)
# An id of 64 digits and no letter (odds 1 in 10^13) would read as a number in YAML.
ids = st.text("0123456789abcdef", min_size=64, max_size=64).filter(lambda i: not i.isdigit())


@given(st.dictionaries(names, ids, max_size=8), ids)
def test_lock_text_round_trips_and_is_valid_yaml(paths: dict[str, str], commit: str) -> None:
    import yaml

    lock = Pin(commit, paths)
    text = lock.to_text()
    assert Pin.from_text(text) == lock
    assert Pin(commit, dict(reversed(list(paths.items())))).to_text() == text
    loaded = yaml.safe_load(text)
    assert loaded["commit"] == commit and (loaded["paths"] or {}) == paths


# -- cost ------------------------------------------------------------------------------


def test_capture_of_2000_unchanged_sources_reads_none_of_them(tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write_files(root, {f"src/m{i // 100}/f{i}.py": f"X = {i}\n" for i in range(2000)})
    git(root, "add", "src")
    git(root, "commit", "-q", "-m", "many")
    with Repo.init(root) as repo:
        first = repo.code_version()
        assert first is not None and first["dirty"] is False
        begin = time.perf_counter()
        again = repo.code_version()
        took = time.perf_counter() - begin
    assert again == first
    assert took < 2.0, f"capture of 2,000 unchanged files took {took:.2f} s"
