"""gc and fsck of a remote (``mlv.remote.gc``, ``mlv.remote.fsck``), on a folder remote
and on a real S3-API server (moto).

Remote gc marks first and deletes on a later run, once the grace period is over;
each test checks the remote through what a user would do with it: a clone, a push,
``fsck --remote``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import S3Bucket
from helpers import mlv
from mlv.api import Repo
from mlv.errors import LockError
from mlv.remote.gc import GcLease, RemoteGcReport, parse_duration, read_condemned_times
from mlv.remote.layout import CONDEMNED, GC_LEASE, PACKS, pack_key, parse_pack_key
from mlv.remote.pathstore import PathStorage
from mlv.remote.remoteindex import read_condemned
from mlv.remote.storage import S3Settings, Storage

PREFIX = "team/gc"


@dataclass
class Place:
    kind: str
    url: str
    options: dict[str, object]
    settings: S3Settings | None = None

    def add(self, repo: Repo, name: str = "origin") -> None:
        repo.add_remote(name, self.url, **self.options)  # type: ignore[arg-type]

    def storage(self) -> Storage:
        if self.kind == "path":
            return PathStorage(Path(self.url))
        from mlv.remote.s3store import S3Storage

        return S3Storage.from_url(self.url, self.settings)

    def clone(self, target: Path) -> Repo:
        return Repo.clone(self.url, target, **self.options)[0]  # type: ignore[arg-type]


@pytest.fixture(params=["path", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    if request.param == "path":
        root = tmp_path / "remote"
        root.mkdir()
        return Place("path", str(root), {})
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    options = {"endpoint_url": bucket.endpoint, "region": bucket.region, "allow_http": True}
    settings = S3Settings(endpoint_url=bucket.endpoint, region=bucket.region, allow_http=True)
    return Place("s3", f"s3://{bucket.name}/{PREFIX}", options, settings)


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _remote_gc(repo: Repo, **options: object) -> RemoteGcReport:
    report = repo.gc(remote="origin", **options)  # type: ignore[arg-type]
    assert isinstance(report, RemoteGcReport)
    return report


def _packs(storage: Storage) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for key, _ in storage.list(PACKS):
        parsed = parse_pack_key(key)
        if parsed:
            found.setdefault(parsed[0], set()).add(parsed[1])
    return found


def _two_histories(tmp_path: Path, place: Place) -> tuple[Repo, Repo, bytes]:
    """``a`` pushes a commit with a big file; ``b`` force-pushes an unrelated history:
    the big file is on the remote and no ref reaches it."""
    a = Repo.init(tmp_path / "a")
    secret = os.urandom(200_000)
    _write(tmp_path / "a", {"keep.txt": b"kept by both\n", "old.bin": secret})
    a.add(["keep.txt", "old.bin"])
    a.commit("a")
    place.add(a)
    a.push()
    b = place.clone(tmp_path / "b")
    (tmp_path / "b/old.bin").unlink()
    _write(tmp_path / "b", {"new.bin": os.urandom(50_000)})
    b.add(["old.bin", "new.bin"])
    b.commit("b")
    # History rewritten: main on the remote no longer reaches a's commit's old.bin.
    c = Repo.init(tmp_path / "c")
    _write(tmp_path / "c", {"keep.txt": b"kept by both\n", "new.bin": b"n\n"})
    c.add(["keep.txt", "new.bin"])
    c.commit("unrelated")
    place.add(c)
    c.fetch()
    c.push(force=True)
    return a, c, secret


def _old_file_id(a: Repo) -> str:
    return a.flat_tree(a.refs.head().commit)["old.bin"].id  # type: ignore[arg-type]


def test_gc_deletes_a_force_pushed_away_commit_only_on_the_second_run(
    place: Place, tmp_path: Path
) -> None:
    a, c, _ = _two_histories(tmp_path, place)
    storage = place.storage()
    old_id = _old_file_id(a)
    first = _remote_gc(c, grace=0)
    assert first.packs_condemned and not first.packs_deleted
    assert set(first.packs_condemned) <= set(read_condemned(storage))
    # Marked, not deleted: every pack is still there, and the lease was let go.
    assert all(p in _packs(storage) for p in first.packs_condemned)
    assert storage.get(GC_LEASE) is None
    assert c.fsck_remote().ok
    second = _remote_gc(c, grace=0)
    assert sorted(second.packs_deleted) == sorted(first.packs_condemned)
    assert second.bytes_freed > 150_000
    assert not (set(first.packs_condemned) & set(_packs(storage)))
    assert read_condemned(storage) == set()
    check = c.fsck_remote()
    assert check.ok, check.problems
    clone = place.clone(tmp_path / "d")
    assert (tmp_path / "d/keep.txt").read_bytes() == b"kept by both\n"
    assert clone.fsck().ok
    # The old file is nowhere on the remote any more.
    from mlv.remote.session import open_session

    session = open_session(c.layout, c.remotes().get("origin"))
    try:
        session.index.sync(session.storage)
        assert old_id not in session.index.locate([old_id])
    finally:
        session.close()
    third = _remote_gc(c, grace=0)
    assert not third.packs_condemned and not third.packs_deleted


def test_a_grace_period_keeps_condemned_packs(place: Place, tmp_path: Path) -> None:
    _, c, _ = _two_histories(tmp_path, place)
    first = _remote_gc(c, grace=0)
    assert first.packs_condemned
    later = _remote_gc(c, grace=3600)
    assert not later.packs_deleted
    assert set(first.packs_condemned) <= set(read_condemned(place.storage()))


def test_a_dry_run_changes_nothing(place: Place, tmp_path: Path) -> None:
    _, c, _ = _two_histories(tmp_path, place)
    storage = place.storage()
    before = sorted(storage.list(""))
    dry = _remote_gc(c, grace=0, dry_run=True)
    assert dry.packs_condemned and dry.dry_run
    assert sorted(storage.list("")) == before
    _remote_gc(c, grace=0)
    before = sorted(storage.list(""))
    dry = _remote_gc(c, grace=0, dry_run=True)
    assert dry.packs_deleted and dry.bytes_freed > 0
    assert sorted(storage.list("")) == before


def test_a_push_racing_gc_sends_condemned_objects_again(place: Place, tmp_path: Path) -> None:
    a, c, secret = _two_histories(tmp_path, place)
    old_id = _old_file_id(a)
    _remote_gc(c, grace=0)  # condemns the packs of a's old.bin
    # a commits on top of c's history and pushes a file whose content sits only in a
    # condemned pack: the push must send it again rather than count on it.
    d = place.clone(tmp_path / "e")
    _write(tmp_path / "e", {"again.bin": secret})
    d.add(["again.bin"])
    assert d.flat_tree(d.commit("the same bytes again"))["again.bin"].id == old_id
    pushed = d.push()
    assert pushed.objects > 0
    second = _remote_gc(c, grace=0)
    assert second.packs_deleted
    check = c.fsck_remote()
    assert check.ok, check.problems
    e = place.clone(tmp_path / "f")
    assert (tmp_path / "f/again.bin").read_bytes() == secret
    assert e.fsck().ok


def test_sweep_rescues_what_a_ref_names_only_in_condemned_packs(
    place: Place, tmp_path: Path
) -> None:
    """A push that finished before seeing the condemnation: its ref names objects that
    only condemned packs hold. The sweep uploads them again before deleting."""
    a, c, secret = _two_histories(tmp_path, place)
    storage = place.storage()
    _remote_gc(c, grace=0)
    condemned, _ = read_condemned_times(storage)
    # Put a's old commit back on a ref, as a push that raced the mark would have.
    storage.put("refs/heads/old", f"{a.refs.head().commit}\n".encode())
    second = _remote_gc(c, grace=0)
    assert second.objects_rescued > 0 and set(second.packs_deleted) == set(condemned)
    check = c.fsck_remote()
    assert check.ok, check.problems
    f = place.clone(tmp_path / "g")
    assert f.read_bytes("origin/old", "old.bin") == secret
    assert f.fsck().ok


def test_fsck_remote_finds_a_flipped_byte_and_a_ref_to_a_missing_commit(
    place: Place, tmp_path: Path
) -> None:
    a = Repo.init(tmp_path / "a")
    _write(tmp_path / "a", {"x.bin": os.urandom(20_000)})
    a.add(["x.bin"])
    a.commit("x")
    place.add(a)
    a.push()
    assert a.fsck_remote().ok
    storage = place.storage()
    pack_id = max(_packs(storage), key=lambda p: len(storage.get(pack_key(p)) or b""))
    data = bytearray(storage.get(pack_key(pack_id)) or b"")
    data[len(data) // 2] ^= 0x01
    storage.put(pack_key(pack_id), bytes(data))
    storage.put("refs/heads/ghost", ("ab" * 32 + "\n").encode())
    report = a.fsck_remote()
    assert not report.ok
    text = "\n".join(report.problems)
    assert pack_id[:12] in text and "refs/heads/ghost" in text
    assert all("\n" not in p for p in report.problems)
    if place.kind != "path":
        return  # the CLI on S3: in test_remote_transfer; here, the folder remote's
    proc = mlv(tmp_path / "a", "fsck", "--remote", "origin")
    assert proc.returncode == 1 and "refs/heads/ghost" in proc.stdout


def test_a_gc_lease_held_by_another_is_refused(place: Place, tmp_path: Path) -> None:
    _, c, _ = _two_histories(tmp_path, place)
    storage = place.storage()
    other = GcLease(storage, "someone")
    other.acquire()
    with pytest.raises(LockError) as refused:
        _remote_gc(c, grace=0)
    assert "another gc" in str(refused.value) and "\n" not in str(refused.value)
    other.release()
    # An expired lease is taken over.
    storage.put(GC_LEASE, json.dumps({"holder": "x", "host": "h", "expires": 1}).encode())
    assert _remote_gc(c, grace=0).packs_condemned
    assert storage.get(CONDEMNED) is not None


def test_gc_cli_with_remote_and_grace(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    _, c, _ = _two_histories(tmp_path, Place("path", str(root), {}))
    c.close()
    proc = mlv(tmp_path / "c", "gc", "--remote", "origin", "--grace", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["packs_condemned"]
    assert "--grace 0" in proc.stderr
    proc = mlv(tmp_path / "c", "gc", "--remote", "origin", "--grace", "0")
    assert proc.returncode == 0 and "deleted: pack" in proc.stdout
    assert mlv(tmp_path / "c", "fsck", "--remote", "origin").returncode == 0
    bad = mlv(tmp_path / "c", "gc", "--remote", "origin", "--grace", "soon")
    assert bad.returncode != 0 and "30m" in bad.stderr


def test_durations() -> None:
    assert parse_duration("30m") == 1800 and parse_duration("24h") == 86400
    assert parse_duration("7d") == 7 * 86400 and parse_duration("0") == 0


def test_what_a_young_pack_names_is_never_condemned_alone(tmp_path: Path) -> None:
    """A push in flight has uploaded its packs but not moved its ref: what they name
    must stay in an uncondemned pack, or a later push could count on it."""
    root = tmp_path / "remote"
    root.mkdir()
    place = Place("path", str(root), {})
    a = Repo.init(tmp_path / "a")
    big = os.urandom(100_000)
    _write(tmp_path / "a", {"w.bin": big})
    a.add(["w.bin"])
    a.commit("w")
    place.add(a)
    a.push()
    old = time.time() - 7200
    for path in (root / "packs").iterdir():
        os.utime(path, (old, old))
    # The in-flight push: an unrelated commit holding w.bin again (the push skipped
    # it: the remote held it), its packs on the remote, its ref not written yet.
    c = Repo.init(tmp_path / "c")
    _write(tmp_path / "c", {"w.bin": big, "other.txt": b"o\n"})
    c.add(["w.bin", "other.txt"])
    in_flight = c.commit("in flight")
    place.add(c)
    c.create_branch("side")
    c.push(refs=["side"])
    storage = place.storage()
    storage.delete("refs/heads/main")
    storage.delete("refs/heads/side")
    report = _remote_gc(c, grace=3600)
    assert report.packs_condemned  # the old pack: nothing reaches its commit by a ref
    w_id = c.flat_tree(in_flight)["w.bin"].id
    from mlv.remote.session import open_session

    session = open_session(c.layout, c.remotes().get("origin"))
    try:
        session.index.sync(session.storage)
        assert session.index.present([w_id]) == {w_id}
    finally:
        session.close()
    # The push completes; later gcs (the grace over) delete the old pack, and keep
    # all the pushed commit needs.
    storage.put("refs/heads/side", f"{in_flight}\n".encode())
    assert _remote_gc(c, grace=0).packs_deleted
    _remote_gc(c, grace=0)
    check = c.fsck_remote()
    assert check.ok, check.problems
    Repo.clone(place.url, tmp_path / "b", branch="side")
    assert (tmp_path / "b/w.bin").read_bytes() == big


def _pushed_to_a_folder(tmp_path: Path) -> tuple[Repo, Path, Storage]:
    """A repository of one commit pushed to a folder remote: the repo, folder, storage."""
    root = tmp_path / "remote"
    root.mkdir()
    place = Place("path", str(root), {})
    a = Repo.init(tmp_path / "a")
    _write(tmp_path / "a", {"x.txt": b"x\n"})
    a.add(["x.txt"])
    a.commit("x")
    place.add(a)
    a.push()
    return a, root, place.storage()


def test_gc_deletes_what_interrupted_pushes_left(tmp_path: Path) -> None:
    a, root, storage = _pushed_to_a_folder(tmp_path)
    lone_pack, lone_idx = "ab" * 32, "cd" * 32
    storage.put(pack_key(lone_pack), b"MLVPACK\x00 a push killed before its index")
    storage.put(f"packs/{lone_idx}.idx", b"an index whose pack is gone")
    young = _remote_gc(a, grace=3600)
    assert young.leftovers_deleted == [f"packs/{lone_idx}.idx"]  # the pack is too young
    old = time.time() - 7200
    os.utime(root / pack_key(lone_pack), (old, old))
    report = _remote_gc(a, grace=3600)
    assert report.leftovers_deleted == [pack_key(lone_pack)] and report.bytes_freed > 0
    assert lone_pack not in _packs(storage) and lone_idx not in _packs(storage)
    assert a.fsck_remote().ok


def test_gc_deletes_a_pack_a_killed_push_was_writing_in_a_folder(tmp_path: Path) -> None:
    a, root, storage = _pushed_to_a_folder(tmp_path)
    # What a push killed mid-pack leaves: the temporary it was writing in packs/.
    upload = storage.open_upload("packs", tmp_path, None)
    upload.write(b"MLVPACK\x00" + os.urandom(1024 * 1024))  # past the write buffer: on disk
    (unfinished,) = [p for p in (root / "packs").iterdir() if p.name.endswith(".tmp")]
    assert _remote_gc(a, grace=3600).leftovers_deleted == []  # it may still be written
    old = time.time() - 7200
    os.utime(unfinished, (old, old))
    dry = _remote_gc(a, grace=3600, dry_run=True)
    assert dry.leftovers_deleted == [f"packs/{unfinished.name}"] and unfinished.exists()
    report = _remote_gc(a, grace=3600)
    assert report.leftovers_deleted == [f"packs/{unfinished.name}"] and report.bytes_freed > 0
    assert not unfinished.exists()
    assert a.fsck_remote().ok
