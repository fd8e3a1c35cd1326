"""Uncommitted work is never overwritten or deleted without --force."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import AUTHOR, mlv
from helpers import one_error_line as refused
from mlv import Repo
from mlv.errors import MlvError, UncommittedChangesError

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


# -- restoring files where nothing stands: written unnamed, named once complete ----------


def _many(folders: int, per_folder: int) -> dict[str, bytes]:
    """Enough files in enough folders for a checkout to write them on several threads."""
    return {
        f"data/d{f}/f{i:03d}.bin": f"folder {f} file {i}\n".encode() * (i + 1)
        for f in range(folders)
        for i in range(per_folder)
    }


def _damage(root: Path, object_id: str) -> None:
    """Flip one byte of an object's stored content in its pack."""
    from mlv.store.pack import RECORD_HEADER

    with Repo(root) as r:
        where = r.store.index.lookup(bytes.fromhex(object_id))
    assert where is not None
    pack = root / ".mlv" / "packs" / where.pack
    pack.chmod(0o644)
    with open(pack, "r+b") as f:
        f.seek(where.offset + RECORD_HEADER.size + 3)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_restoring_a_deleted_folder_writes_every_file_whole(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    Repo.init(root).close()
    files = _many(6, 30)
    commit(root, files, "many")
    subprocess.run(["rm", "-rf", str(root / "data")], check=True)
    ok(mlv(root, "checkout", "HEAD", "--", "data"))
    assert {p: (root / p).read_bytes() for p in files} == files
    assert not [p for p in (root / "data").rglob("*.tmp")]
    assert not list((root / ".mlv" / "tmp").glob("checkout-*"))
    with Repo(root) as r:
        assert r.status().clean


def test_a_damaged_object_in_a_restore_leaves_no_file_behind(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    Repo.init(root).close()
    files = _many(6, 30)
    commit(root, files, "many")
    with Repo(root) as r:
        # The last file of the last folder: the others are named before it is read.
        damaged = r.flat_tree("HEAD")["data/d5/f029.bin"].id
    _damage(root, damaged)
    subprocess.run(["rm", "-rf", str(root / "data")], check=True)
    proc = mlv(root, "checkout", "HEAD", "--", "data")
    assert "damaged" in refused(proc)
    assert not (root / "data").exists()
    assert not list((root / ".mlv" / "tmp").glob("checkout-*"))


class CreateAt:
    """A progress display that, after the first file a checkout writes, puts a file of the
    user's at a path the checkout has yet to write."""

    def __init__(self, path: Path) -> None:
        self.path, self.done = path, False

    def start(self, total: int, label: str) -> None:
        pass

    def advance(self, amount: int) -> None:
        if not self.done:
            self.done = True
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(MINE)

    def finish(self) -> None:
        pass


def test_a_file_that_appears_during_a_restore_is_kept_and_nothing_else_stays(
    tmp_path: Path,
) -> None:
    root = tmp_path / "repo"
    Repo.init(root).close()
    files = {f"data/f{i}.txt": f"{i}\n".encode() for i in range(5)}
    commit(root, files, "five")
    subprocess.run(["rm", "-rf", str(root / "data")], check=True)
    with Repo(root) as r, pytest.raises(UncommittedChangesError, match="appeared while"):
        r.checkout("HEAD", ["data"], progress=CreateAt(root / "data" / "f4.txt"))
    assert [p.name for p in (root / "data").iterdir()] == ["f4.txt"]
    assert (root / "data" / "f4.txt").read_bytes() == MINE


def test_without_unnamed_files_a_restore_goes_through_temporaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file system (or an OS) without O_TMPFILE: every file deleted from a folder that
    # is still there takes a temporary's way.
    import mlv.repo.checkout_plan as checkout_plan

    monkeypatch.setattr(checkout_plan, "O_TMPFILE", 0)
    root = tmp_path / "repo"
    Repo.init(root).close()
    files = _many(3, 30)
    commit(root, files, "many")
    with Repo(root) as r:
        damaged = r.flat_tree("HEAD")["data/d2/f029.bin"].id
    for path in files:
        (root / path).unlink()
    with Repo(root) as r:
        r.checkout("HEAD", ["data"])
    assert {p: (root / p).read_bytes() for p in files} == files
    _damage(root, damaged)
    for path in files:
        (root / path).unlink()
    with Repo(root) as r, pytest.raises(MlvError, match="damaged"):
        r.checkout("HEAD", ["data"])
    assert sorted(p.name for p in (root / "data").iterdir()) == ["d0", "d1", "d2"]
    assert not [p for p in (root / "data").rglob("*") if not p.is_dir()]
