"""CLI: log, show, diff, revisions, fsck, --version, --help and --json everywhere."""

from __future__ import annotations

import json
import random
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import AUTHOR_EMAIL, AUTHOR_NAME, mlv_env, mlv_executable
from mlv import Repo, __version__


def day(n: int) -> datetime:
    return datetime(2024, 1, n, 12, 0, tzinfo=UTC)


@pytest.fixture
def history(repo_path: Path, commit_files) -> dict[str, str]:
    """Four commits a day apart by two authors, a tag, and a side branch off the second.

    c1 (Ada, Jan 1): data/a.csv, data/b.csv, README
    c2 (Bob, Jan 2): data/a.csv changed
    c3 (Ada, Jan 3): README changed, data/b.csv removed, models/m.pkl added   (tag v1)
    c4 (Bob, Jan 4): models/m.pkl changed
    side (Ada, Jan 5), branch ``side`` from c2: notes.txt added
    """
    c1 = commit_files(
        repo_path,
        {"data/a.csv": "a\n1\n", "data/b.csv": "b\n", "README": "hello\n"},
        "first",
        when=day(1),
    )
    c2 = commit_files(repo_path, {"data/a.csv": "a\n1\n2\n"}, "more rows", when=day(2), name="Bob")
    c3 = commit_files(
        repo_path,
        {"README": "hello again\n", "models/m.pkl": b"\x80\x04model"},
        "train\n\nwith a longer body",
        remove=("data/b.csv",),
        when=day(3),
    )
    c4 = commit_files(
        repo_path, {"models/m.pkl": b"\x80\x04model v2"}, "retrain", when=day(4), name="Bob"
    )
    with Repo(repo_path) as repo:
        repo.create_tag("v1", c3)
        repo.create_branch("side", c2)
        repo.checkout("side")
    side = commit_files(repo_path, {"notes.txt": "n\n"}, "notes", when=day(5))
    with Repo(repo_path) as repo:
        repo.checkout("main")
    return {"c1": c1, "c2": c2, "c3": c3, "c4": c4, "side": side}


def log_ids(root: Path, run_mlv, *args: str) -> list[str]:
    return [e["id"] for e in json.loads(run_mlv(root, "log", "--json", *args).stdout)]


# -- log ----------------------------------------------------------------------


def test_log_lists_history_newest_first(repo_path: Path, run_mlv, history) -> None:
    entries = json.loads(run_mlv(repo_path, "log", "--json").stdout)
    h = history
    assert [e["id"] for e in entries] == [h["c4"], h["c3"], h["c2"], h["c1"]]
    with Repo(repo_path) as repo:
        assert entries == [e.to_json() for e in repo.log()]
    top = entries[0]
    assert top["author"] == {"name": "Bob", "email": "bob@example.com"}
    assert top["time"] == int(day(4).timestamp())
    assert top["parents"] == [h["c3"]]
    assert "HEAD -> main" in top["refs"]
    assert "tag: v1" in entries[1]["refs"]

    text = run_mlv(repo_path, "log").stdout
    assert f"commit {h['c4']}" in text
    assert "Author: Bob <bob@example.com>" in text
    assert "    with a longer body" in text


def test_log_oneline_and_max_count(repo_path: Path, run_mlv, history) -> None:
    lines = run_mlv(repo_path, "log", "--oneline").stdout.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith(history["c4"][:12])
    assert lines[0].endswith(" retrain")
    assert lines[1].endswith(" train")

    h = history
    assert log_ids(repo_path, run_mlv, "-n", "2") == [h["c4"], h["c3"]]
    assert log_ids(repo_path, run_mlv, "--max-count", "1", "side") == [h["side"]]
    assert log_ids(repo_path, run_mlv, "-n", "0") == []


def test_log_filters_by_path(repo_path: Path, run_mlv, history) -> None:
    h = history
    assert log_ids(repo_path, run_mlv, "--", "data/") == [h["c3"], h["c2"], h["c1"]]
    assert log_ids(repo_path, run_mlv, "--", "models", "README") == [h["c4"], h["c3"], h["c1"]]
    assert log_ids(repo_path, run_mlv, "--", "data/b.csv") == [h["c3"], h["c1"]]
    # Paths are relative to the current folder.
    assert log_ids(repo_path / "data", run_mlv, "--", "a.csv") == [h["c2"], h["c1"]]


def test_log_filters_by_author_and_time(repo_path: Path, run_mlv, history) -> None:
    h = history
    assert log_ids(repo_path, run_mlv, "--author", "bob") == [h["c4"], h["c2"]]
    assert log_ids(repo_path, run_mlv, "--author", AUTHOR_EMAIL) == [h["c3"], h["c1"]]
    window = ["--since", "2024-01-02T00:00:00+00:00", "--until", "2024-01-03T23:00:00+00:00"]
    assert log_ids(repo_path, run_mlv, *window) == [h["c3"], h["c2"]]
    assert log_ids(repo_path, run_mlv, *window, "--author", "Bob", "--", "data") == [h["c2"]]
    proc = run_mlv(repo_path, "log", "--since", "the other day", expect=2)
    assert "cannot read" in proc.stderr


def test_log_all_and_from_a_revision(repo_path: Path, run_mlv, history) -> None:
    h = history
    assert log_ids(repo_path, run_mlv, "side") == [h["side"], h["c2"], h["c1"]]
    assert log_ids(repo_path, run_mlv, "v1") == [h["c3"], h["c2"], h["c1"]]
    assert set(log_ids(repo_path, run_mlv, "--all")) == set(h.values())


def test_log_of_an_empty_repository(repo_path: Path, run_mlv) -> None:
    assert json.loads(run_mlv(repo_path, "log", "--json").stdout) == []


def test_log_graph_draws_a_merge(repo_path: Path, run_mlv, commit_files) -> None:
    commit_files(repo_path, {"a.txt": "a\n"}, "base", when=day(1))
    with Repo(repo_path) as repo:
        repo.create_branch("feature")
    commit_files(repo_path, {"b.txt": "b\n"}, "on main", when=day(2))
    with Repo(repo_path) as repo:
        repo.checkout("feature")
    commit_files(repo_path, {"c.txt": "c\n"}, "on feature", when=day(3))
    with Repo(repo_path) as repo:
        repo.checkout("main")
    run_mlv(repo_path, "merge", "feature")

    lines = run_mlv(repo_path, "log", "--graph", "--oneline").stdout.splitlines()
    assert lines[0].startswith("*   ")
    assert lines[0].endswith("Merge branch 'feature' into main")
    assert "|\\" in [line.rstrip() for line in lines]
    assert "|/" in [line.rstrip() for line in lines]
    assert lines[-1].startswith("* ") and lines[-1].endswith(" base")
    assert sum(line.count("*") for line in lines) == 4

    long_form = run_mlv(repo_path, "log", "--graph").stdout
    assert "| Merge: " in long_form or "|\\  Merge: " in long_form


# -- show ---------------------------------------------------------------------


def test_show_a_commit(repo_path: Path, run_mlv, history) -> None:
    report = json.loads(run_mlv(repo_path, "show", "--json", "v1").stdout)
    assert report["id"] == history["c3"]
    assert report["author"] == {"name": AUTHOR_NAME, "email": AUTHOR_EMAIL}
    assert report["time"] == int(day(3).timestamp())
    assert report["message"] == "train\n\nwith a longer body\n"
    changes = {c["path"]: c for c in report["changes"]}
    assert {p: c["status"] for p, c in changes.items()} == {
        "README": "modified",
        "data/b.csv": "removed",
        "models/m.pkl": "added",
    }
    assert changes["README"]["old"]["size"] == 6
    assert changes["README"]["new"]["size"] == 12
    assert changes["data/b.csv"]["old"]["size"] == 2
    assert changes["models/m.pkl"]["new"]["size"] == 7
    with Repo(repo_path) as repo:
        assert report == repo.show("v1").to_json()

    text = run_mlv(repo_path, "show", history["c3"]).stdout
    assert f"Author: {AUTHOR_NAME} <{AUTHOR_EMAIL}>" in text
    assert "Date:   Wed Jan 03 12:00:00 2024 +0000" in text
    assert "    train" in text
    assert "README" in text and "6 B -> 12 B" in text
    assert "models/m.pkl" in text and "7 B" in text
    assert "3 file(s) changed: 1 added, 1 modified, 1 removed" in text


def test_show_file_content_exact_bytes(repo_path: Path, run_mlv, history, commit_files) -> None:
    out = run_mlv(repo_path, "show", "HEAD~1:models/m.pkl", binary=True)
    assert out.stdout == b"\x80\x04model"
    out = run_mlv(repo_path, "show", "v1:README", binary=True)
    assert out.stdout == b"hello again\n"
    out = run_mlv(repo_path, "show", f"{history['c1'][:8]}:data/b.csv", binary=True)
    assert out.stdout == b"b\n"

    blob = random.Random(7).randbytes(3 * 1024 * 1024 + 17)
    commit_files(repo_path, {"models/big.bin": blob}, "big")
    (repo_path / "models" / "big.bin").write_bytes(b"changed on disk")
    out = run_mlv(repo_path, "show", "HEAD:models/big.bin", binary=True)
    assert out.stdout == blob
    assert out.stderr == b""

    # As in git, REV:PATH names the path from the repository root, wherever mlv runs.
    out = run_mlv(repo_path / "models", "show", "HEAD:models/big.bin", binary=True)
    assert out.stdout == blob


def test_show_into_a_pipe_closed_early_is_not_an_error(repo_path: Path, commit_files) -> None:
    commit_files(repo_path, {"big.bin": random.Random(3).randbytes(2 * 1024 * 1024)}, "big")
    proc = subprocess.Popen(
        [mlv_executable(), "show", "HEAD:big.bin"],
        cwd=repo_path,
        env=mlv_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert len(proc.stdout.read(10)) == 10
    proc.stdout.close()  # like `mlv show ... | head -c 10`
    err = proc.stderr.read()
    assert proc.wait(timeout=30) == 0, err
    assert b"Traceback" not in err


def test_show_errors(repo_path: Path, run_mlv, history) -> None:
    for rev in ("HEAD:no/such.csv", "nope", "HEAD:data", "HEAD~9"):
        proc = run_mlv(repo_path, "show", rev, expect=2)
        assert proc.stderr.startswith("mlv: error:"), rev
        assert proc.stderr.count("\n") == 1, rev
        assert proc.stdout == "", rev


# -- revisions ----------------------------------------------------------------


def test_revision_forms(repo_path: Path, run_mlv, history, commit_files) -> None:
    h = history
    with Repo(repo_path) as repo:
        repo.merge("side", message="merge side")
        merge_id = repo.refs.head().commit
    assert merge_id is not None
    cases = {
        h["c3"]: h["c3"],
        h["c3"][:4]: h["c3"],
        h["c3"][:10].upper(): h["c3"],
        "side": h["side"],
        "v1": h["c3"],
        "HEAD^": h["c4"],
        "HEAD~3": h["c2"],
        "HEAD^2": h["side"],
        "HEAD^2~1": h["c2"],
        "main~1^": h["c3"],
        "v1~2": h["c1"],
    }
    for rev, want in cases.items():
        shown = json.loads(run_mlv(repo_path, "show", "--json", rev).stdout)
        assert shown["id"] == want, rev
    with Repo(repo_path) as repo:
        for rev, want in cases.items():
            assert repo.resolve(rev) == want, rev

    for bad in ("HEAD~10", "HEAD^3", h["c3"][:3], "v2"):
        proc = run_mlv(repo_path, "show", "--json", bad, expect=2)
        assert proc.stderr.startswith("mlv: error:"), bad


# -- diff ---------------------------------------------------------------------


def diff_json(root: Path, run_mlv, *args: str) -> dict[str, tuple[str, int | None, int | None]]:
    changes = json.loads(run_mlv(root, "diff", "--json", *args).stdout)
    return {
        c["path"]: (
            c["status"],
            c["old"]["size"] if c["old"] else None,
            c["new"]["size"] if c["new"] else None,
        )
        for c in changes
    }


def test_diff_working_tree_against_head(repo_path: Path, run_mlv, history, write) -> None:
    assert diff_json(repo_path, run_mlv) == {}
    write(repo_path, {"data/a.csv": "a\n", "data/new.csv": "new\n", "scratch.txt": "s\n"})
    (repo_path / "models" / "m.pkl").unlink()
    expected = {
        "data/a.csv": ("modified", 6, 2),
        "data/new.csv": ("added", None, 4),
        "models/m.pkl": ("removed", 10, None),
    }
    assert diff_json(repo_path, run_mlv) == expected
    with Repo(repo_path) as repo:
        assert {c.path: c.status for c in repo.diff()} == {
            p: s for p, (s, _, _) in expected.items()
        }
        # Diff only reads: nothing was staged.
        assert repo.status().staged == []

    text = run_mlv(repo_path, "diff").stdout
    assert "M  data/a.csv" in text and "6 B -> 2 B (-4 B)" in text
    assert "A  data/new.csv" in text
    assert "D  models/m.pkl" in text
    assert "3 file(s) changed: 1 added, 1 modified, 1 removed" in text

    # One revision: that revision against the working tree.
    assert diff_json(repo_path, run_mlv, "v1", "--", "models") == {
        "models/m.pkl": ("removed", 7, None)
    }


def test_diff_between_revisions(repo_path: Path, run_mlv, history) -> None:
    assert diff_json(repo_path, run_mlv, "HEAD~3", "HEAD") == {
        "README": ("modified", 6, 12),
        "data/a.csv": ("modified", 4, 6),
        "data/b.csv": ("removed", 2, None),
        "models/m.pkl": ("added", None, 10),
    }
    assert diff_json(repo_path, run_mlv, "HEAD~3", "HEAD", "--", "data") == {
        "data/a.csv": ("modified", 4, 6),
        "data/b.csv": ("removed", 2, None),
    }
    assert diff_json(repo_path, run_mlv, "main", "side") == {
        "README": ("modified", 12, 6),
        "data/b.csv": ("added", None, 2),
        "models/m.pkl": ("removed", 10, None),
        "notes.txt": ("added", None, 2),
    }
    with Repo(repo_path) as repo:
        changes = repo.diff("main", "side")
    assert [c.path for c in changes] == sorted(diff_json(repo_path, run_mlv, "main", "side"))
    assert "no file changes" in run_mlv(repo_path, "diff", "v1", "v1").stdout

    proc = run_mlv(repo_path, "diff", "HEAD~2", "HEAD~1", "data", expect=2)
    assert "--" in proc.stderr


# -- fsck, version, help, json ------------------------------------------------


def test_fsck_on_a_healthy_repository(repo_path: Path, run_mlv, history) -> None:
    report = json.loads(run_mlv(repo_path, "fsck", "--json").stdout)
    assert report["ok"] is True
    assert report["problems"] == []
    assert report["commits_checked"] == 5
    assert "ok" in run_mlv(repo_path, "fsck").stdout


def test_version(tmp_path: Path, run_mlv) -> None:
    assert run_mlv(tmp_path, "--version").stdout == f"mlv {__version__}\n"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # typer's own imports of click
def test_every_command_has_help(tmp_path: Path, run_mlv) -> None:
    import typer.main

    from mlv.cli.main import app

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    expected = {
        "init", "add", "rm", "status", "commit", "log", "show", "diff",
        "checkout", "restore", "branch", "switch", "tag", "merge", "fsck",
    }  # fmt: skip
    assert expected <= set(commands)
    top = run_mlv(tmp_path, "--help").stdout
    for name, command in commands.items():
        # A hidden command is an old name kept as an alias: it has help, but no line in the list.
        assert command.hidden or name in top
        summary = (command.help or "").strip().splitlines()[0]
        assert summary, f"{name} has no help text"
        out = run_mlv(tmp_path, name, "--help").stdout
        assert out.startswith(f"Usage: mlv {name}"), name
        assert " ".join(summary.split()) in " ".join(out.split()), name
        assert "Example:" in out, name


def test_json_output_parses_for_every_reporting_command(tmp_path: Path, run_mlv, write) -> None:
    root = tmp_path / "r"

    def j(*args: str, expect: int = 0) -> object:
        proc = run_mlv(root if root.exists() else tmp_path, *args, "--json", expect=expect)
        return json.loads(proc.stdout)

    assert j("init", str(root))["branch"] == "main"
    write(root, {"data/a.csv": "a\n", "data/b.csv": "b\n"})
    assert j("add", "data")["added"] == ["data/a.csv", "data/b.csv"]
    assert j("status")["staged"]
    first = j("commit", "-m", "one")["id"]
    assert j("branch", "exp")["commit"] == first
    assert j("branch")["branches"] == {"exp": first, "main": first}
    assert j("tag", "v1")["commit"] == first
    assert j("tag") == {"v1": first}
    assert j("switch", "exp")["branch"] == "exp"
    write(root, {"data/c.csv": "c\n"})
    j("add", "data")
    second = j("commit", "-m", "two")["id"]
    assert j("switch", "main")["removed"] == ["data/c.csv"]
    assert j("merge", "exp") == {"kind": "fast-forward", "commit": second, "resolved": []}
    assert [e["id"] for e in j("log")] == [second, first]
    assert j("show", "HEAD")["id"] == second
    assert j("diff", "HEAD~1")[0]["path"] == "data/c.csv"
    (root / "data" / "a.csv").write_text("changed\n")
    assert j("restore", "data/a.csv")["written"] == ["data/a.csv"]
    assert j("checkout", "v1")["commit"] == first
    assert j("rm", "--cached", "data/a.csv")["removed"] == ["data/a.csv"]
    assert j("fsck")["ok"] is True
    with Repo(root) as repo:
        assert repo.refs.head().commit == first
        assert repo.current_branch() is None
