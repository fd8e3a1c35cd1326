"""The public Python API, ``mlv.Repo``, as a notebook would use it."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlv
from helpers import write_files as write
from mlv import Repo
from mlv.errors import (
    InvalidArgumentError,
    MergeConflictError,
    NotARepositoryError,
    NotFoundError,
    NothingToCommitError,
    UncommittedChangesError,
)
from mlv.model.objects import Person

ADA = Person("Ada", "ada@example.com")
BOB = Person("Bob", "bob@example.com")
T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    with Repo.init(tmp_path / "r") as r:
        yield r


def commit(repo: Repo, files: dict[str, str | bytes], message: str, **kw) -> str:
    write(repo.root, files)
    repo.add(list(files))
    kw.setdefault("author", ADA)
    return repo.commit(message, **kw)


def test_repo_is_exported_lazily() -> None:
    assert mlv.Repo is Repo
    assert isinstance(mlv.__version__, str)
    with pytest.raises(AttributeError):
        _ = mlv.NoSuchThing  # type: ignore[attr-defined]


def test_init_and_open(tmp_path: Path) -> None:
    root = tmp_path / "new" / "proj"
    with Repo.init(root, branch="trunk") as repo:
        assert repo.root == root.resolve()
        assert repo.current_branch() == "trunk"
        assert repo.log() == []
    (root / "deep" / "er").mkdir(parents=True)
    with Repo(root / "deep" / "er") as repo:
        assert repo.root == root.resolve()
    with pytest.raises(InvalidArgumentError):
        Repo.init(root)
    with pytest.raises(NotARepositoryError):
        Repo(tmp_path)
    with pytest.raises(InvalidArgumentError):
        Repo.init(tmp_path / "other", branch="bad..name")


def test_add_status_commit_log(repo: Repo) -> None:
    write(repo.root, {"data/a.csv": "a\n", "data/b.csv": "b\n", "notes/n.txt": "n\n"})
    assert repo.status().clean  # nothing tracked, so no folder is scanned
    result = repo.add(["data"])
    assert result.added == ["data/a.csv", "data/b.csv"]
    assert result.bytes_read == 4
    st = repo.status()
    assert st.branch == "main" and st.head is None
    assert [(c.status, c.path) for c in st.staged] == [
        ("added", "data/a.csv"),
        ("added", "data/b.csv"),
    ]

    first = repo.commit("data", author=ADA, when=T0)
    assert repo.status().clean
    assert repo.resolve("HEAD") == first == repo.branches()["main"]
    with pytest.raises(NothingToCommitError):
        repo.commit("again", author=ADA)

    write(repo.root, {"data/a.csv": "a2\n", "data/new.csv": "x\n"})
    (repo.root / "data" / "b.csv").unlink()
    st = repo.status()
    assert st.modified == ["data/a.csv"]
    assert st.deleted == ["data/b.csv"]
    assert st.untracked == ["data/new.csv"]
    assert st.staged == []
    result = repo.add(["data"])
    assert (result.added, result.modified, result.removed) == (
        ["data/new.csv"],
        ["data/a.csv"],
        ["data/b.csv"],
    )
    second = repo.commit("more", author=BOB, when=T0 + timedelta(hours=1))

    entries = repo.log()
    assert [e.id for e in entries] == [second, first]
    top = entries[0].commit
    assert top.author == BOB
    assert top.parents == (first,)
    assert top.time == int((T0 + timedelta(hours=1)).timestamp())
    assert top.message == "more\n"
    assert entries[0].refs == ["HEAD -> main"]


def test_commit_keeps_the_time_zone(repo: Repo) -> None:
    when = datetime(2024, 3, 1, 18, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    cid = commit(repo, {"a.txt": "a\n"}, "tz", when=when)
    c = repo.read_commit(cid)
    assert c.tz_offset == 330
    assert c.time == int(when.timestamp())


def test_log_filters(repo: Repo) -> None:
    ids = [
        commit(repo, {"data/a.csv": "1\n"}, "c0", when=T0, author=ADA),
        commit(repo, {"models/m.pkl": b"m1"}, "c1", when=T0 + timedelta(days=1), author=BOB),
        commit(repo, {"data/a.csv": "2\n"}, "c2", when=T0 + timedelta(days=2), author=BOB),
        commit(repo, {"README": "r\n"}, "c3", when=T0 + timedelta(days=3), author=ADA),
    ]

    def log(**kw) -> list[str]:
        return [e.id for e in repo.log(**kw)]

    assert log() == ids[::-1]
    assert log(max_count=2) == [ids[3], ids[2]]
    assert log(since=T0 + timedelta(days=1)) == [ids[3], ids[2], ids[1]]
    assert log(until=T0 + timedelta(days=1)) == [ids[1], ids[0]]
    assert log(since=T0 + timedelta(hours=12), until=T0 + timedelta(days=2, hours=1)) == [
        ids[2],
        ids[1],
    ]
    assert log(author="BOB") == [ids[2], ids[1]]
    assert log(author="ada@example") == [ids[3], ids[0]]
    assert log(paths=["data"]) == [ids[2], ids[0]]
    assert log(paths=["data/a.csv", "README"], author="ada") == [ids[3], ids[0]]
    assert log(paths=["models"], max_count=5) == [ids[1]]
    assert log(revs=["HEAD~2"]) == [ids[1], ids[0]]


def test_diff(repo: Repo) -> None:
    c1 = commit(repo, {"data/a.csv": "a\n", "data/b.csv": "b\n"}, "one")
    c2 = commit(repo, {"data/a.csv": "aa\n", "data/c.csv": "c\n"}, "two")
    changes = repo.diff(c1, c2)
    assert [(c.status, c.path, c.size_delta) for c in changes] == [
        ("modified", "data/a.csv", 1),
        ("added", "data/c.csv", 2),
    ]
    assert repo.diff() == []
    (repo.root / "data" / "b.csv").unlink()
    write(repo.root, {"data/d.csv": "d\n"})
    assert [(c.status, c.path) for c in repo.diff()] == [
        ("removed", "data/b.csv"),
        ("added", "data/d.csv"),
    ]
    assert [(c.status, c.path) for c in repo.diff(c1)] == [
        ("modified", "data/a.csv"),
        ("removed", "data/b.csv"),
        ("added", "data/c.csv"),
        ("added", "data/d.csv"),
    ]
    assert [c.path for c in repo.diff(c1, c2, paths=["data/c.csv"])] == ["data/c.csv"]
    assert repo.diff("HEAD", "HEAD") == []


def test_checkout_and_restore(repo: Repo) -> None:
    c1 = commit(repo, {"data/a.csv": "a1\n", "data/b.csv": "b1\n"}, "one")
    c2 = commit(repo, {"data/a.csv": "a2\n", "data/c.csv": "c2\n"}, "two")

    result = repo.checkout(c1)
    assert result.commit == c1 and result.branch is None
    assert result.removed == ["data/c.csv"]
    assert (repo.root / "data" / "a.csv").read_text() == "a1\n"
    assert not (repo.root / "data" / "c.csv").exists()
    assert repo.refs.head().commit == c1 and repo.current_branch() is None

    assert repo.checkout("main").branch == "main"
    assert repo.refs.head().commit == c2
    assert (repo.root / "data" / "c.csv").read_text() == "c2\n"

    repo.checkout(c1, ["data/a.csv"])
    assert (repo.root / "data" / "a.csv").read_text() == "a1\n"
    assert repo.refs.head().commit == c2
    with pytest.raises(NotFoundError):
        repo.checkout(c1, ["data/c.csv"])

    (repo.root / "data" / "a.csv").write_text("local\n")
    # Moving to a commit whose a.csv differs from HEAD's would overwrite the local edit.
    with pytest.raises(UncommittedChangesError):
        repo.checkout(c1)
    assert (repo.root / "data" / "a.csv").read_text() == "local\n"
    # Moving to one whose a.csv is HEAD's carries the edit (and the staged a1) along, as git does.
    result = repo.checkout(c2)
    assert result.carried == ["data/a.csv"]
    assert (repo.root / "data" / "a.csv").read_text() == "local\n"
    assert repo.status().staged[0].path == "data/a.csv"
    repo.restore(["data/a.csv"])
    assert (repo.root / "data" / "a.csv").read_text() == "a1\n"  # the staged content


def test_read_bytes_and_open_file_stream(repo: Repo) -> None:
    big = random.Random(1).randbytes(2 * 1024 * 1024 + 3)
    cid = commit(repo, {"models/big.bin": big, "small.txt": "s\n"}, "files")
    commit(repo, {"models/big.bin": b"overwritten"}, "later")

    stream = repo.open_file(cid, "models/big.bin")
    first = next(stream)
    assert 0 < len(first) < len(big)  # streamed, not one blob
    assert first + b"".join(stream) == big
    assert repo.read_bytes(cid, "models/big.bin") == big
    assert repo.read_bytes("HEAD", "models/big.bin") == b"overwritten"
    assert repo.read_bytes("HEAD~1", repo.root / "small.txt") == b"s\n"

    with pytest.raises(NotFoundError):
        repo.read_bytes("HEAD", "nope.txt")
    with pytest.raises(InvalidArgumentError):
        repo.read_bytes("HEAD", "models")
    with pytest.raises(NotFoundError):
        repo.read_bytes("no-such-rev", "small.txt")


def test_show(repo: Repo) -> None:
    commit(repo, {"a.txt": "a\n", "b.txt": "b\n"}, "one")
    cid = commit(repo, {"a.txt": "aaa\n"}, "two", author=BOB)
    details = repo.show()
    assert details.entry.id == cid
    assert details.entry.commit.author == BOB
    assert [(c.status, c.path, c.old.size, c.new.size) for c in details.changes] == [  # type: ignore[union-attr]
        ("modified", "a.txt", 2, 4)
    ]
    assert details.to_json()["changes"][0]["new"]["size"] == 4


def test_revisions(repo: Repo) -> None:
    base = commit(repo, {"a.txt": "0\n"}, "base")
    repo.create_branch("side")
    main1 = commit(repo, {"a.txt": "1\n"}, "main 1")
    repo.checkout("side")
    side1 = commit(repo, {"b.txt": "b\n"}, "side 1")
    repo.checkout("main")
    merged = repo.merge("side", author=ADA)
    assert merged.kind == "merge"
    repo.create_tag("v1", "HEAD~1")

    assert repo.resolve("HEAD") == merged.commit
    assert repo.resolve("@") == merged.commit
    assert repo.resolve("HEAD^") == main1
    assert repo.resolve("HEAD^1") == main1
    assert repo.resolve("HEAD^2") == side1
    assert repo.resolve("HEAD~2") == base
    assert repo.resolve("HEAD^2^") == base
    assert repo.resolve("HEAD^0") == merged.commit
    assert repo.resolve("v1") == main1
    assert repo.resolve("side") == side1
    assert repo.resolve("refs/heads/side") == side1
    assert repo.resolve(side1) == side1
    assert repo.resolve(side1[:4]) == side1
    for bad in ("HEAD~3", "HEAD^3", side1[:3], "nope", "HEAD~x"):
        with pytest.raises((NotFoundError, InvalidArgumentError)):
            repo.resolve(bad)


def test_branches_and_tags(repo: Repo) -> None:
    c1 = commit(repo, {"a.txt": "a\n"}, "one")
    assert repo.create_branch("exp") == c1
    assert repo.create_tag("v1") == c1
    with pytest.raises(InvalidArgumentError):
        repo.create_tag("v1")
    repo.switch("exp")
    c2 = commit(repo, {"a.txt": "b\n"}, "two")
    repo.switch("main")
    with pytest.raises(UncommittedChangesError):
        repo.delete_branch("exp")
    assert repo.create_tag("v1", "exp", force=True) == c2
    assert repo.delete_branch("exp", force=True) == c2
    assert repo.delete_tag("v1") == c2
    assert repo.branches() == {"main": c1}
    assert repo.tags() == {}
    repo.switch("new", create=True)
    assert repo.current_branch() == "new"


def test_merge_conflict_then_prefer(repo: Repo) -> None:
    commit(repo, {"p.txt": "base\n", "q.txt": "q\n"}, "base")
    repo.create_branch("other")
    ours = commit(repo, {"p.txt": "ours\n"}, "ours")
    repo.switch("other")
    theirs = commit(repo, {"p.txt": "theirs\n", "r.txt": "r\n"}, "theirs")
    repo.switch("main")

    with pytest.raises(MergeConflictError) as info:
        repo.merge("other")
    assert info.value.paths == ["p.txt"]
    assert info.value.exit_code == 1
    assert repo.refs.head().commit == ours
    assert not (repo.root / "r.txt").exists()

    result = repo.merge("other", prefer="theirs", author=ADA)
    assert result.kind == "merge"
    assert result.resolved == ["p.txt"]
    assert repo.read_commit(result.commit).parents == (ours, theirs)
    assert (repo.root / "p.txt").read_text() == "theirs\n"
    assert (repo.root / "r.txt").read_text() == "r\n"
    assert repo.status().clean
    assert repo.merge("other").kind == "up-to-date"


@pytest.mark.parametrize("prefer", ["ours", "theirs"])
def test_merge_file_against_folder_is_settled_by_prefer(repo: Repo, prefer: str) -> None:
    commit(repo, {"keep.txt": "k\n"}, "base")
    repo.create_branch("other")
    commit(repo, {"x": "a file\n"}, "x is a file")
    repo.switch("other")
    commit(repo, {"x/y.csv": "in a folder\n", "x/z.csv": "z\n"}, "x is a folder")
    repo.switch("main")

    with pytest.raises(MergeConflictError) as info:
        repo.merge("other")
    assert info.value.paths == ["x"]
    assert (repo.root / "x").read_text() == "a file\n"

    result = repo.merge("other", prefer=prefer, author=ADA)
    assert result.resolved == ["x"]
    flat = repo.flat_tree("HEAD")
    if prefer == "ours":
        assert sorted(flat) == ["keep.txt", "x"]
        assert (repo.root / "x").read_text() == "a file\n"
    else:
        assert sorted(flat) == ["keep.txt", "x/y.csv", "x/z.csv"]
        assert (repo.root / "x" / "y.csv").read_text() == "in a folder\n"
    assert repo.status().clean


def test_fsck_of_a_healthy_repository(repo: Repo) -> None:
    commit(repo, {"a.txt": "a\n", "big.bin": random.Random(2).randbytes(300_000)}, "one")
    report = repo.fsck()
    assert report.ok, report.problems
    assert report.commits_checked == 1


paths = st.lists(
    st.from_regex(r"[a-z]{1,6}(/[a-z]{1,6}){0,2}\.(csv|bin)", fullmatch=True),
    min_size=1,
    max_size=6,
    unique=True,
).filter(
    # A path may not also be a folder of another path.
    lambda ps: not any(q.startswith(p + "/") for p in ps for q in ps)
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=paths.flatmap(
        lambda ps: st.fixed_dictionaries({p: st.binary(max_size=70_000) for p in ps})
    )
)
def test_commit_then_read_back_round_trips(data: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp, Repo.init(tmp) as repo:
        write(repo.root, dict(data))
        repo.add(sorted({p.split("/")[0] for p in data}))
        cid = repo.commit("snapshot", author=ADA)
        for path, content in data.items():
            assert repo.read_bytes(cid, path) == content
        flat = repo.flat_tree(cid)
        assert {p: e.size for p, e in flat.items()} == {p: len(c) for p, c in data.items()}
        for path in data:
            (repo.root / path).unlink()
        repo.checkout(cid, list({p.split("/")[0] for p in data}))
        for path, content in data.items():
            assert (repo.root / path).read_bytes() == content
