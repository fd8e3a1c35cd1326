"""Checkout a batch of paths at a time: the same end as one batch, nothing written
when it is refused, and a failed or killed one finished by running it again.

The batch is made a few paths long here, so that small repositories take the
path a checkout of a million files takes.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import AUTHOR, snapshot, write_files
from mlv import Repo
from mlv.core.paths import is_temporary_name
from mlv.errors import MlvError, UncommittedChangesError
from mlv.repo import pathrows
from mlv.repo.pathrows import PathRow, in_batches, merge_rows
from mlv.repo.trees import Entry

SMALL = 3

# Commit A and commit B differ in every way a checkout handles: changed, removed and
# added files, a file that becomes a folder and a folder that becomes a file (with
# paths between them in path order: "swap.txt" sorts between "swap" and "swap/…").
A_FILES = {
    **{f"data/d{d}/f{i}.txt": f"A {d} {i}\n" for d in range(4) for i in range(5)},
    "data/gone.txt": "only in A\n",
    "swap": "a file in A\n",
    "swap.txt": "beside it\n",
    "tofile/x.txt": "a folder in A\n",
    "tofile/y/z.txt": "deeper\n",
}
B_FILES = {
    **{f"data/d{d}/f{i}.txt": f"B {d} {i}\n" for d in range(4) for i in range(0, 5, 2)},
    **{f"data/d{d}/f{i}.txt": f"A {d} {i}\n" for d in range(4) for i in range(1, 5, 2)},
    "data/new/n.txt": "only in B\n",
    "swap/inside.txt": "a folder in B\n",
    "swap.txt": "beside it\n",
    "tofile": "a file in B\n",
}


A = {p: t.encode() for p, t in A_FILES.items()}
B = {p: t.encode() for p, t in B_FILES.items()}


def make_repo(root: Path) -> tuple[str, str]:
    """A repository with commits A and B (HEAD at B, on main); their ids."""
    Repo.init(root).close()
    ids = []
    for files in (A_FILES, B_FILES):
        with Repo(root) as r:
            for rel in r.staging.load():
                (root / rel).unlink()
            for folder in sorted((p for p in root.iterdir() if p.name != ".mlv"), reverse=True):
                if folder.is_dir():
                    shutil.rmtree(folder)
            write_files(root, files)
            r.add(["."])
            ids.append(r.commit("files", author=AUTHOR, allow_empty=True))
    return ids[0], ids[1]


def state(root: Path) -> tuple[dict, dict, str | None, str | None]:
    """The working tree, the stage, HEAD and the tree the stage is known to equal."""
    with Repo(root) as r:
        stage = {p: (s.kind, s.id, s.size) for p, s in r.staging.load().items()}
        return snapshot(root), stage, r.refs.head().commit, r.staging.known_tree()


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pathrows, "BATCH_PATHS", SMALL)


# -- the rows and the batches -------------------------------------------------------------

names = st.sampled_from(["a", "a.b", "a-c", "b", "a b", "é"])
paths = st.lists(names, min_size=1, max_size=4).map("/".join)


def entry(tag: str) -> Entry:
    return Entry("file", tag * 64, 1, False)


@given(st.sets(paths), st.sets(paths), st.sets(paths))
def test_merge_rows_gives_each_path_once_in_order_with_what_each_view_holds(
    target: set[str], head: set[str], staged: set[str]
) -> None:
    rows = list(
        merge_rows(
            [(p, entry("a")) for p in sorted(target)],
            [(p, entry("b")) for p in sorted(head)],
            [(p, entry("c")) for p in sorted(staged)],  # type: ignore[misc]
        )
    )
    assert [r.path for r in rows] == sorted(target | head | staged)
    for row in rows:
        assert (row.target is not None) == (row.path in target)
        assert (row.head is not None) == (row.path in head)
        assert (row.staged is not None) == (row.path in staged)
    as_head = list(
        merge_rows(
            [(p, entry("a")) for p in sorted(target)],
            None,
            [(p, entry("c")) for p in sorted(staged)],  # type: ignore[misc]
        )
    )
    assert [r.path for r in as_head] == sorted(target | staged)
    assert all(r.head == r.target for r in as_head)


@settings(max_examples=300)
@given(st.sets(paths, max_size=40), st.integers(1, 6))
def test_batches_keep_every_row_in_order_and_never_part_a_path_from_those_below_it(
    found: set[str], size: int
) -> None:
    rows = [PathRow(p, None, None, None) for p in sorted(found)]
    batches = list(in_batches(rows, size))
    assert [r for b in batches for r in b] == rows
    assert all(batches)
    where = {r.path: n for n, b in enumerate(batches) for r in b}
    for path, n in where.items():
        for other, m in where.items():
            if other.startswith(path + "/"):
                assert n == m, (path, other, [[r.path for r in b] for b in batches])
    # A batch ends at the first row past ``size`` that nothing in it is a folder of.
    for batch, following in itertools.pairwise(batches):
        assert len(batch) >= size
        inside = {r.path for r in batch}
        assert not any(following[0].path.startswith(p + "/") for p in inside)


def test_staged_rows_come_by_pages_and_may_change_behind_the_reader(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    Repo.init(root).close()
    files = {f"f{i:02d}": f"{i}\n" for i in range(11)} | {"f0/x": "below\n"}
    files.pop("f00")
    write_files(root, files)
    with Repo(root) as r:
        r.add(["."])
        whole = [p for p, _ in r.staging.iter_rows()]
        assert whole == sorted(files)
        seen = []
        for path, _ in r.staging.iter_rows(page=2):
            seen.append(path)
            # Rows before the reader go; the pages still give every row after it.
            r.staging.apply(deletes=[path])
        assert seen == whole
        assert r.staging.load() == {}


# -- checkout, many batches ------------------------------------------------------------------


@pytest.mark.parametrize("first", ["A", "B"])
def test_moving_between_commits_in_many_batches_ends_as_one_batch_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    ends = []
    for size in (pathrows.BATCH_PATHS, SMALL):
        monkeypatch.setattr(pathrows, "BATCH_PATHS", size)
        root = tmp_path / f"repo-{size}"
        a, b = make_repo(root)
        with Repo(root) as r:
            if first == "A":
                r.checkout(a)
            result = r.checkout(b if first == "A" else a)
            assert r.status().clean
        ends.append((state(root), result))
    (one, one_result), (many, many_result) = ends
    assert many[0] == (B if first == "A" else A)
    assert many[0] == one[0] and many[1] == one[1] and many[3] == one[3]
    assert many_result.written == one_result.written
    assert many_result.removed == one_result.removed
    with Repo(tmp_path / f"repo-{SMALL}") as r:
        assert many[3] == r.objects.read_commit(many[2]).tree


def test_restoring_paths_in_many_batches_writes_and_stages_each_one(
    tmp_path: Path, small_batches: None
) -> None:
    root = tmp_path / "repo"
    a, _ = make_repo(root)
    shutil.rmtree(root / "data")
    (root / "swap.txt").unlink()
    with Repo(root) as r:
        result = r.checkout("HEAD", ["data", "swap.txt"])
        assert r.status().clean
        assert len(result.written) == len([p for p in B_FILES if p.startswith(("data/", "swap."))])
        assert r.staging.known_tree() == r.objects.read_commit(r.refs.head().commit).tree
        # From another commit: the stage then differs from HEAD, and says so.
        r.checkout(a, ["data"])
        assert sorted(c.path for c in r.status().staged) == sorted(
            {p for p in (*A_FILES, *B_FILES) if p.startswith("data/")}
            - {p for p in A_FILES if p.startswith("data/") and A_FILES[p] == B_FILES.get(p)}
            - {"data/new/n.txt"}
        )
        assert r.staging.known_tree() is None
    assert all((root / p).read_text() == A_FILES[p] for p in A_FILES if p.startswith("data/"))
    with Repo(root) as r:
        for path in [p for p in A_FILES if p.startswith("data/d3/")]:
            (root / path).write_text("edited\n")
        result = r.restore(["data/d3"])
        assert sorted(result.written) == sorted(p for p in A_FILES if p.startswith("data/d3/"))
    assert all((root / p).read_text() == A_FILES[p] for p in A_FILES if p.startswith("data/d3/"))


def test_a_checkout_refused_in_its_last_batch_changes_nothing(
    tmp_path: Path, small_batches: None
) -> None:
    root = tmp_path / "repo"
    a, _ = make_repo(root)
    # The last path of all, in the last batch: earlier batches are planned and checked
    # first, and none of them is written.
    (root / "tofile").write_text("my own edit\n")
    before = state(root)
    with Repo(root) as r, pytest.raises(UncommittedChangesError, match="1 file"):
        r.checkout(a)
    assert state(root) == before
    assert not list((root / ".mlv" / "tmp").glob("*"))


def test_a_damaged_object_in_a_later_batch_keeps_the_batches_before_and_a_rerun_finishes(
    tmp_path: Path, small_batches: None
) -> None:
    from test_safety_worktree import _damage

    root = tmp_path / "repo"
    make_repo(root)
    packs = root / ".mlv" / "packs"
    saved = tmp_path / "packs"
    shutil.copytree(packs, saved)
    with Repo(root) as r:
        _damage(root, r.flat_tree("HEAD")["data/d3/f4.txt"].id)
    shutil.rmtree(root / "data")
    with Repo(root) as r, pytest.raises(MlvError, match="damaged"):
        r.checkout("HEAD", ["data"])
    # Each batch before the damaged one is on disk, whole, and staged as written; the
    # damaged one's folder (and nothing of it) is left; no temporary anywhere.
    on_disk = snapshot(root / "data")
    assert on_disk and "d3/f4.txt" not in on_disk
    assert all(B[f"data/{p}"] == data for p, data in on_disk.items())
    assert not [p for p in root.rglob("*") if is_temporary_name(p.name)]
    with Repo(root) as r:
        status = r.status()
        assert sorted(status.deleted) == sorted(
            p for p in B_FILES if p.startswith("data/") and p[5:] not in on_disk
        )
        assert not status.modified
    shutil.rmtree(packs)
    shutil.copytree(saved, packs)
    with Repo(root) as r:
        r.checkout("HEAD", ["data"])
        assert r.status().clean
    assert snapshot(root) == B


# The checkout in a child process, killed at the second batch to reach a point.
KILL_IN_SECOND_BATCH = """
import os, signal, sys
from mlv import Repo
from mlv.repo import checkout, pathrows, switching
pathrows.BATCH_PATHS = {size}
hits = []
def crash_point(name):
    if name == sys.argv[1]:
        hits.append(name)
        if len(hits) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
checkout.crash_point = switching.crash_point = crash_point
with Repo(".") as r:
    r.checkout(sys.argv[2])
"""


@pytest.mark.parametrize(
    "point", ["checkout.after-write", "checkout.after-rename", "checkout.before-stage"]
)
def test_a_checkout_killed_in_a_later_batch_is_finished_by_running_it_again(
    tmp_path: Path, point: str
) -> None:
    root = tmp_path / "repo"
    a, b = make_repo(root)
    script = textwrap.dedent(KILL_IN_SECOND_BATCH.format(size=SMALL))
    env = {**os.environ, "MLV_AUTHOR_NAME": "T", "MLV_AUTHOR_EMAIL": "t@example.com"}
    proc = subprocess.run(
        [sys.executable, "-c", script, point, a], cwd=root, env=env, capture_output=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with Repo(root) as r:
        assert r.refs.head().commit == b  # HEAD moves last
        assert not r.fsck().problems
        # The files of the batches written are A's; the rest B's; besides them, only
        # the journalled temporaries of the batch killed before its renames.
        on_disk = snapshot(root)
        for path in [p for p in on_disk if is_temporary_name(p.rpartition("/")[2])]:
            assert point == "checkout.after-write", path
            del on_disk[path]
        assert all(A.get(p) == data or B.get(p) == data for p, data in on_disk.items())
        assert on_disk != B
        r.checkout(a)
        assert r.status().clean
        assert r.refs.head().commit == a
    assert snapshot(root) == A
    assert not [p for p in root.rglob("*") if is_temporary_name(p.name)]


def test_a_forced_move_in_many_batches_unstages_files_never_committed_and_keeps_them(
    tmp_path: Path, small_batches: None
) -> None:
    root = tmp_path / "repo"
    a, _ = make_repo(root)
    write_files(root, {"data/d1/staged-only.txt": "never committed\n"})
    (root / "data" / "d2" / "f0.txt").write_text("my own edit\n")
    with Repo(root) as r:
        r.add(["data/d1/staged-only.txt"])
        r.checkout(a, force=True)
        assert "data/d1/staged-only.txt" not in r.staging.load()
        assert r.status().untracked == ["data/d1/staged-only.txt"]
    assert (root / "data" / "d1" / "staged-only.txt").read_text() == "never committed\n"
    on_disk = snapshot(root)
    del on_disk["data/d1/staged-only.txt"]
    assert on_disk == A
