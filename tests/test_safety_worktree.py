"""Uncommitted work is never overwritten or deleted without --force."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import AUTHOR, mlv
from helpers import one_error_line as refused
from mlv import Repo

MINE = b"my precious uncommitted work\n"


def ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr


def commit(root: Path, files: dict[str, bytes], message: str, remove: tuple[str, ...] = ()) -> str:
    with Repo(root) as r:
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        for rel in remove:
            (root / rel).unlink()
        r.add([*files, *remove])
        return r.commit(message, author=AUTHOR)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: v1 then v2 of data/a.txt (v2 adds data/new.txt); branch old at v1."""
    root = tmp_path / "repo"
    Repo.init(root).close()
    commit(root, {"data/a.txt": b"v1\n", "data/b.txt": b"b\n"}, "v1")
    ok(mlv(root, "branch", "old"))
    commit(root, {"data/a.txt": b"v2\n", "data/new.txt": b"new\n"}, "v2")
    return root


def head(root: Path) -> str:
    with Repo(root) as r:
        return r.resolve("HEAD")


def test_checkout_refuses_modified_file(repo: Path) -> None:
    (repo / "data" / "a.txt").write_bytes(MINE)
    before = head(repo)
    line = refused(mlv(repo, "checkout", "old"))
    assert "data/a.txt" in line and "--force" in line
    assert (repo / "data" / "a.txt").read_bytes() == MINE
    assert head(repo) == before
    ok(mlv(repo, "checkout", "--force", "old"))
    assert (repo / "data" / "a.txt").read_bytes() == b"v1\n"
    assert not (repo / "data" / "new.txt").exists()


def test_checkout_refuses_to_delete_modified_file(repo: Path) -> None:
    (repo / "data" / "new.txt").write_bytes(MINE)
    refused(mlv(repo, "checkout", "old"))
    assert (repo / "data" / "new.txt").read_bytes() == MINE


def test_checkout_of_paths_refuses_modified_file(repo: Path) -> None:
    (repo / "data" / "a.txt").write_bytes(MINE)
    refused(mlv(repo, "checkout", "old", "--", "data/a.txt"))
    assert (repo / "data" / "a.txt").read_bytes() == MINE
    ok(mlv(repo, "checkout", "--force", "old", "--", "data/a.txt"))
    assert (repo / "data" / "a.txt").read_bytes() == b"v1\n"


def test_modified_same_size_file_is_noticed(repo: Path) -> None:
    """Same size, written right after the stat cache was filled: content still decides."""
    ok(mlv(repo, "status"))
    (repo / "data" / "a.txt").write_bytes(b"XX\n")
    refused(mlv(repo, "checkout", "old"))
    assert (repo / "data" / "a.txt").read_bytes() == b"XX\n"


def test_staged_but_uncommitted_change_is_kept(repo: Path) -> None:
    (repo / "data" / "a.txt").write_bytes(MINE)
    ok(mlv(repo, "add", "data"))
    refused(mlv(repo, "checkout", "old"))
    assert (repo / "data" / "a.txt").read_bytes() == MINE


def test_untracked_file_in_the_way(repo: Path) -> None:
    ok(mlv(repo, "checkout", "old"))
    assert not (repo / "data" / "new.txt").exists()
    (repo / "data" / "new.txt").write_bytes(MINE)
    line = refused(mlv(repo, "checkout", "main"))
    assert "data/new.txt" in line
    assert (repo / "data" / "new.txt").read_bytes() == MINE
    ok(mlv(repo, "checkout", "--force", "main"))
    assert (repo / "data" / "new.txt").read_bytes() == b"new\n"


def test_untracked_file_where_a_folder_is_needed(repo: Path) -> None:
    commit(repo, {"data/c.txt": b"c\n"}, "before deep")
    commit(repo, {"deep/x.txt": b"x\n"}, "deep")
    ok(mlv(repo, "checkout", "HEAD~2"))
    (repo / "deep").write_bytes(MINE)
    refused(mlv(repo, "checkout", "main"))
    assert (repo / "deep").read_bytes() == MINE
    assert not (repo / "data" / "c.txt").exists(), "a refused checkout wrote other files"


def test_untracked_folder_where_a_file_is_needed(repo: Path) -> None:
    ok(mlv(repo, "checkout", "old"))
    (repo / "data" / "new.txt").mkdir()
    (repo / "data" / "new.txt" / "inner.txt").write_bytes(MINE)
    before = mlv(repo, "status", "--json").stdout
    refused(mlv(repo, "checkout", "main"))
    assert (repo / "data" / "new.txt" / "inner.txt").read_bytes() == MINE
    # A refused checkout changes nothing: data/a.txt is not half-way to main either.
    assert (repo / "data" / "a.txt").read_bytes() == b"v1\n"
    assert mlv(repo, "status", "--json").stdout == before
    proc = mlv(repo, "checkout", "--force", "main")
    assert "Traceback" not in proc.stdout + proc.stderr
    assert (repo / "data" / "new.txt" / "inner.txt").read_bytes() == MINE


def test_rm_refuses_modified_file(repo: Path) -> None:
    (repo / "data" / "a.txt").write_bytes(MINE)
    line = refused(mlv(repo, "rm", "data/a.txt"))
    assert "data/a.txt" in line
    assert (repo / "data" / "a.txt").read_bytes() == MINE
    refused(mlv(repo, "rm", "data"))
    assert (repo / "data" / "a.txt").read_bytes() == MINE
    assert (repo / "data" / "b.txt").read_bytes() == b"b\n"
    ok(mlv(repo, "rm", "--cached", "data/a.txt"))
    assert (repo / "data" / "a.txt").read_bytes() == MINE


def test_rm_force_deletes_modified_file(repo: Path) -> None:
    (repo / "data" / "a.txt").write_bytes(MINE)
    ok(mlv(repo, "rm", "--force", "data/a.txt"))
    assert not (repo / "data" / "a.txt").exists()


def test_rm_refuses_staged_uncommitted_file(repo: Path) -> None:
    (repo / "data" / "fresh.txt").write_bytes(MINE)
    ok(mlv(repo, "add", "data/fresh.txt"))
    refused(mlv(repo, "rm", "data/fresh.txt"))
    assert (repo / "data" / "fresh.txt").read_bytes() == MINE


def test_rm_of_folder_keeps_untracked_files(repo: Path) -> None:
    (repo / "data" / "untracked.txt").write_bytes(MINE)
    ok(mlv(repo, "rm", "data"))
    assert (repo / "data" / "untracked.txt").read_bytes() == MINE
    assert not (repo / "data" / "a.txt").exists()


def test_switch_refuses_modified_file(repo: Path) -> None:
    (repo / "data" / "a.txt").write_bytes(MINE)
    refused(mlv(repo, "switch", "old"))
    assert (repo / "data" / "a.txt").read_bytes() == MINE
    with Repo(repo) as r:
        assert r.current_branch() == "main"
    ok(mlv(repo, "switch", "--force", "old"))
    assert (repo / "data" / "a.txt").read_bytes() == b"v1\n"
    with Repo(repo) as r:
        assert r.current_branch() == "old"


def test_switch_create_keeps_modified_file(repo: Path) -> None:
    (repo / "data" / "a.txt").write_bytes(MINE)
    ok(mlv(repo, "switch", "-c", "feature"))
    assert (repo / "data" / "a.txt").read_bytes() == MINE


def test_merge_refuses_with_modified_file(repo: Path) -> None:
    ok(mlv(repo, "switch", "old"))
    commit(repo, {"data/b.txt": b"b on old\n"}, "old work")
    (repo / "data" / "b.txt").write_bytes(MINE)
    refused(mlv(repo, "merge", "main"))
    assert (repo / "data" / "b.txt").read_bytes() == MINE


def test_file_replaced_by_folder_between_commits(repo: Path) -> None:
    """Moving between a commit with file `x` and one with folder `x/` works both ways."""
    commit(repo, {"x": b"a file\n"}, "x is a file")
    (repo / "x").unlink()
    (repo / "x").mkdir()
    (repo / "x" / "inner.txt").write_bytes(b"now a folder\n")
    with Repo(repo) as r:
        r.add(["x"])
        r.commit("x is a folder", author=AUTHOR)
    ok(mlv(repo, "checkout", "HEAD~1"))
    assert (repo / "x").read_bytes() == b"a file\n"
    ok(mlv(repo, "checkout", "main"))
    assert (repo / "x" / "inner.txt").read_bytes() == b"now a folder\n"
    ok(mlv(repo, "checkout", "HEAD~1"))
    assert (repo / "x").read_bytes() == b"a file\n"


def test_deleted_tracked_file_does_not_block(repo: Path) -> None:
    (repo / "data" / "a.txt").unlink()
    ok(mlv(repo, "checkout", "old"))
    assert (repo / "data" / "a.txt").read_bytes() == b"v1\n"


def test_refusal_leaves_everything_as_it_was(repo: Path) -> None:
    (repo / "data" / "a.txt").write_bytes(MINE)
    status = mlv(repo, "status", "--json").stdout
    refused(mlv(repo, "checkout", "old"))
    assert mlv(repo, "status", "--json").stdout == status
    assert (repo / "data" / "new.txt").read_bytes() == b"new\n"
    ok(mlv(repo, "fsck"))
