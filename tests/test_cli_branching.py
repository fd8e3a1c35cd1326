"""CLI: checkout, restore, branch, switch, tag, merge; results checked through ``Repo``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlv import Repo


def files_on_disk(root: Path) -> dict[str, bytes]:
    """Every file under the working tree (the store aside) with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).as_posix().startswith(".mlv/")
    }


def worktree_matches(root: Path, rev: str) -> bool:
    with Repo(root) as repo:
        return repo.diff(rev) == [] and repo.status().clean


@pytest.fixture
def two_commits(repo_path: Path, commit_files) -> tuple[str, str]:
    """c1: data/a.csv, data/b.csv, README; c2: a changed, b removed, data/c.csv added."""
    c1 = commit_files(
        repo_path, {"data/a.csv": "a1\n", "data/b.csv": "b1\n", "README": "r\n"}, "one"
    )
    c2 = commit_files(
        repo_path, {"data/a.csv": "a2\n", "data/c.csv": "c2\n"}, "two", remove=("data/b.csv",)
    )
    return c1, c2


# -- checkout and restore -----------------------------------------------------


def test_checkout_a_commit_detaches_head(repo_path: Path, run_mlv, two_commits) -> None:
    c1, c2 = two_commits
    out = json.loads(run_mlv(repo_path, "checkout", c1[:8], "--json").stdout)
    assert out["commit"] == c1
    assert out["branch"] is None
    assert sorted(out["written"]) == ["data/a.csv", "data/b.csv"]
    assert out["removed"] == ["data/c.csv"]
    assert files_on_disk(repo_path) == {
        "README": b"r\n",
        "data/a.csv": b"a1\n",
        "data/b.csv": b"b1\n",
    }
    with Repo(repo_path) as repo:
        assert repo.refs.head().commit == c1
        assert repo.current_branch() is None
        assert repo.refs.read("refs/heads/main") == c2
    assert worktree_matches(repo_path, c1)

    run_mlv(repo_path, "checkout", "main")
    with Repo(repo_path) as repo:
        assert repo.current_branch() == "main"
        assert repo.refs.head().commit == c2
    assert worktree_matches(repo_path, "main")
    assert not (repo_path / "data" / "b.csv").exists()


def test_checkout_paths_only(repo_path: Path, run_mlv, two_commits) -> None:
    c1, c2 = two_commits
    run_mlv(repo_path, "checkout", "HEAD~1", "--", "data/a.csv")
    assert (repo_path / "data" / "a.csv").read_text() == "a1\n"
    assert (repo_path / "data" / "c.csv").read_text() == "c2\n"
    with Repo(repo_path) as repo:
        assert repo.refs.head().commit == c2
        assert repo.current_branch() == "main"
        # The restored content is staged, as git's checkout of paths does.
        assert [(c.status, c.path) for c in repo.status().staged] == [("modified", "data/a.csv")]

    # Also without '--', and a deleted folder's file comes back.
    run_mlv(repo_path, "checkout", c1, "data/b.csv", "README")
    assert (repo_path / "data" / "b.csv").read_text() == "b1\n"
    with Repo(repo_path) as repo:
        assert repo.refs.head().commit == c2

    proc = run_mlv(repo_path, "checkout", c1, "--", "data/c.csv", expect=2)
    assert "does not exist" in proc.stderr


def test_checkout_never_overwrites_uncommitted_work(
    repo_path: Path, run_mlv, two_commits, write
) -> None:
    c1, c2 = two_commits
    write(repo_path, {"data/a.csv": "my edit\n"})
    before = files_on_disk(repo_path)
    proc = run_mlv(repo_path, "checkout", c1, expect=2)
    assert "data/a.csv" in proc.stderr and "--force" in proc.stderr
    assert files_on_disk(repo_path) == before
    with Repo(repo_path) as repo:
        assert repo.refs.head().commit == c2
        assert repo.current_branch() == "main"

    run_mlv(repo_path, "checkout", "--force", c1)
    assert (repo_path / "data" / "a.csv").read_text() == "a1\n"
    assert worktree_matches(repo_path, c1)


def test_restore_puts_back_the_staged_content(repo_path: Path, run_mlv, two_commits, write) -> None:
    write(repo_path, {"data/a.csv": "oops\n", "README": "oops\n"})
    (repo_path / "data" / "c.csv").unlink()
    out = json.loads(run_mlv(repo_path, "restore", "data", "--json").stdout)
    assert sorted(out["written"]) == ["data/a.csv", "data/c.csv"]
    assert (repo_path / "data" / "a.csv").read_text() == "a2\n"
    assert (repo_path / "data" / "c.csv").read_text() == "c2\n"
    assert (repo_path / "README").read_text() == "oops\n"
    with Repo(repo_path) as repo:
        assert repo.status().modified == ["README"]

    run_mlv(repo_path, "restore", "README")
    assert worktree_matches(repo_path, "HEAD")
    proc = run_mlv(repo_path, "restore", "untracked.txt", expect=2)
    assert "not tracked" in proc.stderr


# -- branch -------------------------------------------------------------------


def test_branch_list_create_delete(repo_path: Path, run_mlv, two_commits, commit_files) -> None:
    c1, c2 = two_commits
    run_mlv(repo_path, "branch", "exp")
    run_mlv(repo_path, "branch", "old", "HEAD~1")
    with Repo(repo_path) as repo:
        assert repo.branches() == {"main": c2, "exp": c2, "old": c1}
        assert repo.current_branch() == "main"
    listing = json.loads(run_mlv(repo_path, "branch", "--json").stdout)
    assert listing == {"current": "main", "branches": {"exp": c2, "main": c2, "old": c1}}
    lines = run_mlv(repo_path, "branch").stdout.splitlines()
    assert lines == [f"  exp  {c2[:12]}", f"* main  {c2[:12]}", f"  old  {c1[:12]}"]

    run_mlv(repo_path, "branch", "exp", expect=2)  # exists already
    run_mlv(repo_path, "branch", "bad..name", expect=2)
    run_mlv(repo_path, "branch", "-d", "main", expect=2)  # current branch
    run_mlv(repo_path, "branch", "-d", "ghost", expect=2)

    # A branch with work main does not have needs -D.
    with Repo(repo_path) as repo:
        repo.checkout("exp")
    unmerged = commit_files(repo_path, {"x.txt": "x\n"}, "exp work")
    with Repo(repo_path) as repo:
        repo.checkout("main")
    proc = run_mlv(repo_path, "branch", "-d", "exp", expect=2)
    assert "not merged" in proc.stderr
    with Repo(repo_path) as repo:
        assert repo.branches()["exp"] == unmerged
    run_mlv(repo_path, "branch", "-D", "exp")
    run_mlv(repo_path, "branch", "-d", "old")  # merged: c1 is an ancestor of HEAD
    with Repo(repo_path) as repo:
        assert repo.branches() == {"main": c2}


# -- switch -------------------------------------------------------------------


def test_switch_and_switch_create(repo_path: Path, run_mlv, two_commits, commit_files) -> None:
    _, c2 = two_commits
    run_mlv(repo_path, "switch", "-c", "feature")
    with Repo(repo_path) as repo:
        assert repo.current_branch() == "feature"
        assert repo.branches()["feature"] == c2
    f1 = commit_files(repo_path, {"data/f.csv": "f\n"}, "feature work")

    run_mlv(repo_path, "switch", "main")
    assert not (repo_path / "data" / "f.csv").exists()
    with Repo(repo_path) as repo:
        assert repo.current_branch() == "main"
        assert repo.branches() == {"main": c2, "feature": f1}
    assert worktree_matches(repo_path, "main")

    run_mlv(repo_path, "switch", "feature")
    assert (repo_path / "data" / "f.csv").read_text() == "f\n"

    proc = run_mlv(repo_path, "switch", "nowhere", expect=2)
    assert "switch -c" in proc.stderr
    run_mlv(repo_path, "switch", "-c", "feature", expect=2)
    with Repo(repo_path) as repo:
        assert repo.current_branch() == "feature"


def test_switch_create_before_the_first_commit(repo_path: Path, run_mlv, write) -> None:
    run_mlv(repo_path, "switch", "-c", "trunk")
    write(repo_path, {"a.txt": "a\n"})
    run_mlv(repo_path, "add", "a.txt")
    run_mlv(repo_path, "commit", "-m", "first")
    with Repo(repo_path) as repo:
        assert repo.current_branch() == "trunk"
        assert set(repo.branches()) == {"trunk"}


# -- tag ----------------------------------------------------------------------


def test_tag_list_create_move_delete(repo_path: Path, run_mlv, two_commits) -> None:
    c1, c2 = two_commits
    run_mlv(repo_path, "tag", "v2")
    run_mlv(repo_path, "tag", "v1", "HEAD~1")
    with Repo(repo_path) as repo:
        assert repo.tags() == {"v1": c1, "v2": c2}
    assert json.loads(run_mlv(repo_path, "tag", "--json").stdout) == {"v1": c1, "v2": c2}
    assert run_mlv(repo_path, "tag").stdout.splitlines() == [f"v1  {c1[:12]}", f"v2  {c2[:12]}"]

    proc = run_mlv(repo_path, "tag", "v1", "HEAD", expect=2)
    assert "--force" in proc.stderr
    with Repo(repo_path) as repo:
        assert repo.tags()["v1"] == c1
    run_mlv(repo_path, "tag", "-f", "v1", "HEAD")
    with Repo(repo_path) as repo:
        assert repo.tags()["v1"] == c2

    run_mlv(repo_path, "tag", "-d", "v2")
    run_mlv(repo_path, "tag", "-d", "v2", expect=2)
    with Repo(repo_path) as repo:
        assert repo.tags() == {"v1": c2}
        assert repo.branches() == {"main": c2}


# -- merge --------------------------------------------------------------------


@pytest.fixture
def diverged(repo_path: Path, commit_files) -> dict[str, str]:
    """base -> main (a changed, d removed) and base -> feature (b changed, c added)."""
    base = commit_files(
        repo_path,
        {"data/a.csv": "a0\n", "data/b.csv": "b0\n", "data/d.csv": "d0\n", "shared.txt": "s0\n"},
        "base",
    )
    with Repo(repo_path) as repo:
        repo.create_branch("feature")
    ours = commit_files(repo_path, {"data/a.csv": "a-main\n"}, "main work", remove=("data/d.csv",))
    with Repo(repo_path) as repo:
        repo.checkout("feature")
    theirs = commit_files(
        repo_path, {"data/b.csv": "b-feature\n", "data/c.csv": "c-feature\n"}, "feature work"
    )
    with Repo(repo_path) as repo:
        repo.checkout("main")
    return {"base": base, "ours": ours, "theirs": theirs}


def test_merge_fast_forward_and_up_to_date(
    repo_path: Path, run_mlv, two_commits, commit_files
) -> None:
    c1, _ = two_commits
    with Repo(repo_path) as repo:
        repo.create_branch("ahead")
        repo.checkout("ahead")
    c3 = commit_files(repo_path, {"data/new.csv": "n\n"}, "ahead")
    with Repo(repo_path) as repo:
        repo.checkout("main")

    out = json.loads(run_mlv(repo_path, "merge", "ahead", "--json").stdout)
    assert out == {"kind": "fast-forward", "commit": c3, "resolved": []}
    with Repo(repo_path) as repo:
        assert repo.current_branch() == "main"
        assert repo.branches()["main"] == c3
        assert len(repo.log()) == 3  # no merge commit
    assert (repo_path / "data" / "new.csv").read_text() == "n\n"
    assert worktree_matches(repo_path, c3)

    assert "Already up to date" in run_mlv(repo_path, "merge", c1).stdout
    with Repo(repo_path) as repo:
        assert repo.refs.head().commit == c3


def test_three_way_merge_creates_a_two_parent_commit(repo_path: Path, run_mlv, diverged) -> None:
    out = run_mlv(repo_path, "merge", "feature", "--json")
    result = json.loads(out.stdout)
    assert result["kind"] == "merge"
    with Repo(repo_path) as repo:
        head = repo.refs.head()
        assert head.branch == "main"
        assert head.commit == result["commit"]
        commit = repo.read_commit(result["commit"])
        assert commit.parents == (diverged["ours"], diverged["theirs"])
        assert commit.message == "Merge branch 'feature' into main\n"
        assert commit.author.name == "Ada Tester"
        flat = repo.flat_tree("HEAD")
        assert sorted(flat) == ["data/a.csv", "data/b.csv", "data/c.csv", "shared.txt"]
        assert repo.read_bytes("HEAD", "data/a.csv") == b"a-main\n"
        assert repo.read_bytes("HEAD", "data/b.csv") == b"b-feature\n"
        assert repo.branches()["feature"] == diverged["theirs"]
    assert worktree_matches(repo_path, "HEAD")
    assert files_on_disk(repo_path)["data/c.csv"] == b"c-feature\n"
    assert not (repo_path / "data" / "d.csv").exists()


def conflict_setup(root: Path, commit_files) -> None:
    with Repo(root) as repo:
        repo.checkout("feature")
    commit_files(root, {"shared.txt": "s-feature\n"}, "feature edits shared")
    with Repo(root) as repo:
        repo.checkout("main")
    commit_files(root, {"shared.txt": "s-main\n"}, "main edits shared")


def snapshot(root: Path) -> dict[str, object]:
    with Repo(root) as repo:
        return {
            "files": files_on_disk(root),
            "staged": {
                p: (s.kind, s.id, s.size, s.executable) for p, s in repo.staging.load().items()
            },
            "head": repo.refs.head(),
            "branches": repo.branches(),
            "tags": repo.tags(),
            "log": [e.id for e in repo.log(all_refs=True)],
        }


def test_merge_conflict_changes_nothing(repo_path: Path, run_mlv, diverged, commit_files) -> None:
    conflict_setup(repo_path, commit_files)
    before = snapshot(repo_path)
    proc = run_mlv(repo_path, "merge", "feature", expect=1)
    assert "shared.txt" in proc.stderr
    assert "--ours" in proc.stderr and "--theirs" in proc.stderr
    assert snapshot(repo_path) == before
    with Repo(repo_path) as repo:
        assert repo.status().clean

    # Both options at once is bad input, and changes nothing either.
    run_mlv(repo_path, "merge", "feature", "--ours", "--theirs", expect=2)
    assert snapshot(repo_path) == before


@pytest.mark.parametrize("side", ["ours", "theirs"])
def test_merge_conflict_resolved_by_choice(
    repo_path: Path, run_mlv, diverged, commit_files, side: str
) -> None:
    conflict_setup(repo_path, commit_files)
    with Repo(repo_path) as repo:
        main_tip, feature_tip = repo.branches()["main"], repo.branches()["feature"]
    out = run_mlv(repo_path, "merge", "feature", f"--{side}", "-m", "settle it")
    assert f"--{side}: shared.txt" in out.stdout
    want = b"s-main\n" if side == "ours" else b"s-feature\n"
    assert (repo_path / "shared.txt").read_bytes() == want
    with Repo(repo_path) as repo:
        commit = repo.read_commit(repo.refs.head().commit or "")
        assert commit.parents == (main_tip, feature_tip)
        assert commit.message == "settle it\n"
        assert repo.read_bytes("HEAD", "shared.txt") == want
        # The paths that did not conflict merge as usual.
        assert repo.read_bytes("HEAD", "data/a.csv") == b"a-main\n"
        assert repo.read_bytes("HEAD", "data/c.csv") == b"c-feature\n"
        assert repo.current_branch() == "main"
    assert worktree_matches(repo_path, "HEAD")


def test_merge_refuses_with_uncommitted_changes(repo_path: Path, run_mlv, diverged, write) -> None:
    write(repo_path, {"data/a.csv": "dirty\n"})
    before = snapshot(repo_path)
    proc = run_mlv(repo_path, "merge", "feature", expect=2)
    assert "uncommitted" in proc.stderr
    assert snapshot(repo_path) == before
    run_mlv(repo_path, "merge", "no-such-branch", expect=2)


@pytest.mark.parametrize("side", ["ours", "theirs"])
def test_merge_settles_add_add_and_modify_delete_conflicts(
    repo_path: Path, run_mlv, commit_files, side: str
) -> None:
    commit_files(repo_path, {"keep.txt": "k\n", "gone.txt": "g0\n"}, "base")
    with Repo(repo_path) as repo:
        repo.create_branch("feature")
        repo.checkout("feature")
    commit_files(repo_path, {"both.txt": "feature\n"}, "feature", remove=("gone.txt",))
    with Repo(repo_path) as repo:
        repo.checkout("main")
    commit_files(repo_path, {"both.txt": "main\n", "gone.txt": "g-main\n"}, "main")

    before = snapshot(repo_path)
    proc = run_mlv(repo_path, "merge", "feature", expect=1)
    assert "both.txt" in proc.stderr and "gone.txt" in proc.stderr
    assert snapshot(repo_path) == before

    out = run_mlv(repo_path, "merge", "feature", f"--{side}").stdout
    assert f"--{side}: both.txt" in out
    assert f"--{side}: gone.txt" in out
    with Repo(repo_path) as repo:
        flat = repo.flat_tree("HEAD")
        assert len(repo.read_commit(repo.resolve("HEAD")).parents) == 2
        if side == "ours":
            assert sorted(flat) == ["both.txt", "gone.txt", "keep.txt"]
            assert repo.read_bytes("HEAD", "both.txt") == b"main\n"
            assert repo.read_bytes("HEAD", "gone.txt") == b"g-main\n"
        else:
            assert sorted(flat) == ["both.txt", "keep.txt"]
            assert repo.read_bytes("HEAD", "both.txt") == b"feature\n"
            assert not (repo_path / "gone.txt").exists()
    assert worktree_matches(repo_path, "HEAD")
