"""Checkout never writes outside the working tree, whatever a (crafted) tree says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import AUTHOR, mlv, one_error_line, snapshot, write_files
from mlv import Repo
from mlv.core.hashing import hash_bytes
from mlv.model.canonical import dumps
from mlv.model.objects import Commit
from mlv.store.pack import KIND_CHUNK, KIND_META

PAYLOAD = b"evil payload\n"
TRACKED = {"data/a.txt": b"alpha\n", "data/sub/b.txt": b"beta\n", "top.txt": b"top\n"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "outer" / "mid" / "repo"
    with Repo.init(root) as r:
        write_files(root, TRACKED)
        r.add(["data", "top.txt"])
        r.commit("tracked files", author=AUTHOR)
    return root


def blob(r: Repo, data: bytes) -> str:
    object_id = hash_bytes(data)
    r.store.put(object_id, KIND_CHUNK, data)
    return object_id


def file_entry(name: str, object_id: str, size: int, kind: str = "file") -> dict:
    return {"name": name, "kind": kind, "id": object_id, "size": size}


def raw_tree(r: Repo, entries: list[dict]) -> str:
    """Store a tree as canonical JSON, bypassing ``Tree.check``."""
    entries = sorted(entries, key=lambda e: e["name"].encode())
    return r.store.put_meta(dumps({"type": "tree", "format": 1, "entries": entries}), KIND_META)


def evil_branch(root: Path, entries_for, name: str = "evil") -> str:  # type: ignore[no-untyped-def]
    """Commit a crafted root tree on top of HEAD as branch ``name``; return the commit id."""
    with Repo(root) as r:
        head = r.resolve("HEAD")
        tree = raw_tree(r, entries_for(r))
        commit = Commit(tree, (head,), AUTHOR, 1_700_000_000, 0, "crafted\n")
        commit_id = r.store.put_meta(commit.to_bytes(), KIND_META)
        r.store.flush()
        r.refs.update(f"refs/heads/{name}", commit_id, None)
    return commit_id


def keep_tracked(r: Repo) -> list[dict]:
    """The entries of HEAD's root tree, so that a crafted tree also holds the real files."""
    return [e.to_json() for e in r.trees.tree(r.read_commit(r.resolve("HEAD")).tree).entries]


def assert_refused(root: Path, rev: str, sentinels: list[Path], *extra: str) -> None:
    before = snapshot(root)
    head_before = (root / ".mlv" / "HEAD").read_bytes()
    for args in (["checkout", rev, *extra], ["checkout", "--force", rev, *extra]):
        line = one_error_line(mlv(root, *args))
        assert "unsafe" in line or "refus" in line or "outside" in line, line
        for sentinel in sentinels:
            assert not os.path.lexists(sentinel), f"{sentinel} was written"
        assert snapshot(root) == before
        assert (root / ".mlv" / "HEAD").read_bytes() == head_before
    # fsck names the crafted tree or symlink as damage, without crashing on it.
    fsck = mlv(root, "fsck")
    assert fsck.returncode == 1 and "Traceback" not in fsck.stdout + fsck.stderr, fsck.stdout
    with Repo(root) as r:
        assert r.resolve("HEAD") != r.resolve(rev)


def outside_sentinels(root: Path) -> list[Path]:
    return [root.parent / "x", root.parent.parent / "x", Path("/tmp/x-mlv-sentinel")]


@pytest.mark.parametrize(
    "name",
    ["..", "../x", "../../x", "/tmp/x-mlv-sentinel", "a/b", ".", "", "a\\b", "x\x00y"],
)
def test_bad_file_name(repo: Path, name: str) -> None:
    evil_branch(repo, lambda r: [*keep_tracked(r), file_entry(name, blob(r, PAYLOAD), 13)])
    assert_refused(repo, "evil", [*outside_sentinels(repo), repo / "a" / "b"])


@pytest.mark.parametrize("name", ["..", "../x", ".mlv", ".git", ".GIT", ".Mlv", "/tmp"])
def test_bad_folder_name(repo: Path, name: str) -> None:
    def entries(r: Repo) -> list[dict]:
        inner = raw_tree(
            r,
            [
                file_entry("x", blob(r, PAYLOAD), 13),
                file_entry("HEAD", blob(r, b"ref: refs/heads/pwned\n"), 22),
                file_entry("config", blob(r, b"[core]\n\thooksPath = /tmp\n"), 24),
            ],
        )
        return [*keep_tracked(r), file_entry(name, inner, 59, kind="dir")]

    evil_branch(repo, entries)
    head = (repo / ".mlv" / "HEAD").read_bytes()
    assert_refused(repo, "evil", [*outside_sentinels(repo), repo / ".git", repo / ".GIT"])
    assert (repo / ".mlv" / "HEAD").read_bytes() == head


@pytest.mark.parametrize("name", [".mlv", ".git", ".GIT", ".mLv"])
def test_reserved_file_name(repo: Path, name: str) -> None:
    evil_branch(repo, lambda r: [*keep_tracked(r), file_entry(name, blob(r, PAYLOAD), 13)])
    assert_refused(repo, "evil", [repo / ".git", repo / ".GIT"])
    assert (repo / ".mlv").is_dir()


@pytest.mark.parametrize("name", ["..", ".git", "a/b"])
def test_bad_name_deep_in_tree(repo: Path, name: str) -> None:
    def entries(r: Repo) -> list[dict]:
        leaf = raw_tree(r, [file_entry(name, blob(r, PAYLOAD), 13)])
        mid = raw_tree(r, [file_entry("deeper", leaf, 13, kind="dir")])
        return [*keep_tracked(r), file_entry("nested", mid, 13, kind="dir")]

    evil_branch(repo, entries)
    assert_refused(repo, "evil", [repo / "nested", *outside_sentinels(repo)])


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("link", "../outside"),
        ("link", "../../outside"),
        ("link", ".."),
        ("link", "/tmp/x-mlv-sentinel"),
        ("link", "/"),
        ("link", "data/../../outside"),
        ("link", ".mlv/HEAD"),
        ("link", ".git"),
        ("data/sub/link", "../../../outside"),
        ("data/sub/link", "../../.mlv"),
    ],
)
def test_symlink_leading_out(repo: Path, link: str, target: str) -> None:
    def entries(r: Repo) -> list[dict]:
        target_id = blob(r, target.encode())
        parts = link.split("/")
        node = file_entry(parts[-1], target_id, len(target), kind="symlink")
        if len(parts) == 1:
            return [*keep_tracked(r), node]
        sub = raw_tree(
            r,
            [
                node,
                file_entry("b.txt", blob(r, TRACKED["data/sub/b.txt"]), 5),
            ],
        )
        data = raw_tree(
            r,
            [
                file_entry("a.txt", blob(r, TRACKED["data/a.txt"]), 6),
                file_entry("sub", sub, 5, kind="dir"),
            ],
        )
        top = file_entry("top.txt", blob(r, TRACKED["top.txt"]), 4)
        return [file_entry("data", data, 11, kind="dir"), top]

    evil_branch(repo, entries)
    assert_refused(repo, "evil", [repo / link])


def test_symlink_through_symlink_leading_out(repo: Path) -> None:
    """`b/c -> ..` is inside, but `a -> b/c/..` then resolves above the working tree."""

    def entries(r: Repo) -> list[dict]:
        inner = raw_tree(r, [file_entry("c", blob(r, b".."), 2, kind="symlink")])
        return [
            *keep_tracked(r),
            file_entry("a", blob(r, b"b/c/.."), 6, kind="symlink"),
            file_entry("b", inner, 2, kind="dir"),
        ]

    evil_branch(repo, entries)
    before = snapshot(repo)
    proc = mlv(repo, "checkout", "evil")
    if proc.returncode == 0:
        link = repo / "a"
        resolved = link.resolve()
        assert resolved == repo or repo in resolved.parents, f"a -> {resolved}, outside"
    else:
        one_error_line(proc)
        assert snapshot(repo) == before


def test_safe_symlinks_are_written(repo: Path) -> None:
    """The guard is not a blanket refusal: links that stay inside are checked out."""

    def entries(r: Repo) -> list[dict]:
        inner = raw_tree(r, [file_entry("up", blob(r, b"../top.txt"), 10, kind="symlink")])
        return [
            *keep_tracked(r),
            file_entry("ln", blob(r, b"data/a.txt"), 10, kind="symlink"),
            file_entry("d", inner, 10, kind="dir"),
        ]

    evil_branch(repo, entries, name="fine")
    proc = mlv(repo, "checkout", "fine")
    assert proc.returncode == 0, proc.stderr
    assert os.readlink(repo / "ln") == "data/a.txt"
    assert (repo / "d" / "up").read_bytes() == TRACKED["top.txt"]


def test_partial_checkout_of_bad_tree(repo: Path) -> None:
    evil_branch(repo, lambda r: [*keep_tracked(r), file_entry("..", blob(r, PAYLOAD), 13)])
    before = snapshot(repo)
    for args in (["checkout", "evil", "--", "data"], ["checkout", "evil", "--", "top.txt"]):
        proc = mlv(repo, *args)
        if proc.returncode != 0:
            one_error_line(proc)
        assert not os.path.lexists(repo.parent / "x")
        assert snapshot(repo) == before


def test_merge_of_bad_tree_refused(repo: Path) -> None:
    evil_branch(repo, lambda r: [*keep_tracked(r), file_entry(".git", blob(r, PAYLOAD), 13)])
    before = snapshot(repo)
    one_error_line(mlv(repo, "merge", "evil"))
    assert snapshot(repo) == before
    assert not (repo / ".git").exists()


@pytest.mark.parametrize("force", [False, True])
def test_tracked_folder_replaced_by_symlink(repo: Path, tmp_path: Path, force: bool) -> None:
    """A tracked folder swapped for a link to outside: nothing is written through the link."""
    with Repo(repo) as r:
        (repo / "data" / "a.txt").write_bytes(b"alpha v2\n")
        (repo / "data" / "new.txt").write_bytes(b"new\n")
        r.add(["data"])
        r.commit("second", author=AUTHOR)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_bytes(b"user file outside\n")
    (outside / "new.txt").write_bytes(b"another user file\n")
    (outside / "sub").mkdir()
    (outside / "sub" / "b.txt").write_bytes(b"sub file outside\n")
    outside_before = snapshot(outside)
    import shutil

    shutil.rmtree(repo / "data")
    (repo / "data").symlink_to(outside)
    flag = ["--force"] if force else []
    # Moving back writes data/a.txt and removes data/new.txt: both through the link.
    for args in (
        ["checkout", *flag, "HEAD~1"],
        ["checkout", *flag, "HEAD"],
        ["checkout", *flag, "HEAD", "--", "data/a.txt"],
        ["checkout", *flag, "HEAD~1", "--", "data"],
        ["restore", "data/a.txt"],
        ["rm", *flag, "data/new.txt"],
        ["rm", "--cached", "data/new.txt"],
    ):
        proc = mlv(repo, *args)
        assert "Traceback" not in proc.stdout + proc.stderr
        assert snapshot(outside) == outside_before, args
        assert (repo / "data").is_symlink()
        if proc.returncode != 0:
            one_error_line(proc)
    assert mlv(repo, "fsck").returncode == 0


def test_symlinked_parent_of_deep_path(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside2"
    outside.mkdir()
    import shutil

    shutil.rmtree(repo / "data" / "sub")
    (repo / "data" / "sub").symlink_to(outside)
    for args in (["checkout", "--force", "HEAD"], ["restore", "data/sub/b.txt"]):
        proc = mlv(repo, *args)
        assert "Traceback" not in proc.stdout + proc.stderr
        assert list(outside.iterdir()) == [], args
        if proc.returncode != 0:
            one_error_line(proc)
