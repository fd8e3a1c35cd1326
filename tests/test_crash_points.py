"""`mlv` killed at every named point of its writes leaves what docs/format.md's crash table says.

Each test runs the real command with ``MLV_CRASH_POINT`` set, checks that it died by
SIGKILL there (so the point is reached), then checks the outcome the table states:
what is on disk, what `mlv fsck` and `mlv status` say, and what the next command does.
"""

from __future__ import annotations

import ast
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import RunMlv
from helpers import write_files
from mlv import Repo
from mlv.core.crashpoints import CRASH_POINTS, ENV_VARIABLE
from mlv.core.paths import is_temporary_name
from mlv.repo.notes import REPRODUCTIONS

SRC = Path(__file__).resolve().parents[1] / "src" / "mlv"
FORMAT_MD = Path(__file__).resolve().parents[1] / "docs" / "format.md"
# `python` on the recorded commands' PATH is the interpreter running these tests.
PY_ENV = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
MAKE = "python -c \"import pathlib; pathlib.Path('out.txt').write_text(open('in.txt').read() * 2)\""
RUN = ("run", "-n", "make", "-d", "in.txt", "-o", "out.txt", "--", MAKE)


# -- running and looking ----------------------------------------------------------------


def kill_at(point: str, run_mlv: RunMlv, root: Path, *args: str) -> None:
    """Run ``mlv ARGS`` with the crash point armed; it must die there, by SIGKILL."""
    proc = run_mlv(root, *args, env={ENV_VARIABLE: point, **PY_ENV}, expect=None)
    assert proc.returncode == -signal.SIGKILL, (
        f"mlv {' '.join(args)} did not reach {point}: exit {proc.returncode}\n{proc.stderr}"
    )


def ok(run_mlv: RunMlv, root: Path, *args: str) -> subprocess.CompletedProcess:
    return run_mlv(root, *args, env=PY_ENV)


def fsck_clean(run_mlv: RunMlv, root: Path) -> str:
    """`mlv fsck` exits 0; its output, notes included."""
    return ok(run_mlv, root, "fsck").stdout


def status(run_mlv: RunMlv, root: Path) -> dict:
    return json.loads(ok(run_mlv, root, "status", "--json").stdout)


def head(root: Path) -> str | None:
    with Repo(root) as repo:
        return repo.refs.head().commit


def staged(root: Path) -> dict[str, str]:
    with Repo(root) as repo:
        return {path: s.id for path, s in repo.staging.load().items()}


def tmp_packs(root: Path) -> list[Path]:
    return sorted((root / ".mlv" / "packs").glob("tmp-pack-*"))


def journals(root: Path) -> list[Path]:
    folder = root / ".mlv" / "tmp"
    return sorted(folder.glob("checkout-*.journal")) if folder.exists() else []


def temporaries(root: Path) -> list[str]:
    """Every file named as mlv names a temporary, anywhere under ``root``."""
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if is_temporary_name(p.name)
    )


def files(root: Path, folder: str = "data") -> dict[str, str]:
    base = root / folder
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(base.rglob("*"))
        if not is_temporary_name(p.name)
    }


def reflog(root: Path, ref: str = "refs/heads/main") -> list[str]:
    path = root / ".mlv" / "logs" / ref
    return path.read_text().splitlines() if path.exists() else []


# -- repositories to kill in ----------------------------------------------------------------


def fresh(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    Repo.init(root).close()
    # 1 MiB: a file of several chunks, so the pack holds a manifest and its chunks.
    write_files(root, {"data/big.bin": bytes(range(256)) * 4096, "data/a.txt": "one\n"})
    return root


def committed(tmp_path: Path, run_mlv: RunMlv) -> tuple[Path, str]:
    """A repository with one commit and a change staged for the next."""
    root = fresh(tmp_path)
    ok(run_mlv, root, "add", "data")
    ok(run_mlv, root, "commit", "-m", "first")
    first = head(root)
    assert first is not None
    write_files(root, {"data/a.txt": "two\n", "data/b.txt": "new\n"})
    ok(run_mlv, root, "add", "data")
    return root, first


def two_commits(tmp_path: Path, run_mlv: RunMlv) -> tuple[Path, str, str]:
    """Branch `first` at A (data/a.txt, data/gone.txt); main at B, checked out, where
    a.txt changed, gone.txt is removed and new.txt added. Checking out `first` from B
    replaces a.txt (a temporary), writes gone.txt in place and removes new.txt."""
    root = tmp_path / "work"
    Repo.init(root).close()
    write_files(root, {"data/a.txt": "A\n", "data/gone.txt": "only in A\n"})
    ok(run_mlv, root, "add", "data")
    ok(run_mlv, root, "commit", "-m", "A")
    a = head(root)
    ok(run_mlv, root, "branch", "first")
    (root / "data" / "gone.txt").unlink()
    write_files(root, {"data/a.txt": "B\n", "data/new.txt": "only in B\n"})
    ok(run_mlv, root, "add", "data")
    ok(run_mlv, root, "commit", "-m", "B")
    b = head(root)
    assert a and b
    return root, a, b


A_FILES = {"data/a.txt": "A\n", "data/gone.txt": "only in A\n"}
B_FILES = {"data/a.txt": "B\n", "data/new.txt": "only in B\n"}


def with_input(tmp_path: Path, run_mlv: RunMlv) -> Path:
    """A repository with in.txt committed: what `RUN` reads."""
    root = tmp_path / "work"
    Repo.init(root).close()
    write_files(root, {"in.txt": "x\n"})
    ok(run_mlv, root, "add", "in.txt")
    ok(run_mlv, root, "commit", "-m", "input")
    return root


def committed_run(tmp_path: Path, run_mlv: RunMlv) -> Path:
    root = with_input(tmp_path, run_mlv)
    ok(run_mlv, root, *RUN)
    ok(run_mlv, root, "commit", "-m", "made")
    return root


def reproductions(root: Path) -> int:
    with Repo(root) as repo:
        return len(repo.reproductions("HEAD"))


def notes_ref(root: Path) -> str | None:
    with Repo(root) as repo:
        return repo.refs.read(REPRODUCTIONS)


def carried_runs(root: Path, rev: str = "HEAD") -> tuple[str, ...]:
    with Repo(root) as repo:
        return repo.read_commit(repo.resolve(rev)).runs


# -- the object store -------------------------------------------------------------------------


def pack_before_seal(tmp_path: Path, run_mlv: RunMlv) -> None:
    root = fresh(tmp_path)
    kill_at("pack.before-seal", run_mlv, root, "add", "data")
    assert tmp_packs(root) and not list((root / ".mlv" / "packs").glob("pack-*"))
    assert staged(root) == {}
    assert "temporary pack" in fsck_clean(run_mlv, root)
    ok(run_mlv, root, "add", "data")  # the next writer sweeps it
    assert tmp_packs(root) == []
    assert set(staged(root)) == {"data/a.txt", "data/big.bin"}
    assert "temporary" not in fsck_clean(run_mlv, root)


@pytest.mark.slow
def test_a_killed_writers_tmp_pack_goes_with_an_index_rebuild(
    tmp_path: Path, run_mlv: RunMlv
) -> None:
    root = fresh(tmp_path)
    kill_at("pack.before-seal", run_mlv, root, "add", "data")
    assert tmp_packs(root)
    ok(run_mlv, root, "index", "rebuild")
    assert tmp_packs(root) == []
    fsck_clean(run_mlv, root)


def pack_after_rename(tmp_path: Path, run_mlv: RunMlv) -> None:
    root = fresh(tmp_path)
    kill_at("pack.after-rename", run_mlv, root, "add", "data")
    (pack,) = (root / ".mlv" / "packs").glob("pack-*")
    assert tmp_packs(root) == [] and staged(root) == {}
    with Repo(root) as repo:
        assert repo.store.index.pack_names() == []
    fsck_clean(run_mlv, root)
    ok(run_mlv, root, "add", "data")
    assert set(staged(root)) == {"data/a.txt", "data/big.bin"}
    ok(run_mlv, root, "commit", "-m", "after all")
    fsck_clean(run_mlv, root)
    # The unindexed pack costs space only; a rebuild indexes it like any other.
    ok(run_mlv, root, "index", "rebuild")
    with Repo(root) as repo:
        assert pack.name in repo.store.index.pack_names()


# -- mlv add ---------------------------------------------------------------------------------


def add_after_pack(tmp_path: Path, run_mlv: RunMlv) -> None:
    root = fresh(tmp_path)
    kill_at("add.after-pack", run_mlv, root, "add", "data")
    assert staged(root) == {} and tmp_packs(root) == []
    fsck_clean(run_mlv, root)
    out = ok(run_mlv, root, "add", "data").stdout
    assert "2 added" in out
    assert set(staged(root)) == {"data/a.txt", "data/big.bin"}


def profiles_after_objects(tmp_path: Path, run_mlv: RunMlv) -> None:
    root = tmp_path / "work"
    Repo.init(root).close()
    write_files(root, {"t.csv": "x,y\n1,2\n3,4\n"})
    kill_at("profiles.after-objects", run_mlv, root, "add", "t.csv")
    content = staged(root)["t.csv"]  # staged before profiling: the add itself is done
    with Repo(root) as repo:
        assert repo.records.profiles_of([content]) == {}
    fsck_clean(run_mlv, root)
    ok(run_mlv, root, "commit", "-m", "table")
    # Profiled on demand.
    assert "2 rows" in ok(run_mlv, root, "stats", "t.csv").stdout
    fsck_clean(run_mlv, root)


# -- mlv commit ------------------------------------------------------------------------------


def commit_unmoved(point: str) -> Callable[[Path, RunMlv], None]:
    """A kill before the ref moves: HEAD, stage and status as before; commit again works."""

    def scenario(tmp_path: Path, run_mlv: RunMlv) -> None:
        root, first = committed(tmp_path, run_mlv)
        before = staged(root)
        log = reflog(root)
        kill_at(point, run_mlv, root, "commit", "-m", "second")
        assert head(root) == first
        assert staged(root) == before
        assert {c["path"] for c in status(run_mlv, root)["staged"]} == {"data/a.txt", "data/b.txt"}
        fsck_clean(run_mlv, root)
        if point == "ref.after-reflog":
            # The reflog names a move that did not happen; its commit is stored whole.
            assert len(reflog(root)) == len(log) + 1
        elif point == "ref.before-rename":
            assert len(reflog(root)) == len(log) + 1
            assert len(temporaries(root / ".mlv" / "refs")) == 1
            with Repo(root) as repo:
                assert repo.branches() == {"main": first}
        else:
            assert reflog(root) == log
        ok(run_mlv, root, "commit", "-m", "second")
        with Repo(root) as repo:
            assert repo.read_commit(repo.resolve("HEAD")).parents == (first,)
        assert tmp_packs(root) == []
        assert status(run_mlv, root)["staged"] == []
        fsck_clean(run_mlv, root)

    return scenario


def commit_moved(point: str) -> Callable[[Path, RunMlv], None]:
    """A kill after the ref moved: the commit is made; what is left is bookkeeping."""

    def scenario(tmp_path: Path, run_mlv: RunMlv) -> None:
        root = with_input(tmp_path, run_mlv)
        ok(run_mlv, root, *RUN)
        before = head(root)
        kill_at(point, run_mlv, root, "commit", "-m", "made")
        assert head(root) != before
        assert carried_runs(root)
        fsck_clean(run_mlv, root)
        report = status(run_mlv, root)
        assert report["clean"]
        # The run is still queued: the commit was killed before it was taken off.
        assert len(report["pending_runs"]) == 1
        again = run_mlv(root, "commit", "-m", "made", expect=None)
        assert again.returncode != 0 and "nothing to commit" in again.stderr
        # The next commit takes the queued run off, and does not carry it a second time.
        made = carried_runs(root)
        write_files(root, {"other.txt": "o\n"})
        ok(run_mlv, root, "add", "other.txt")
        ok(run_mlv, root, "commit", "-m", "next")
        assert carried_runs(root) == () and carried_runs(root, "HEAD~1") == made
        assert status(run_mlv, root)["pending_runs"] == []

    return scenario


def pin_scenario(point: str) -> Callable[[Path, RunMlv], None]:
    """mlv.lock rewritten by commit: killed before it, the lock names the old commit."""

    def scenario(tmp_path: Path, run_mlv: RunMlv) -> None:
        root, first = committed(tmp_path, run_mlv)
        ok(run_mlv, root, "lock")
        old = (root / "mlv.lock").read_text()
        kill_at(point, run_mlv, root, "commit", "-m", "second")
        assert head(root) != first  # the commit is done: the lock is written after it
        assert (root / "mlv.lock").read_text() == old
        assert run_mlv(root, "lock", "--check", expect=1).returncode == 1
        left = temporaries(root)
        if point == "file.before-rename":
            # The temporary stays (nothing sweeps it), and nothing ever reads or tracks it.
            assert [Path(p).name.startswith(".mlv.lock.mlv-") for p in left] == [True]
        else:
            assert left == []
        ok(run_mlv, root, "add", ".")
        assert not any(is_temporary_name(Path(p).name) for p in staged(root))
        ok(run_mlv, root, "lock")
        ok(run_mlv, root, "lock", "--check")
        fsck_clean(run_mlv, root)

    return scenario


# -- mlv checkout ------------------------------------------------------------------------------


def checkout_scenario(point: str) -> Callable[[Path, RunMlv], None]:
    """Killed anywhere in a checkout of `first` from main: HEAD stays at B; nothing mlv
    wrote half shows; checking out again finishes it and leaves no temporary."""

    def scenario(tmp_path: Path, run_mlv: RunMlv) -> None:
        root, a, b = two_commits(tmp_path, run_mlv)
        kill_at(point, run_mlv, root, "checkout", "first")
        assert head(root) == b
        on_disk = files(root)
        # Every file is whole: B's content or A's, never a mix or a part.
        for path, text in on_disk.items():
            assert text in (A_FILES.get(path), B_FILES.get(path)), (path, text)
        stage_is_a = staged(root) == staged_of(root, a)
        if point == "checkout.after-journal":
            assert journals(root) and on_disk == B_FILES
            assert temporaries(root / "data") == []
        elif point in ("checkout.after-write", "checkout.after-remove"):
            assert journals(root)
            (tmp,) = temporaries(root / "data")
            assert (root / "data" / tmp).read_text() == "A\n"
            assert on_disk["data/a.txt"] == "B\n"  # not yet replaced
            assert on_disk["data/gone.txt"] == "only in A\n"  # named in place, whole
            assert ("data/new.txt" in on_disk) == (point == "checkout.after-write")
        else:
            assert on_disk == A_FILES and temporaries(root) == []
            assert bool(journals(root)) == (point == "checkout.after-rename")
        assert stage_is_a == (point == "checkout.before-head")
        fsck_clean(run_mlv, root)
        # status never lists a temporary, whatever it shows of the half-done move.
        report = status(run_mlv, root)
        assert ".mlv-" not in json.dumps(report)
        seen = {k: report[k] for k in ("modified", "deleted", "untracked")}
        if point == "checkout.after-journal":
            assert report["clean"]
        elif point == "checkout.after-write":
            assert seen == {"modified": [], "deleted": [], "untracked": ["data/gone.txt"]}
        elif point == "checkout.after-remove":
            assert seen == {
                "modified": [],
                "deleted": ["data/new.txt"],
                "untracked": ["data/gone.txt"],
            }
        elif point == "checkout.before-head":
            assert seen == {"modified": [], "deleted": [], "untracked": []} and report["staged"]
        else:
            assert seen == {
                "modified": ["data/a.txt"],
                "deleted": ["data/new.txt"],
                "untracked": ["data/gone.txt"],
            }
        ok(run_mlv, root, "checkout", "first")
        assert head(root) == a and files(root) == A_FILES
        assert temporaries(root) == [] and journals(root) == []
        assert status(run_mlv, root)["clean"]
        fsck_clean(run_mlv, root)

    return scenario


def staged_of(root: Path, commit_id: str) -> dict[str, str]:
    with Repo(root) as repo:
        return {p: e.id for p, e in repo.flat_tree(commit_id).items()}


# -- mlv run -----------------------------------------------------------------------------------


def run_scenario(point: str) -> Callable[[Path, RunMlv], None]:
    """Killed while recording a run: no commit carries it; running it again records it."""

    def scenario(tmp_path: Path, run_mlv: RunMlv) -> None:
        root = with_input(tmp_path, run_mlv)
        kill_at(point, run_mlv, root, *RUN)
        assert "out.txt" in staged(root)  # the outputs are stored and staged first
        with Repo(root) as repo:
            assert repo.records.pending() == []
            (cached,) = repo.index.execute("SELECT count(*) FROM run_cache").fetchone()
        assert cached == (1 if point == "run.after-cache" else 0)
        fsck_clean(run_mlv, root)
        assert status(run_mlv, root)["pending_runs"] == []
        ok(run_mlv, root, *RUN)
        ok(run_mlv, root, "commit", "-m", "made")
        assert len(carried_runs(root)) == 1
        fsck_clean(run_mlv, root)

    return scenario


# -- mlv reproduce -----------------------------------------------------------------------------


def reproduce_scenario(point: str) -> Callable[[Path, RunMlv], None]:
    """Killed while recording a reproduction: the chain holds it whole or not at all."""

    def scenario(tmp_path: Path, run_mlv: RunMlv) -> None:
        root = committed_run(tmp_path, run_mlv)
        kill_at(point, run_mlv, root, "reproduce")
        on_chain = notes_ref(root) is not None
        assert on_chain == (point == "notes.after-ref")
        assert reproductions(root) == 0  # the index lists it only after the ref moved
        fsck_clean(run_mlv, root)
        # In another second: a reproduction of the same second and duration, with the
        # same results, is the same object as the killed one, and the chain holds it once.
        time.sleep(1.1)
        ok(run_mlv, root, "reproduce")
        assert reproductions(root) == 1
        # A rebuild lists what the chain holds: with the killed one, two.
        ok(run_mlv, root, "index", "rebuild")
        assert reproductions(root) == (2 if on_chain else 1)
        fsck_clean(run_mlv, root)

    return scenario


# -- mlv push ------------------------------------------------------------------------------


def push_scenario(point: str) -> Callable[[Path, RunMlv], None]:
    """Killed while pushing: the remote ref does not move before all its data is there,
    what arrived stays, and the next push sends the rest and moves it."""

    def scenario(tmp_path: Path, run_mlv: RunMlv) -> None:
        root = committed_run(tmp_path, run_mlv)
        remote = tmp_path / "remote"
        remote.mkdir()
        ok(run_mlv, root, "remote", "add", "origin", str(remote))
        kill_at(point, run_mlv, root, "push")
        assert not (remote / "refs" / "heads" / "main").exists()
        assert list((remote / "packs").glob("*.idx"))
        fsck_clean(run_mlv, root)
        pushed = json.loads(ok(run_mlv, root, "push", "--json").stdout)
        assert [r["status"] for r in pushed["refs"]] == ["new"]
        if point == "push.before-refs":
            assert pushed["objects"] == 0  # everything had arrived: only the refs move
        ok(run_mlv, tmp_path, "clone", str(remote), "clone")
        fsck_clean(run_mlv, tmp_path / "clone")
        assert head(tmp_path / "clone") == head(root)

    return scenario


def clone_scenario(point: str) -> Callable[[Path, RunMlv], None]:
    """Killed while cloning: the clone is kept, and the same command finishes it."""

    def scenario(tmp_path: Path, run_mlv: RunMlv) -> None:
        root = committed_run(tmp_path, run_mlv)
        remote = tmp_path / "remote"
        remote.mkdir()
        ok(run_mlv, root, "remote", "add", "origin", str(remote))
        ok(run_mlv, root, "push")
        kill_at(point, run_mlv, tmp_path, "clone", str(remote), "clone")
        clone = tmp_path / "clone"
        assert head(clone) is None  # nothing reachable yet
        fsck_clean(run_mlv, clone)
        finished = json.loads(ok(run_mlv, tmp_path, "clone", str(remote), "clone", "--json").stdout)
        assert finished["commit"] == head(root)
        assert finished["fetch"]["objects"] > 0  # the content, not the history again
        fsck_clean(run_mlv, clone)
        assert status(run_mlv, clone)["clean"]

    return scenario


SCENARIOS: dict[str, Callable[[Path, RunMlv], None]] = {
    "pack.before-seal": pack_before_seal,
    "pack.after-rename": pack_after_rename,
    "add.after-pack": add_after_pack,
    "profiles.after-objects": profiles_after_objects,
    "commit.before-flush": commit_unmoved("commit.before-flush"),
    "commit.before-ref": commit_unmoved("commit.before-ref"),
    "ref.after-reflog": commit_unmoved("ref.after-reflog"),
    "ref.before-rename": commit_unmoved("ref.before-rename"),
    "commit.after-ref": commit_moved("commit.after-ref"),
    "commit.after-stage": commit_moved("commit.after-stage"),
    "pin.before-write": pin_scenario("pin.before-write"),
    "file.before-rename": pin_scenario("file.before-rename"),
    **{p: checkout_scenario(p) for p in CRASH_POINTS if p.startswith("checkout.")},
    **{p: run_scenario(p) for p in CRASH_POINTS if p.startswith("run.")},
    "reproduce.after-object": reproduce_scenario("reproduce.after-object"),
    "notes.before-ref": reproduce_scenario("notes.before-ref"),
    "notes.after-ref": reproduce_scenario("notes.after-ref"),
    "push.after-pack": push_scenario("push.after-pack"),
    "push.before-refs": push_scenario("push.before-refs"),
    "fetch.after-history": clone_scenario("fetch.after-history"),
}


@pytest.mark.slow
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_killed_at_point(point: str, tmp_path: Path, run_mlv: RunMlv) -> None:
    assert point in SCENARIOS, f"no test kills mlv at {point}"
    SCENARIOS[point](tmp_path, run_mlv)


# -- one list of names -------------------------------------------------------------------------


def crash_table_names() -> list[str]:
    """The first cell of every row of the crash table in docs/format.md."""
    text = FORMAT_MD.read_text(encoding="utf-8")
    section = text.split("### What a crash leaves", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([a-z]+\.[a-z-]+)` \|", section, flags=re.MULTILINE)


def names_in_code() -> set[str]:
    found = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "crash_point"
            ):
                (arg,) = node.args
                assert isinstance(arg, ast.Constant), f"{path}: a crash point needs a literal name"
                found.add(arg.value)
    return found


def test_docs_code_and_tests_name_the_same_crash_points() -> None:
    assert len(set(CRASH_POINTS)) == len(CRASH_POINTS)
    assert crash_table_names() == list(CRASH_POINTS)
    assert names_in_code() == set(CRASH_POINTS)
    assert set(SCENARIOS) == set(CRASH_POINTS)
