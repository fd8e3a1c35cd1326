"""CLI: init, add, rm, status, commit; each test runs ``mlv``, then checks through ``Repo``."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import AUTHOR_EMAIL, AUTHOR_NAME
from mlv import Repo
from mlv.model.objects import Person

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
NO_ENV_AUTHOR: dict[str, str | None] = {"MLV_AUTHOR_NAME": None, "MLV_AUTHOR_EMAIL": None}


def staged_changes(root: Path) -> dict[str, str]:
    """path -> added / removed / modified, staged against HEAD."""
    with Repo(root) as repo:
        return {c.path: c.status for c in repo.status().staged}


def git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", HOME=str(cwd))
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout


# -- init ---------------------------------------------------------------------


def test_init_in_plain_folder(tmp_path: Path, run_mlv) -> None:
    run_mlv(tmp_path, "init")
    with Repo(tmp_path) as repo:
        assert repo.root == tmp_path.resolve()
        assert repo.current_branch() == "main"
        assert repo.refs.head().commit is None
        assert repo.log() == []
        assert repo.status().clean
    assert (tmp_path / ".mlv" / "config.toml").is_file()

    again = run_mlv(tmp_path, "init", expect=2)
    assert again.stderr.startswith("mlv: error:")
    assert "already" in again.stderr
    assert "Traceback" not in again.stderr


def test_init_creates_the_folder_and_names_the_branch(tmp_path: Path, run_mlv) -> None:
    out = run_mlv(tmp_path, "init", "new/project", "--branch", "trunk", "--json")
    report = json.loads(out.stdout)
    target = (tmp_path / "new" / "project").resolve()
    assert report == {"root": str(target), "branch": "trunk"}
    with Repo(target) as repo:
        assert repo.current_branch() == "trunk"
    # A sub-folder finds the repository above it.
    (target / "sub").mkdir()
    status = json.loads(run_mlv(target / "sub", "status", "--json").stdout)
    assert status["branch"] == "trunk"
    assert status["head"] is None
    assert status["clean"] is True


def test_init_on_a_file_is_one_clear_error(tmp_path: Path, run_mlv) -> None:
    (tmp_path / "afile").write_text("x\n")
    proc = run_mlv(tmp_path, "init", "afile", expect=2)
    assert proc.stderr.startswith("mlv: error:")
    assert "is a file" in proc.stderr
    assert (tmp_path / "afile").read_text() == "x\n"


def test_commands_outside_a_repository_fail_cleanly(tmp_path: Path, run_mlv) -> None:
    proc = run_mlv(tmp_path, "status", expect=2)
    assert proc.stderr.startswith("mlv: error: not an mlv repository")
    assert "mlv init" in proc.stderr
    assert proc.stdout == ""


@needs_git
def test_init_inside_git_keeps_the_store_out_of_git(tmp_path: Path, run_mlv, commit_files) -> None:
    git(tmp_path, "init", "-q")
    run_mlv(tmp_path, "init")
    untracked = git(tmp_path, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(untracked) == ["?? .mlv/.gitignore", "?? .mlv/config.toml"]

    # Once there are packs, an index and refs, git still sees only the two files.
    commit_files(tmp_path, {"data/a.csv": "x,y\n1,2\n"}, "data")
    assert any((tmp_path / ".mlv" / "packs").iterdir())
    untracked = git(tmp_path, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(line for line in untracked if ".mlv" in line) == [
        "?? .mlv/.gitignore",
        "?? .mlv/config.toml",
    ]


# -- add ----------------------------------------------------------------------


def test_add_files_and_folders(repo_path: Path, run_mlv, write) -> None:
    write(
        repo_path,
        {
            "data/a.csv": "a\n1\n",
            "data/deep/b.bin": b"\x00\x01\x02",
            "models/model.pkl": b"model",
            "models/other.pkl": b"not added",
        },
    )
    out = run_mlv(repo_path, "add", "data", "models/model.pkl", "--json")
    report = json.loads(out.stdout)
    assert report["added"] == ["data/a.csv", "data/deep/b.bin", "models/model.pkl"]
    assert report["bytes_read"] == 4 + 3 + 5
    assert staged_changes(repo_path) == {
        "data/a.csv": "added",
        "data/deep/b.bin": "added",
        "models/model.pkl": "added",
    }

    # Adding again reads nothing new; a changed file is staged as modified.
    write(repo_path, {"data/a.csv": "a\n1\n2\n"})
    report = json.loads(run_mlv(repo_path, "add", "data", "--json").stdout)
    assert report["modified"] == ["data/a.csv"]
    assert report["added"] == []
    assert report["unchanged"] == 1
    with Repo(repo_path) as repo:
        staged = repo.staging.load()
    assert staged["data/a.csv"].size == 6


def test_add_from_a_subfolder_uses_paths_relative_to_it(repo_path: Path, run_mlv, write) -> None:
    write(repo_path, {"data/raw/x.csv": "x\n", "data/y.csv": "y\n"})
    run_mlv(repo_path / "data", "add", "raw")
    assert staged_changes(repo_path) == {"data/raw/x.csv": "added"}


def test_add_honours_mlvignore(repo_path: Path, run_mlv, write) -> None:
    write(
        repo_path,
        {
            ".mlvignore": "# scratch\n*.tmp\ncache/\n!keep.tmp\n",
            "data/real.csv": "r\n",
            "data/junk.tmp": "j\n",
            "data/keep.tmp": "k\n",
            "data/cache/c.bin": b"c",
            "data/sub/cache/d.bin": b"d",
            "data/sub/e.csv": "e\n",
        },
    )
    run_mlv(repo_path, "add", "data")
    assert set(staged_changes(repo_path)) == {"data/real.csv", "data/keep.tmp", "data/sub/e.csv"}
    # Ignored files are not "untracked" either.
    with Repo(repo_path) as repo:
        assert repo.status().untracked == []

    # Naming an ignored file outright adds nothing, and says why on stderr.
    named = run_mlv(repo_path, "add", "data/junk.tmp")
    assert "skipped data/junk.tmp: it matches .mlvignore" in named.stderr
    assert "data/junk.tmp" not in staged_changes(repo_path)


def test_add_stages_deletions_under_an_added_folder(repo_path: Path, run_mlv, commit_files) -> None:
    commit_files(repo_path, {"data/a.csv": "a\n", "data/b.csv": "b\n", "other.txt": "o\n"}, "one")
    (repo_path / "data" / "b.csv").unlink()
    report = json.loads(run_mlv(repo_path, "add", "data", "--json").stdout)
    assert report["removed"] == ["data/b.csv"]
    assert staged_changes(repo_path) == {"data/b.csv": "removed"}

    # A whole folder deleted from disk can still be named: it is tracked.
    shutil.rmtree(repo_path / "data")
    run_mlv(repo_path, "add", "data")
    assert staged_changes(repo_path) == {"data/a.csv": "removed", "data/b.csv": "removed"}


def test_add_of_a_missing_path_is_one_clear_error(repo_path: Path, run_mlv) -> None:
    proc = run_mlv(repo_path, "add", "no/such/file.csv", expect=2)
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("mlv: error:")
    assert "no/such/file.csv" in proc.stderr
    assert staged_changes(repo_path) == {}


def test_add_refuses_paths_inside_the_store(repo_path: Path, run_mlv) -> None:
    proc = run_mlv(repo_path, "add", ".mlv/config.toml", expect=2)
    assert ".mlv" in proc.stderr
    assert staged_changes(repo_path) == {}


def test_symlinks_are_recorded_not_followed(repo_path: Path, run_mlv, write) -> None:
    write(repo_path, {"data/target.csv": "t\n", "elsewhere/big.bin": b"B" * 100})
    os.symlink("target.csv", repo_path / "data" / "link.csv")
    os.symlink("../elsewhere", repo_path / "data" / "dirlink")
    run_mlv(repo_path, "add", "data")
    run_mlv(repo_path, "commit", "-m", "links")
    with Repo(repo_path) as repo:
        flat = repo.flat_tree("HEAD")
        assert set(flat) == {"data/target.csv", "data/link.csv", "data/dirlink"}
        assert flat["data/link.csv"].kind == "symlink"
        assert flat["data/dirlink"].kind == "symlink"
        assert repo.read_bytes("HEAD", "data/link.csv") == b"target.csv"
        assert repo.read_bytes("HEAD", "data/dirlink") == b"../elsewhere"

    (repo_path / "data" / "link.csv").unlink()
    (repo_path / "data" / "dirlink").unlink()
    run_mlv(repo_path, "checkout", "HEAD", "--", "data")
    assert os.readlink(repo_path / "data" / "link.csv") == "target.csv"
    assert os.readlink(repo_path / "data" / "dirlink") == "../elsewhere"
    with Repo(repo_path) as repo:
        assert repo.status().clean


def test_executable_bit_survives_commit_and_checkout(repo_path: Path, run_mlv, write) -> None:
    write(repo_path, {"bin/run.sh": "#!/bin/sh\necho hi\n", "bin/notes.txt": "n\n"})
    script = repo_path / "bin" / "run.sh"
    script.chmod(0o755)
    run_mlv(repo_path, "add", "bin")
    run_mlv(repo_path, "commit", "-m", "script")
    with Repo(repo_path) as repo:
        flat = repo.flat_tree("HEAD")
    assert flat["bin/run.sh"].executable is True
    assert flat["bin/notes.txt"].executable is False

    # Dropping the bit alone is a change.
    script.chmod(0o644)
    with Repo(repo_path) as repo:
        assert repo.status().modified == ["bin/run.sh"]

    script.unlink()
    run_mlv(repo_path, "checkout", "HEAD", "bin/run.sh")
    assert script.stat().st_mode & stat.S_IXUSR
    assert script.read_text() == "#!/bin/sh\necho hi\n"
    assert not (repo_path / "bin" / "notes.txt").stat().st_mode & stat.S_IXUSR


# -- rm -----------------------------------------------------------------------


def test_rm_deletes_and_untracks(repo_path: Path, run_mlv, commit_files) -> None:
    commit_files(repo_path, {"data/a.csv": "a\n", "data/b.csv": "b\n", "data/c.csv": "c\n"}, "one")
    out = run_mlv(repo_path, "rm", "data/a.csv", "--json")
    assert json.loads(out.stdout) == {"removed": ["data/a.csv"], "cached": False}
    assert not (repo_path / "data" / "a.csv").exists()

    run_mlv(repo_path, "rm", "--cached", "data/b.csv")
    assert (repo_path / "data" / "b.csv").read_text() == "b\n"

    assert staged_changes(repo_path) == {"data/a.csv": "removed", "data/b.csv": "removed"}
    with Repo(repo_path) as repo:
        st = repo.status()
    assert st.untracked == ["data/b.csv"]
    assert st.deleted == []


def test_rm_keeps_uncommitted_work_unless_forced(repo_path: Path, run_mlv, commit_files) -> None:
    commit_files(repo_path, {"data/a.csv": "a\n"}, "one")
    (repo_path / "data" / "a.csv").write_text("precious edit\n")
    proc = run_mlv(repo_path, "rm", "data/a.csv", expect=2)
    assert "--force" in proc.stderr
    assert (repo_path / "data" / "a.csv").read_text() == "precious edit\n"
    assert staged_changes(repo_path) == {}

    run_mlv(repo_path, "rm", "--force", "data")
    assert not (repo_path / "data" / "a.csv").exists()
    assert staged_changes(repo_path) == {"data/a.csv": "removed"}


def test_rm_of_an_untracked_path_fails(repo_path: Path, run_mlv, write) -> None:
    write(repo_path, {"loose.txt": "l\n"})
    proc = run_mlv(repo_path, "rm", "loose.txt", expect=2)
    assert "not tracked" in proc.stderr
    assert (repo_path / "loose.txt").exists()


# -- status -------------------------------------------------------------------


def test_status_reports_staged_unstaged_and_untracked(
    repo_path: Path, run_mlv, commit_files, write
) -> None:
    commit_files(repo_path, {"data/a.csv": "a\n", "data/b.csv": "b\n", "data/c.csv": "c\n"}, "one")
    write(repo_path, {"data/a.csv": "a changed\n", "data/new.csv": "n\n", "elsewhere.txt": "e\n"})
    (repo_path / "data" / "b.csv").unlink()
    write(repo_path, {"data/staged.csv": "s\n"})
    with Repo(repo_path) as repo:
        repo.add(["data/staged.csv"])

    report = json.loads(run_mlv(repo_path, "status", "--json").stdout)
    assert report["branch"] == "main"
    assert report["clean"] is False
    assert [(c["status"], c["path"]) for c in report["staged"]] == [("added", "data/staged.csv")]
    assert report["staged"][0]["new"]["size"] == 2
    assert report["modified"] == ["data/a.csv"]
    assert report["deleted"] == ["data/b.csv"]
    # Untracked files in tracked folders only: elsewhere.txt is not in one.
    assert report["untracked"] == ["data/new.csv"]
    with Repo(repo_path) as repo:
        assert report == repo.status().to_json()

    text = run_mlv(repo_path, "status").stdout
    assert "Changes to be committed:" in text
    assert "Changes not staged for commit" in text
    assert "Untracked files" in text


def test_status_of_a_clean_tree(repo_path: Path, run_mlv, commit_files) -> None:
    head = commit_files(repo_path, {"data/a.csv": "a\n"}, "one")
    report = json.loads(run_mlv(repo_path, "status", "--json").stdout)
    assert report["clean"] is True
    assert report["head"] == head


# -- commit -------------------------------------------------------------------


def test_commit_records_the_stage_with_the_env_author(repo_path: Path, run_mlv, write) -> None:
    write(repo_path, {"data/a.csv": "a\n", "data/b.csv": "bb\n"})
    with Repo(repo_path) as repo:
        repo.add(["data"])
    out = run_mlv(repo_path, "commit", "-m", "Add the data", "--json")
    report = json.loads(out.stdout)
    with Repo(repo_path) as repo:
        (entry,) = repo.log()
        assert report["id"] == entry.id == repo.refs.read("refs/heads/main")
        assert entry.commit.author == Person(AUTHOR_NAME, AUTHOR_EMAIL)
        assert entry.commit.message == "Add the data\n"
        assert entry.commit.parents == ()
        assert set(repo.flat_tree("HEAD")) == {"data/a.csv", "data/b.csv"}
        assert repo.status().clean
    assert {(c["status"], c["path"]) for c in report["changes"]} == {
        ("added", "data/a.csv"),
        ("added", "data/b.csv"),
    }

    write(repo_path, {"data/a.csv": "a2\n"})
    with Repo(repo_path) as repo:
        repo.add(["data"])
    run_mlv(repo_path, "commit", "-m", "second", env={**NO_ENV_AUTHOR, "MLV_AUTHOR_NAME": "Bob"})
    with Repo(repo_path) as repo:
        second, first = repo.log()
        assert second.commit.parents == (first.id,)
        # Only the name was given: the email falls back (to git config or the login).
        assert second.commit.author.name == "Bob"
        assert second.commit.author.email


@needs_git
def test_commit_author_falls_back_to_git_config(tmp_path: Path, run_mlv, write) -> None:
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.name", "Grace Git")
    git(tmp_path, "config", "user.email", "grace@git.example")
    Repo.init(tmp_path).close()
    write(tmp_path, {"data/a.csv": "a\n"})
    run_mlv(tmp_path, "add", "data")
    run_mlv(tmp_path, "commit", "-m", "from git", env=NO_ENV_AUTHOR)
    with Repo(tmp_path) as repo:
        assert repo.log()[0].commit.author == Person("Grace Git", "grace@git.example")


def test_empty_commit_is_refused_unless_allowed(repo_path: Path, run_mlv, commit_files) -> None:
    # Nothing staged in a brand-new repository.
    proc = run_mlv(repo_path, "commit", "-m", "nothing", expect=2)
    assert "--allow-empty" in proc.stderr
    with Repo(repo_path) as repo:
        assert repo.refs.head().commit is None

    first = commit_files(repo_path, {"a.txt": "a\n"}, "one")
    run_mlv(repo_path, "commit", "-m", "nothing again", expect=2)
    with Repo(repo_path) as repo:
        assert repo.refs.head().commit == first

    run_mlv(repo_path, "commit", "-m", "checkpoint", "--allow-empty")
    with Repo(repo_path) as repo:
        top = repo.log()[0]
        assert top.commit.parents == (first,)
        assert top.commit.tree == repo.read_commit(first).tree
        assert top.commit.message == "checkpoint\n"


def test_commit_needs_a_message(repo_path: Path, run_mlv, write) -> None:
    write(repo_path, {"a.txt": "a\n"})
    with Repo(repo_path) as repo:
        repo.add(["a.txt"])
    run_mlv(repo_path, "commit", expect=2)  # usage error: -m is required
    run_mlv(repo_path, "commit", "-m", "  ", expect=2)
    with Repo(repo_path) as repo:
        assert repo.refs.head().commit is None
