"""The streamed paths of add, status and commit give what the whole-tree ones gave.

Trees are written from rows in path order, the stage and HEAD are compared as two
sorted streams, and the stat cache is read folder by folder: these tests hold each
against the plain computation on trees whose names sort awkwardly ("a/b.txt" before
"a/b/…", "a-b" between them).
"""

from __future__ import annotations

import random
from pathlib import Path

from mlv.api import Repo
from mlv.repo.diff import diff_flat, diff_sorted
from mlv.repo.trees import Entry, TreeReader, write_sorted_tree, write_tree

AWKWARD = [
    "a",
    "a-b/x",
    "a.b",
    "b/c.txt",
    "b/c/d",
    "b/c/e/f",
    "b/c0",
    "b/c-/g",
    "b!/h",
    "é/ü",
    "z",
]


def entries(paths: list[str], seed: int) -> dict[str, Entry]:
    rng = random.Random(seed)
    return {
        p: Entry("file", f"{rng.getrandbits(256):064x}", rng.randint(0, 9), rng.random() < 0.2)
        for p in paths
    }


def test_sorted_rows_make_the_tree_a_mapping_makes(tmp_path: Path) -> None:
    with Repo.init(tmp_path) as repo:
        for seed in range(5):
            flat = entries([p for p in AWKWARD if p != "a"] + ["a/q"], seed)
            rows = [(p, e.kind, e.id, e.size, e.executable) for p, e in sorted(flat.items())]
            streamed = write_sorted_tree(repo.store, rows)
            assert streamed == write_tree(repo.store, dict(reversed(list(flat.items()))))
            assert TreeReader(repo.store).flatten(streamed) == flat


def test_tree_walk_in_path_order_and_sorted_diff_match_the_flat_diff(tmp_path: Path) -> None:
    with Repo.init(tmp_path) as repo:
        old = entries(AWKWARD, 1)
        new = entries(AWKWARD, 1)
        del new["b/c/d"], new["a.b"]
        new["b/c/e/new"] = entries(["x"], 2)["x"]
        new["a"] = entries(["x"], 3)["x"]
        tree = write_tree(repo.store, old)
        walked = list(TreeReader(repo.store).iter_sorted(tree))
        assert [p for p, _ in walked] == sorted(old)
        assert dict(walked) == old
        assert diff_sorted(walked, sorted(new.items())) == diff_flat(old, new)


def test_status_and_add_find_deletions_in_kept_and_removed_folders(tmp_path: Path) -> None:
    root = tmp_path / "w"
    files = {f"data/d{i}/f{j}.bin": f"{i}-{j}" for i in range(3) for j in range(4)}
    files.update({"top.txt": "t", "data/loose": "l"})
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    with Repo.init(root) as repo:
        assert len(repo.add(["."]).added) == len(files)
        repo.commit("all")
        assert repo.status().clean
        # One file gone from a folder that stays, a whole folder gone, a file that is
        # now a folder, and a folder that is now a file.
        (root / "data/d0/f1.bin").unlink()
        for name in ("f0.bin", "f1.bin", "f2.bin", "f3.bin"):
            (root / "data/d1" / name).unlink()
        (root / "data/d1").rmdir()
        (root / "data/loose").unlink()
        (root / "data/loose").mkdir()
        (root / "data/loose/inner").write_text("i")
        for name in ("f0.bin", "f1.bin", "f2.bin", "f3.bin"):
            (root / "data/d2" / name).unlink()
        (root / "data/d2").rmdir()
        (root / "data/d2").write_text("now a file")
        gone = sorted(
            ["data/d0/f1.bin", "data/loose"]
            + [f"data/d{i}/f{j}.bin" for i in (1, 2) for j in range(4)]
        )
        status = repo.status()
        assert status.deleted == gone
        assert status.untracked == ["data/d2", "data/loose/inner"]
        assert status.modified == []
        result = repo.add(["data"])
        assert result.removed == gone
        assert result.added == ["data/d2", "data/loose/inner"]
        assert result.unchanged == 3  # data/d0's other files; top.txt is not under data
        staged = repo.staging.load()
        assert "top.txt" in staged and not set(gone) & set(staged)
        status = repo.status()
        assert (status.deleted, status.untracked, status.modified) == ([], [], [])
        assert {c.path for c in status.staged} == {*gone, "data/d2", "data/loose/inner"}


def test_adding_one_file_keeps_its_tracked_siblings(tmp_path: Path) -> None:
    root = tmp_path / "w"
    (root / "d").mkdir(parents=True)
    for name in ("a", "b", "c"):
        (root / "d" / name).write_text(name)
    with Repo.init(root) as repo:
        repo.add(["d"])
        (root / "d" / "b").write_text("changed")
        result = repo.add(["d/b"])
        assert (result.added, result.modified, result.removed) == ([], ["d/b"], [])
        assert sorted(repo.staging.load()) == ["d/a", "d/b", "d/c"]
