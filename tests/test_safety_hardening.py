"""Names, symlinks, killed and refused checkouts, and refs that move last.

Each test here is a defect found by trying to break mlv, run the way it was found.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import AUTHOR, ENV, MLV, mlv, one_error_line, snapshot, write_files
from mlv import Repo
from mlv.errors import MlvError, UnsafePathError
from mlv.repo.staging import Staged
from mlv.store.pack import RECORD_HEADER


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def head_ref(root: Path) -> bytes:
    return (root / ".mlv" / "refs" / "heads" / "main").read_bytes()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    Repo.init(path).close()
    return path


# -- names: one rule at add, commit, fsck and checkout --------------------------------


@pytest.mark.parametrize(
    "bad", ["a\\b", ".Git/c.txt", ".MLV/c.txt", "dir\\x/y.txt", ".git./c.txt", "GIT~1/c.txt"]
)
def test_a_name_checkout_would_refuse_never_reaches_a_commit(root: Path, bad: str) -> None:
    write_files(root, {"ok.txt": "ok\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "good"))
    write_files(root, {bad: "x\n", "more.txt": "more\n"})
    added = ok(mlv(root, "add", "."))
    assert "skipped" in added.stderr and "rename it" in added.stderr
    ok(mlv(root, "commit", "-m", "more"))
    with Repo(root) as repo:
        assert set(repo.flat_tree("HEAD")) == {"ok.txt", "more.txt"}
    for args in (("show", "HEAD"), ("diff", "HEAD~1", "HEAD"), ("fsck",)):
        ok(mlv(root, *args))
    ok(mlv(root, "checkout", "HEAD~1"))
    ok(mlv(root, "checkout", "--force", "main"))
    assert (root / bad).read_text() == "x\n"  # never tracked, never touched


def test_a_bad_name_staged_by_an_older_mlv_is_refused_before_the_ref_moves(root: Path) -> None:
    write_files(root, {"ok.txt": "ok\n"})
    with Repo(root) as repo:
        repo.add(["ok.txt"])
        first = repo.commit("good", author=AUTHOR)
        staged = repo.staging.load()["ok.txt"]
        repo.staging.apply([("a\\b", Staged(*staged))])
        with pytest.raises(UnsafePathError, match="mlv rm --cached"):
            repo.commit("bad", author=AUTHOR)
        assert repo.resolve("HEAD") == first
        assert repo.fsck().ok


# -- symlinks: one rule at add, commit, fsck and checkout ------------------------------


@pytest.mark.parametrize(
    "target", ["/etc/passwd", "../../outside", "sub/../../x", "../.mlv/HEAD", "../.GIT"]
)
def test_a_symlink_leading_out_is_skipped_at_add(root: Path, target: str) -> None:
    write_files(root, {"data/a.txt": "a\n"})
    (root / "data" / "out").symlink_to(target)
    (root / "data" / "in").symlink_to("a.txt")
    added = ok(mlv(root, "add", "data"))
    assert "skipped data/out: the symlink points" in added.stderr
    ok(mlv(root, "commit", "-m", "links"))
    with Repo(root) as repo:
        assert set(repo.flat_tree("HEAD")) == {"data/a.txt", "data/in"}
    ok(mlv(root, "fsck"))
    (root / "data" / "in").unlink()
    ok(mlv(root, "checkout", "HEAD", "--", "data"))
    assert os.readlink(root / "data" / "in") == "a.txt"


def test_a_symlink_named_outright_is_skipped_too(root: Path) -> None:
    (root / "out").symlink_to("/etc")
    proc = mlv(root, "add", "out")
    assert "outside the working tree" in proc.stderr
    with Repo(root) as repo:
        assert repo.staging.load() == {}


# -- killed and refused checkouts ------------------------------------------------------


def _two_branches(root: Path) -> None:
    """main: m.txt and thing/inner.txt; other: big/f12.bin (10 MB) and thing (a file)."""
    write_files(root, {"m.txt": "m\n", "thing/inner.txt": "inner\n", "keep.txt": "k\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "one"))
    ok(mlv(root, "switch", "-c", "other"))
    ok(mlv(root, "rm", "m.txt", "thing/inner.txt"))
    write_files(root, {"thing": "a file now\n", "big/f12.bin": os.urandom(10 * 1024 * 1024)})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "two"))
    ok(mlv(root, "switch", "main"))


def test_a_damaged_object_refuses_the_checkout_before_anything_changes(root: Path) -> None:
    _two_branches(root)
    with Repo(root) as repo:
        big = repo.flat_tree("other")["big/f12.bin"]
        chunk = json.loads(repo.store.get(big.id))["chunks"][3][0]
        where = repo.store.index.lookup(bytes.fromhex(chunk))
        assert where is not None
        pack = root / ".mlv" / "packs" / where.pack
    pack.chmod(0o644)
    with open(pack, "r+b") as f:
        f.seek(where.offset + RECORD_HEADER.size + 10)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    before = snapshot(root)
    proc = mlv(root, "switch", "other")
    one_error_line(proc)
    assert "damaged" in proc.stderr
    assert snapshot(root) == before
    ok(mlv(root, "status"))
    assert (root / ".mlv" / "HEAD").read_text().strip() == "ref: refs/heads/main"


def test_a_folder_in_the_way_refuses_the_checkout_before_anything_changes(root: Path) -> None:
    _two_branches(root)
    write_files(root, {"thing/untracked.txt": "mine\n"})
    before = snapshot(root)
    proc = mlv(root, "switch", "other")
    assert "folder is in the way of thing" in one_error_line(proc)
    assert snapshot(root) == before


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.tmp") if ".mlv" not in p.relative_to(root).parts]


def test_a_killed_checkout_leaves_nothing_that_add_stages_and_the_next_one_cleans_up(
    root: Path,
) -> None:
    _two_branches(root)
    journals = root / ".mlv" / "tmp"
    killed = False
    for _attempt in range(5):
        proc = subprocess.Popen(
            [MLV, "switch", "other"], cwd=root, env=ENV, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if _temporaries(root):
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.0002)
        proc.wait()
        if killed:
            break
        ok(mlv(root, "switch", "main"))
    assert killed, "the switch always finished before it could be killed"
    assert _temporaries(root) and any(journals.glob("checkout-*"))
    # An older mlv left its temporaries beside the files it wrote, under no journal.
    (root / "big").mkdir(exist_ok=True)
    (root / "big" / ".f12.bin.mlv-e9a13b46.tmp").write_bytes(b"partial")
    ok(mlv(root, "add", "."))
    with Repo(root) as repo:
        assert not [p for p in repo.staging.load() if p.endswith(".tmp")]
    ok(mlv(root, "switch", "other"))
    assert _temporaries(root) == [root / "big" / ".f12.bin.mlv-e9a13b46.tmp"]
    assert not list(journals.iterdir())
    ok(mlv(root, "fsck"))


# -- refs move last --------------------------------------------------------------------


COMMIT_STEPS = [
    ("mlv.repo.tracking.Tracking._write_stage", "writing the trees"),
    ("mlv.store.objectstore.ObjectStore.put_meta", "storing the commit"),
    ("mlv.store.objectstore.ObjectStore.flush", "flushing the pack"),
    ("mlv.repo.tracking.Tracking._check_written", "reading the commit back"),
]


@pytest.mark.parametrize(("step", "what"), COMMIT_STEPS)
def test_a_commit_failing_at_any_step_leaves_the_ref_where_it_was(
    root: Path, monkeypatch: pytest.MonkeyPatch, step: str, what: str
) -> None:
    write_files(root, {"a.txt": "a\n"})
    with Repo(root) as repo:
        repo.add(["a.txt"])
        first = repo.commit("first", author=AUTHOR)
    ref_before = head_ref(root)
    write_files(root, {"b.txt": "b\n"})
    module_name, cls_name, method = step.rsplit(".", 2)
    cls = getattr(importlib.import_module(module_name), cls_name)

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, f"No space left on device while {what}")

    with Repo(root) as repo:
        repo.add(["b.txt"])
        monkeypatch.setattr(cls, method, fail)
        with pytest.raises(OSError):
            repo.commit("second", author=AUTHOR)
        monkeypatch.undo()
    assert head_ref(root) == ref_before
    with Repo(root) as repo:
        assert repo.resolve("HEAD") == first
        assert repo.fsck().ok
        second = repo.commit("second", author=AUTHOR)
        assert set(repo.flat_tree(second)) == {"a.txt", "b.txt"}


CHECKOUT_STEPS = [
    "mlv.repo.checkout.Materialiser._write_files",
    "mlv.repo.checkout.Materialiser._remove_all",
    "mlv.repo.checkout.Materialiser._move_into_place",
]


@pytest.mark.parametrize("step", CHECKOUT_STEPS)
def test_a_switch_failing_at_any_step_leaves_head_where_it_was(
    root: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    _two_branches(root)
    head_before = (root / ".mlv" / "HEAD").read_bytes()
    module_name, cls_name, method = step.rsplit(".", 2)
    cls = getattr(importlib.import_module(module_name), cls_name)

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(5, "Input/output error")

    with Repo(root) as repo:
        monkeypatch.setattr(cls, method, fail)
        with pytest.raises(OSError):
            repo.switch("other")
        monkeypatch.undo()
        assert (root / ".mlv" / "HEAD").read_bytes() == head_before
        assert repo.fsck().ok
        repo.switch("other")
    assert (root / "thing").read_text() == "a file now\n"


# -- the smaller ones ------------------------------------------------------------------


def test_a_fifo_in_a_tracked_folder_is_skipped_with_a_warning(root: Path) -> None:
    write_files(root, {"data/a.txt": "a\n"})
    os.mkfifo(root / "data" / "pipe")
    proc = ok(mlv(root, "add", "data"))
    assert "skipped data/pipe: it is a FIFO" in proc.stderr
    ok(mlv(root, "commit", "-m", "a"))
    assert "data/pipe" in ok(mlv(root, "status")).stderr


def test_status_quotes_a_newline_in_a_file_name(root: Path) -> None:
    write_files(root, {"data/a.txt": "a\n"})
    ok(mlv(root, "add", "data"))
    ok(mlv(root, "commit", "-m", "a"))
    write_files(root, {"data/two\nlines.txt": "x\n"})
    out = ok(mlv(root, "status")).stdout
    assert '"data/two\\nlines.txt"' in out
    assert all(not line.startswith("lines.txt") for line in out.splitlines())


def test_checkout_force_head_discards_local_edits_and_stays_on_the_branch(root: Path) -> None:
    write_files(root, {"a.txt": "a\n", "b.txt": "b\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "a"))
    write_files(root, {"a.txt": "edited\n", "new.txt": "new\n"})
    ok(mlv(root, "add", "new.txt"))
    (root / "b.txt").unlink()
    ok(mlv(root, "checkout", "--force", "HEAD"))
    assert (root / "a.txt").read_text() == "a\n"
    assert (root / "b.txt").read_text() == "b\n"
    assert (root / "new.txt").read_text() == "new\n"  # never committed: kept, unstaged
    assert (root / ".mlv" / "HEAD").read_text().strip() == "ref: refs/heads/main"
    st = json.loads(ok(mlv(root, "status", "--json")).stdout)
    assert not st["staged"] and not st["modified"] and not st["deleted"]


def test_checkout_head_stays_on_the_branch(root: Path) -> None:
    write_files(root, {"a.txt": "a\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "a"))
    ok(mlv(root, "checkout", "HEAD"))
    assert (root / ".mlv" / "HEAD").read_text().strip() == "ref: refs/heads/main"
    write_files(root, {"b.txt": "b\n"})
    ok(mlv(root, "add", "b.txt"))
    ok(mlv(root, "commit", "-m", "b"))
    assert "main" in ok(mlv(root, "status")).stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file, whatever its mode")
def test_an_unreadable_file_is_skipped_and_the_rest_is_added(root: Path) -> None:
    write_files(root, {"data/a.txt": "a\n", "data/secret.txt": "s\n", "data/z.txt": "z\n"})
    (root / "data" / "secret.txt").chmod(0)
    proc = ok(mlv(root, "add", "data"))
    assert "skipped data/secret.txt: Permission denied" in proc.stderr
    with Repo(root) as repo:
        assert set(repo.staging.load()) == {"data/a.txt", "data/z.txt"}


class ChangeTheTreeOnStart:
    """A progress display that, when add starts storing, changes the files it just found."""

    def __init__(self, data: Path) -> None:
        self.data = data

    def start(self, total: int, label: str) -> None:
        (self.data / "gone.txt").unlink()
        (self.data / "folder.txt").unlink()
        (self.data / "folder.txt").mkdir()
        (self.data / "fifo.txt").unlink()
        os.mkfifo(self.data / "fifo.txt")
        (self.data / "link.txt").unlink()
        (self.data / "link.txt").symlink_to("ok.txt")

    def advance(self, amount: int) -> None:
        pass

    def finish(self) -> None:
        pass


def test_files_vanishing_or_changing_kind_during_add_are_skipped(root: Path) -> None:
    names = ("ok.txt", "gone.txt", "folder.txt", "fifo.txt", "link.txt")
    write_files(root, {f"data/{name}": f"{name}\n" for name in names})
    with Repo(root) as repo:
        result = repo.add(["data"], progress=ChangeTheTreeOnStart(root / "data"))
        assert set(result.added) == {"data/ok.txt"}
        skipped = " ".join(result.warnings)
        for name in ("gone.txt", "folder.txt", "fifo.txt", "link.txt"):
            assert f"skipped data/{name}" in skipped
        repo.commit("what could be read", author=AUTHOR)
        assert repo.fsck().ok
        assert set(repo.add(["data"]).added) == {"data/link.txt"}


# -- found by the stateful suite ----------------------------------------------------------


def test_a_file_that_became_a_folder_can_be_added_and_committed(root: Path) -> None:
    write_files(root, {"a": "one\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "one"))
    (root / "a").unlink()
    write_files(root, {"a/x": "x\n"})
    assert "1 removed" in ok(mlv(root, "add", "a/x")).stdout
    ok(mlv(root, "commit", "-m", "two"))
    with Repo(root) as repo:
        assert set(repo.flat_tree("HEAD")) == {"a/x"}
    ok(mlv(root, "fsck"))


def test_checking_out_a_file_where_a_folder_is_staged_replaces_it_in_the_stage(
    root: Path,
) -> None:
    write_files(root, {"d": "one\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "one"))
    (root / "d").unlink()
    write_files(root, {"d/x": "x\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "two"))
    (root / "d" / "x").unlink()
    (root / "d").rmdir()
    ok(mlv(root, "checkout", "HEAD~1", "--", "d"))
    ok(mlv(root, "commit", "-m", "three"))
    with Repo(root) as repo:
        assert set(repo.flat_tree("HEAD")) == {"d"}


def test_a_staged_file_is_not_carried_onto_a_folder_of_the_same_name(root: Path) -> None:
    write_files(root, {"a": "one\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "one"))
    ok(mlv(root, "branch", "feat"))
    write_files(root, {"d/x": "x\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "two"))
    ok(mlv(root, "switch", "feat"))
    write_files(root, {"d": "new\n"})
    ok(mlv(root, "add", "d"))
    (root / "d").unlink()
    ok(mlv(root, "switch", "main"))
    with Repo(root) as repo:
        assert set(repo.staging.load()) == {"a", "d/x"}
    ok(mlv(root, "fsck"))


def test_a_path_beyond_a_symlink_is_refused_not_acted_on_behind_it(root: Path) -> None:
    write_files(root, {"d/x": "d\n", "e/x": "e\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "one"))
    for path in (root / "d" / "x", root / "d"):
        path.unlink() if path.is_file() else path.rmdir()
    (root / "d").symlink_to("e")
    for args in (("rm", "d/x"), ("add", "d/x"), ("restore", "d/x")):
        assert "beyond a symlink (d)" in one_error_line(mlv(root, *args))
    assert (root / "e" / "x").read_text() == "e\n"


def test_a_symlink_loop_where_a_folder_was_gives_clear_errors(root: Path) -> None:
    write_files(root, {"d/x": "x\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "one"))
    (root / "d" / "x").unlink()
    (root / "d").rmdir()
    (root / "d").symlink_to("d")
    for args in (("restore", "."), ("checkout", "--force", "HEAD"), ("rm", "d/x")):
        one_error_line(mlv(root, *args))
    for args in (("status",), ("diff",), ("log",)):
        ok(mlv(root, *args))
    (root / "d").unlink()
    ok(mlv(root, "restore", "."))
    assert (root / "d" / "x").read_text() == "x\n"


# -- found by a second attacker's tour -----------------------------------------------------


@pytest.mark.parametrize("command", [("restore",), ("rm",), ("add",), ("checkout", "HEAD", "--")])
def test_an_empty_path_names_nothing(root: Path, command: tuple[str, ...]) -> None:
    write_files(root, {"x": "x\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "x"))
    write_files(root, {"x": "edited\n"})
    assert "empty path" in one_error_line(mlv(root, *command, ""))
    assert (root / "x").read_text() == "edited\n"


def test_a_tree_entry_with_a_wrong_size_refuses_the_checkout_before_anything_changes(
    root: Path,
) -> None:
    write_files(root, {"a": "a\n", "ok": "ok\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "one"))
    with Repo(root) as repo:
        tree = repo.trees.tree(repo.read_commit(repo.resolve("HEAD")).tree)
        entries = [e.to_json() for e in tree.entries if e.name != "ok"]
        for entry in entries:
            entry["size"] = 10**6 if entry["name"] == "a" else entry["size"]
        from mlv.model.canonical import dumps
        from mlv.model.objects import Commit

        tree_id = repo.store.put_meta(dumps({"type": "tree", "format": 1, "entries": entries}), 3)
        head = repo.read_commit(repo.resolve("HEAD"))
        crafted = Commit(tree_id, (repo.resolve("HEAD"),), head.author, 0, 0, "crafted\n")
        crafted_id = repo.store.put_meta(crafted.to_bytes(), 3)
        repo.store.flush()
        repo.refs.update("refs/heads/crafted", crafted_id, None)
    write_files(root, {"a": "changed\n"})
    ok(mlv(root, "add", "a"))
    ok(mlv(root, "commit", "-m", "two"))
    before = snapshot(root)
    assert "says 1000000 bytes" in one_error_line(mlv(root, "switch", "crafted"))
    assert snapshot(root) == before
    with Repo(root) as repo:
        assert not repo.fsck().ok  # and fsck names it


def test_a_full_commit_id_always_names_its_commit(root: Path) -> None:
    write_files(root, {"a": "a\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "one"))
    first = (root / ".mlv" / "refs" / "heads" / "main").read_text().strip()
    write_files(root, {"a": "b\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "two"))
    second = (root / ".mlv" / "refs" / "heads" / "main").read_text().strip()
    assert "full commit id" in one_error_line(mlv(root, "tag", first, second))
    assert "full commit id" in one_error_line(mlv(root, "branch", "0" * 64))
    # A ref by that name, however it got there, does not hide the commit.
    (root / ".mlv" / "refs" / "tags" / first).write_text(second + "\n")
    with Repo(root) as repo:
        assert repo.resolve(first) == first


def test_commit_succeeds_when_a_ref_folder_is_damaged(root: Path, tmp_path: Path) -> None:
    write_files(root, {"a": "a\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "one"))
    (tmp_path / "elsewhere").mkdir()
    (root / ".mlv" / "refs" / "tags").rmdir()
    (root / ".mlv" / "refs" / "tags").symlink_to(tmp_path / "elsewhere")
    write_files(root, {"a": "b\n"})
    ok(mlv(root, "add", "a"))
    ok(mlv(root, "commit", "-m", "two"))  # printing the new commit resolves it by id
    assert not list((tmp_path / "elsewhere").iterdir())


@pytest.mark.parametrize(
    "where", [".mlvignore", "mlv.lock", ".mlv/tmp/checkout-0123456789ab.journal"]
)
def test_a_fifo_where_mlv_reads_a_file_never_hangs(root: Path, where: str) -> None:
    write_files(root, {"a": "a\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "one"))
    ok(mlv(root, "branch", "other"))
    (root / where).parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(root / where)
    for args in (("status",), ("lock", "--check"), ("switch", "other")):
        proc = mlv(root, *args)  # helpers.mlv times out after 60 s
        assert "Traceback" not in proc.stderr


def test_a_ref_that_became_a_folder_is_damage_to_fsck(root: Path) -> None:
    write_files(root, {"a": "a\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "one"))
    ref = root / ".mlv" / "refs" / "heads" / "main"
    ref.unlink()
    ref.mkdir()
    proc = mlv(root, "fsck")
    assert proc.returncode == 1 and "is a folder, not a ref" in proc.stdout


def test_temporaries_behind_a_symlinked_folder_are_removed_once_it_is_a_folder_again(
    root: Path,
) -> None:
    write_files(root, {"a": "a\n", "big/f": "f\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "one"))
    token = "0123456789ab"
    leftover = root / "big" / f".0-f.mlv-{token}.tmp"
    leftover.write_text("partial")
    journal = root / ".mlv" / "tmp" / f"checkout-{token}.journal"
    journal.parent.mkdir(exist_ok=True)
    journal.write_text(json.dumps({"token": token, "folders": ["big"]}))
    (root / "big").rename(root / "big.real")
    (root / "big").symlink_to("big.real")
    mlv(root, "restore", "a")
    assert journal.exists() and (root / "big.real" / leftover.name).exists()
    (root / "big").unlink()
    (root / "big.real").rename(root / "big")
    ok(mlv(root, "restore", "a"))
    assert not leftover.exists() and not journal.exists()


class SwapFolderForSymlink:
    """A progress display that, at the first file a checkout writes, swaps the folder it
    writes into for a symlink leading out of the repository."""

    def __init__(self, folder: Path, victim: Path) -> None:
        self.folder, self.victim, self.done = folder, victim, False

    def start(self, total: int, label: str) -> None:
        pass

    def advance(self, amount: int) -> None:
        if not self.done:
            self.done = True
            self.folder.rename(self.folder.with_name(self.folder.name + ".real"))
            self.folder.symlink_to(self.victim)

    def finish(self) -> None:
        pass


def test_a_folder_swapped_for_a_symlink_during_checkout_sends_nothing_outside(
    root: Path, tmp_path: Path
) -> None:
    write_files(root, {f"big/f{i}": f"main {i}\n" for i in range(20)})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "main"))
    ok(mlv(root, "switch", "-c", "other"))
    write_files(root, {f"big/f{i}": f"other {i}\n" for i in range(20)})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "other"))
    ok(mlv(root, "switch", "main"))
    victim = tmp_path / "victim"
    victim.mkdir()
    with Repo(root) as repo, pytest.raises(MlvError):
        repo.checkout("other", progress=SwapFolderForSymlink(root / "big", victim))
    assert list(victim.iterdir()) == []


def test_control_characters_in_names_never_reach_the_terminal_raw(root: Path) -> None:
    write_files(root, {"a\x1b[31mb": "x\n"})
    os.mkfifo(root / "fi\nfo")
    added = ok(mlv(root, "add", "."))
    assert "skipped fi\\nfo: it is a FIFO" in added.stderr
    ok(mlv(root, "commit", "-m", "x"))
    (root / "a\x1b[31mb").write_text("edited\n")
    for args in (("show", "HEAD"), ("diff",)):  # show and diff list changes alike
        out = mlv(root, *args).stdout
        assert "\x1b" not in out and '"a\\033[31mb"' in out
    assert "\x1b" not in one_error_line(mlv(root, "checkout", "a\x1b[31mb"))


def test_switching_to_an_impossible_branch_name_says_so(root: Path) -> None:
    write_files(root, {"a": "a\n"})
    ok(mlv(root, "add", "."))
    ok(mlv(root, "commit", "-m", "a"))
    line = one_error_line(mlv(root, "switch", "../main"))
    assert "not a valid branch name" in line and "switch -c" not in line


def test_a_symlinked_mlv_tmp_is_refused_before_anything_is_written_or_deleted_there(
    tmp_path: Path,
) -> None:
    """Journals, the folders a checkout builds and their leftovers live in `.mlv/tmp`:
    through a symlink, a checkout would write and delete outside the repository."""
    root, outside = tmp_path / "repo", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    assert mlv(root, "init").returncode == 0
    write_files(root, {f"data/sub/f{i}.txt": f"{i}\n" for i in range(3)})
    assert mlv(root, "add", "data").returncode == 0
    assert mlv(root, "commit", "-m", "data").returncode == 0
    # What the cleanup of a killed checkout would delete, were it followed there.
    write_files(outside, {"building-000000000000/keep.txt": "k\n", "checkout-x.journal": "{}"})
    before = snapshot(outside)
    tmp = root / ".mlv" / "tmp"
    if tmp.exists():
        tmp.rmdir()
    tmp.symlink_to(outside)
    for name in ("f0.txt", "f1.txt", "f2.txt"):
        (root / "data" / "sub" / name).unlink()
    (root / "data" / "sub").rmdir()
    line = one_error_line(mlv(root, "checkout", "HEAD", "--", "data"))
    assert ".mlv/tmp is a symlink" in line
    assert snapshot(outside) == before
    assert not (root / "data" / "sub").exists()
    tmp.unlink()
    assert mlv(root, "checkout", "HEAD", "--", "data").returncode == 0
    assert (root / "data" / "sub" / "f2.txt").read_text() == "2\n"
