"""push, fetch, pull and clone, against a folder remote and a real S3-API server (moto).

Each test works on real repositories in tmp_path, through the Python API and the
CLI, and checks what a user would: the files, the history, what moved and what
did not, and that a remote nobody trusts cannot hurt the clone.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import S3Bucket
from helpers import flip_last_byte
from mlv.api import Repo
from mlv.errors import ChecksumMismatchError, MlvError, RemoteError
from mlv.model.objects import FileManifest
from mlv.remote.fetch import FetchRefusedError
from mlv.remote.layout import MARKER, PACKS, index_key, pack_key
from mlv.remote.packindex import decode_index
from mlv.remote.pathstore import PathStorage
from mlv.remote.push import PushRejectedError
from mlv.remote.storage import S3Settings, Storage
from mlv.store.pack import KIND_MANIFEST

PREFIX = "team/churn"


@dataclass
class RemotePlace:
    """Where a test's remote lives, and how a repository or the CLI names it."""

    kind: str
    url: str
    options: dict[str, object]
    flags: list[str]
    settings: S3Settings | None = None

    def add(self, repo: Repo, name: str = "origin") -> None:
        repo.add_remote(name, self.url, **self.options)  # type: ignore[arg-type]

    def storage(self) -> Storage:
        if self.kind == "path":
            return PathStorage(Path(self.url))
        from mlv.remote.s3store import S3Storage

        return S3Storage.from_url(self.url, self.settings)

    def clone(self, target: Path, **options: object) -> tuple[Repo, object]:
        return Repo.clone(self.url, target, **{**self.options, **options})  # type: ignore[arg-type]


@pytest.fixture(params=["path", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> RemotePlace:
    if request.param == "path":
        root = tmp_path / "remote"
        root.mkdir()
        return RemotePlace("path", str(root), {}, [])
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    options = {"endpoint_url": bucket.endpoint, "region": bucket.region, "allow_http": True}
    flags = ["--endpoint-url", bucket.endpoint, "--region", bucket.region, "--allow-http"]
    settings = S3Settings(endpoint_url=bucket.endpoint, region=bucket.region, allow_http=True)
    return RemotePlace("s3", f"s3://{bucket.name}/{PREFIX}", options, flags, settings)


@pytest.fixture
def folder_place(tmp_path: Path) -> RemotePlace:
    root = tmp_path / "remote"
    root.mkdir(exist_ok=True)
    return RemotePlace("path", str(root), {}, [])


def _write(root: Path, files: dict[str, bytes | str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)


def _project(root: Path, place: RemotePlace) -> Repo:
    """A repository with a folder of small files, a table, and a file of many chunks."""
    repo = Repo.init(root)
    files: dict[str, bytes | str] = {
        f"data/cats/c{i}.txt": f"cat {i}\n" * (i + 1) for i in range(8)
    }
    files |= {f"data/dogs/d{i}.txt": f"dog {i}\n" for i in range(5)}
    files["data/table.csv"] = "id,score\n" + "".join(f"{i},{i * 0.5}\n" for i in range(300))
    files["model.bin"] = os.urandom(600_000)
    _write(root, files)
    repo.add(["data", "model.bin"])
    repo.commit("first")
    place.add(repo)
    return repo


def _tree_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".mlv" not in p.relative_to(root).parts
    }


# -- push and clone ------------------------------------------------------------------


def test_a_clone_holds_the_files_and_history_that_were_pushed(
    place: RemotePlace, tmp_path: Path
) -> None:
    repo = _project(tmp_path / "a", place)
    result = repo.push()
    assert [(r.ref, r.status) for r in result.refs] == [("refs/heads/main", "new")]
    assert result.objects > 0 and result.packs >= 1
    clone, cloned = place.clone(tmp_path / "b")
    assert cloned.branch == "main" and cloned.commit == repo.refs.head().commit
    assert _tree_files(tmp_path / "b") == _tree_files(tmp_path / "a")
    assert [e.id for e in clone.log()] == [e.id for e in repo.log()]
    assert clone.status().clean
    assert clone.fsck().ok
    assert clone.remote_branches("origin") == {"origin/main": repo.refs.head().commit}


def test_a_second_push_with_nothing_new_sends_nothing(place: RemotePlace, tmp_path: Path) -> None:
    repo = _project(tmp_path / "a", place)
    repo.push()
    again = repo.push()
    assert [r.status for r in again.refs] == ["up-to-date"]
    assert (again.objects, again.bytes, again.packs) == (0, 0, 0)


def test_a_push_after_an_edit_sends_only_what_changed(place: RemotePlace, tmp_path: Path) -> None:
    repo = _project(tmp_path / "a", place)
    first = repo.push()
    (tmp_path / "a/data/cats/c0.txt").write_text("a new cat\n")
    repo.add(["data"])
    repo.commit("edit one cat")
    second = repo.push()
    assert second.refs[0].status == "fast-forward"
    # The new file, and the trees and commit above it: never the 600 kB model again.
    assert second.bytes < 20_000 < first.bytes


def test_fetch_moves_the_tracking_branch_and_status_counts_behind(
    place: RemotePlace, tmp_path: Path
) -> None:
    repo = _project(tmp_path / "a", place)
    repo.push()
    other, _ = place.clone(tmp_path / "b")
    _write(tmp_path / "b", {"data/dogs/d9.txt": "a new dog\n"})
    other.add(["data"])
    new = other.commit("a dog")
    other.push()
    fetched = repo.fetch()
    assert [(c.ref, c.new) for c in fetched.changes] == [("refs/remotes/origin/main", new)]
    assert repo.resolve("origin/main") == new
    assert not (tmp_path / "a/data/dogs/d9.txt").exists()
    upstream = repo.upstream_status()
    assert upstream is not None and (upstream.ahead, upstream.behind) == (0, 1)
    pulled = repo.pull()
    assert pulled.merge is not None and pulled.merge.kind == "fast-forward"
    assert (tmp_path / "a/data/dogs/d9.txt").read_text() == "a new dog\n"


def test_pull_merges_work_done_on_both_sides(place: RemotePlace, tmp_path: Path) -> None:
    repo = _project(tmp_path / "a", place)
    repo.push()
    other, _ = place.clone(tmp_path / "b")
    _write(tmp_path / "b", {"data/dogs/theirs.txt": "theirs\n"})
    other.add(["data"])
    other.commit("theirs")
    other.push()
    _write(tmp_path / "a", {"data/cats/ours.txt": "ours\n"})
    repo.add(["data"])
    repo.commit("ours")
    result = repo.pull()
    assert result.merge is not None and result.merge.kind == "merge"
    assert (tmp_path / "a/data/dogs/theirs.txt").read_text() == "theirs\n"
    assert repo.push().refs[0].status == "fast-forward"


def test_a_push_that_is_not_a_fast_forward_is_refused_with_git_s_hint(
    place: RemotePlace, tmp_path: Path
) -> None:
    repo = _project(tmp_path / "a", place)
    repo.push()
    other, _ = place.clone(tmp_path / "b")
    _write(tmp_path / "b", {"b.txt": "b\n"})
    other.add(["b.txt"])
    theirs = other.commit("b")
    other.push()
    _write(tmp_path / "a", {"a.txt": "a\n"})
    repo.add(["a.txt"])
    repo.commit("a")
    with pytest.raises(PushRejectedError) as refused:
        repo.push()
    message = str(refused.value)
    assert "not a fast-forward" in message and "mlv pull" in message and "\n" not in message
    assert refused.value.exit_code == 1
    assert place.storage().get("refs/heads/main") == f"{theirs}\n".encode()


def test_force_overrides_only_what_was_last_fetched(place: RemotePlace, tmp_path: Path) -> None:
    repo = _project(tmp_path / "a", place)
    repo.push()
    other, _ = place.clone(tmp_path / "b")
    _write(tmp_path / "b", {"b.txt": "b\n"})
    other.add(["b.txt"])
    theirs = other.commit("b")
    other.push()
    _write(tmp_path / "a", {"a.txt": "a\n"})
    repo.add(["a.txt"])
    ours = repo.commit("a")
    # We never saw their commit: --force must not throw it away.
    with pytest.raises(PushRejectedError, match="where you last fetched it"):
        repo.push(force=True)
    assert place.storage().get("refs/heads/main") == f"{theirs}\n".encode()
    repo.fetch()  # now we have seen it, and choose to replace it
    forced = repo.push(force=True)
    assert forced.refs[0].status == "forced"
    assert place.storage().get("refs/heads/main") == f"{ours}\n".encode()


def test_two_pushers_at_once_never_lose_a_commit(place: RemotePlace, tmp_path: Path) -> None:
    repo = _project(tmp_path / "a", place)
    repo.push()
    clones = []
    for name in ("b", "c"):
        clone, _ = place.clone(tmp_path / name)
        _write(tmp_path / name, {f"{name}.txt": name * 1000})
        clone.add([f"{name}.txt"])
        clones.append((clone, clone.commit(name)))
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def push(clone: Repo, commit: str) -> None:
        barrier.wait()
        try:
            outcomes[commit] = clone.push().refs[0].status
        except MlvError as exc:
            outcomes[commit] = exc

    threads = [threading.Thread(target=push, args=pair) for pair in clones]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [c for c, o in outcomes.items() if o == "fast-forward"]
    losers = [o for o in outcomes.values() if isinstance(o, PushRejectedError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert place.storage().get("refs/heads/main") == f"{winners[0]}\n".encode()
    # The loser pulls, merges, and pushes: both commits are then on the remote.
    loser = next(clone for clone, commit in clones if commit not in winners)
    loser.pull()
    loser.push()
    third, _ = place.clone(tmp_path / "d")
    history = {e.id for e in third.log()}
    assert {commit for _, commit in clones} <= history


def test_tags_and_all_branches_travel_when_asked(place: RemotePlace, tmp_path: Path) -> None:
    repo = _project(tmp_path / "a", place)
    repo.create_tag("v1")
    repo.create_branch("feature")
    result = repo.push(all_branches=True, tags=True)
    assert {r.ref for r in result.refs} == {"refs/heads/main", "refs/heads/feature", "refs/tags/v1"}
    clone, _ = place.clone(tmp_path / "b")
    assert clone.tags() == {"v1": repo.refs.head().commit}
    assert set(clone.remote_branches("origin")) == {"origin/main", "origin/feature"}


# -- partial and lazy ------------------------------------------------------------------


def test_a_clone_without_data_answers_history_then_brings_one_path(
    place: RemotePlace, tmp_path: Path
) -> None:
    repo = _project(tmp_path / "a", place)
    repo.push()
    clone, cloned = place.clone(tmp_path / "b", no_data=True)
    assert cloned.partial and cloned.written == 0
    assert _tree_files(tmp_path / "b") == {}
    assert [e.id for e in clone.log()] == [e.id for e in repo.log()]
    status = clone.status()
    assert status.clean and status.not_fetched == len(repo.flat_tree("HEAD"))
    assert clone.history("data/cats/c1.txt")
    received = clone.fetch().objects
    assert received == 0
    clone.restore(["data/cats"])
    assert _tree_files(tmp_path / "b") == {
        k: v for k, v in _tree_files(tmp_path / "a").items() if k.startswith("data/cats/")
    }
    assert clone.status().not_fetched == len(repo.flat_tree("HEAD")) - 8
    assert clone.fsck().ok


def test_pull_of_one_path_receives_only_that_content(place: RemotePlace, tmp_path: Path) -> None:
    repo = _project(tmp_path / "a", place)
    repo.push()
    clone, _ = place.clone(tmp_path / "b", no_data=True)
    result = clone.pull(paths=["data/dogs"])
    assert result.checkout is not None and len(result.checkout.written) == 5
    assert sorted(_tree_files(tmp_path / "b")) == [f"data/dogs/d{i}.txt" for i in range(5)]
    # The model's chunks never came.
    model = repo.flat_tree("HEAD")["model.bin"].id
    assert not clone.store.has(model)


# -- hostile and damaged remotes ---------------------------------------------------------


def _packs(storage: Storage) -> list[str]:
    return sorted(
        k.removeprefix(f"{PACKS}/").removesuffix(".idx")
        for k, _ in storage.list(PACKS)
        if k.endswith(".idx")
    )


def test_a_flipped_byte_in_a_remote_pack_is_refused_and_nothing_moves(
    folder_place: RemotePlace, tmp_path: Path
) -> None:
    repo = _project(tmp_path / "a", folder_place)
    repo.push()
    storage = folder_place.storage()
    for pack_id in _packs(storage):
        index = decode_index(storage.get(index_key(pack_id)) or b"", pack_id)
        path = Path(folder_place.url) / pack_key(pack_id)
        data = bytearray(path.read_bytes())
        entry = index.entries[len(index.entries) // 2]
        data[entry.offset + entry.length - 1] ^= 0x01
        path.chmod(0o644)
        path.write_bytes(bytes(data))
    with pytest.raises(RemoteError) as refused:
        folder_place.clone(tmp_path / "b")
    assert "damaged" in str(refused.value) and "\n" not in str(refused.value)
    # Nothing sound arrived, so nothing of the clone is left to finish.
    assert not (tmp_path / "b").exists()


def test_a_ref_naming_a_commit_the_remote_lacks_is_refused(
    folder_place: RemotePlace, tmp_path: Path
) -> None:
    repo = _project(tmp_path / "a", folder_place)
    repo.push()
    storage = folder_place.storage()
    storage.put("refs/heads/ghost", b"ab" * 32 + b"\n")
    with pytest.raises(FetchRefusedError) as refused:
        repo.fetch()
    assert "refs/heads/ghost" in str(refused.value) and "missing" in str(refused.value)
    # The sound branch was fetched all the same; the ghost was not.
    assert refused.value.result.remote_refs == {"refs/heads/main": repo.refs.head().commit}
    assert "origin/ghost" not in repo.remote_branches()
    assert "origin/main" in repo.remote_branches()


def test_a_folder_that_is_not_an_mlv_remote_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    _write(root, {"holiday.jpg": b"\xff\xd8", "notes/todo.txt": "milk\n"})
    repo = Repo.init(tmp_path / "a")
    _write(tmp_path / "a", {"x.txt": "x\n"})
    repo.add(["x.txt"])
    repo.commit("x")
    repo.add_remote("origin", str(root))
    with pytest.raises(RemoteError, match="not an mlv remote"):
        repo.push()
    with pytest.raises(RemoteError, match="not an mlv remote"):
        repo.fetch()
    assert sorted(p.name for p in root.rglob("*")) == ["holiday.jpg", "notes", "todo.txt"]


def test_an_empty_remote_clones_to_an_empty_repository(
    folder_place: RemotePlace, tmp_path: Path
) -> None:
    _, cloned = folder_place.clone(tmp_path / "b")
    assert cloned.branch is None and cloned.fetch.empty
    assert not (Path(folder_place.url) / MARKER).exists()  # a fetch writes nothing there


# -- everything a commit needs travels with it ---------------------------------------------


TRAIN = (
    "python3 -c \"import json; rows = open('data/table.csv').read().splitlines()[1:]; "
    "open('model.txt', 'w').write(str(len(rows))); "
    "json.dump({'rows': len(rows)}, open('metrics.json', 'w'))\""
)


def _trained(root: Path, place: RemotePlace) -> Repo:
    repo = _project(root, place)
    repo.run(TRAIN, deps=["data/table.csv"], outs=["model.txt"], metrics=["metrics.json"])
    repo.commit("train")
    report = repo.reproduce()
    assert report.verdict == "reproduced"
    return repo


def _answers(repo: Repo) -> dict[str, object]:
    """What a user asks a repository about its results, in comparable form."""
    return {
        "lineage": repo.lineage("model.txt").to_json(),
        "history": [v.to_json() for v in repo.history("data/table.csv")],
        "stats": repo.profile("data/table.csv").to_json(),
        "metrics": repo.metrics().to_json(),
        "runs": sorted(repo.runs()),
        "reproductions": [rep_id for rep_id, _ in repo.reproductions()],
    }


@pytest.mark.parametrize("no_data", [False, True], ids=["full", "no-data"])
def test_lineage_history_stats_and_reproduce_answer_the_same_in_a_clone(
    folder_place: RemotePlace, tmp_path: Path, no_data: bool
) -> None:
    repo = _trained(tmp_path / "a", folder_place)
    pushed = repo.push()
    assert {r.ref for r in pushed.refs} == {"refs/heads/main", "refs/notes/reproductions"}
    clone, _ = folder_place.clone(tmp_path / "b", no_data=no_data)
    assert _answers(clone) == _answers(repo)
    assert not no_data or not (tmp_path / "b/data/table.csv").exists()
    # Reproducing reads the inputs: a partial clone brings them then.
    assert clone.reproduce().verdict == "reproduced"
    assert len(clone.reproductions()) == 2


def test_reproductions_recorded_on_two_clones_are_joined_not_lost(
    folder_place: RemotePlace, tmp_path: Path
) -> None:
    repo = _trained(tmp_path / "a", folder_place)
    repo.push()
    other, _ = folder_place.clone(tmp_path / "b")
    assert other.reproduce().verdict == "reproduced"
    other.push()
    assert repo.reproduce().verdict == "reproduced"  # a third, here, not yet pushed
    repo.push()  # the remote's chain has one we lack: joined, then pushed
    third, _ = folder_place.clone(tmp_path / "c")
    assert len(third.reproductions()) == 3


# -- the remote gone mid-way -------------------------------------------------------------


class _Cut:
    """A progress receiver that takes the remote away once some bytes have gone."""

    def __init__(self, cut: object, after: int) -> None:
        self.cut, self.after, self.sent, self.done = cut, after, 0, False

    def start(self, total: int, label: str) -> None:
        pass

    def advance(self, amount: int) -> None:
        self.sent += amount
        if self.sent >= self.after and not self.done:
            self.done = True
            self.cut()  # type: ignore[operator]

    def finish(self) -> None:
        pass


def _big_project(root: Path, place: RemotePlace) -> Repo:
    repo = _project(root, place)
    _write(root, {f"blobs/b{i}.bin": os.urandom(3_000_000) for i in range(12)})
    repo.add(["blobs"])
    repo.commit("blobs")
    return repo


def test_a_folder_remote_gone_mid_push_is_left_valid_and_the_push_finishes_later(
    folder_place: RemotePlace, tmp_path: Path
) -> None:
    from mlv.remote import packing

    repo = _big_project(tmp_path / "a", folder_place)
    remote, away = Path(folder_place.url), tmp_path / "unmounted"
    original = packing.REMOTE_PACK_TARGET
    packing.REMOTE_PACK_TARGET = 4_000_000  # several packs, so some arrive before the cut
    try:
        with pytest.raises(RemoteError) as failed:
            repo.push(progress=_Cut(lambda: remote.rename(away), after=10_000_000))
        assert "\n" not in str(failed.value)
        away.rename(remote)  # the share is back
        assert folder_place.storage().get("refs/heads/main") is None
        again = repo.push()
    finally:
        packing.REMOTE_PACK_TARGET = original
    assert again.refs[0].status == "new"
    clone, _ = folder_place.clone(tmp_path / "b")
    assert _tree_files(tmp_path / "b") == _tree_files(tmp_path / "a")
    assert clone.fsck().ok


def test_an_s3_server_stopped_mid_push_fails_in_one_line_and_loses_nothing_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import DUMMY_KEYS
    from s3server import MotoServer

    for name, value in DUMMY_KEYS.items():
        monkeypatch.setenv(name, value)
    server = MotoServer().start()
    try:
        server.make_bucket("gone")
        place = RemotePlace(
            "s3",
            "s3://gone/p",
            {"endpoint_url": server.endpoint, "region": "us-east-1", "allow_http": True},
            [],
        )
        repo = _big_project(tmp_path / "a", place)
        head = repo.refs.head().commit
        with pytest.raises(RemoteError) as failed:
            repo.push(progress=_Cut(server.stop, after=5_000_000))
    finally:
        server.stop()
    message = str(failed.value)
    assert "\n" not in message and "s3://gone/p" in message
    assert repo.refs.head().commit == head
    assert repo.remote_branches() == {}
    assert repo.fsck().ok


# -- a remote without compare-and-swap -------------------------------------------------------


def test_remote_test_remembers_what_it_found(place: RemotePlace, tmp_path: Path) -> None:
    import json

    repo = _project(tmp_path / "a", place)
    assert repo.test_remote().conditional_writes is True
    probe = json.loads((tmp_path / "a/.mlv/remotes/origin/probe.json").read_text())
    assert probe["conditional_writes"] is True


def test_where_conditional_writes_are_not_enforced_pushes_take_a_lease_and_say_so(
    folder_place: RemotePlace, tmp_path: Path
) -> None:
    from mlv.remote.session import save_probe

    repo = _project(tmp_path / "a", folder_place)
    repo.push()
    clones = []
    for name in ("b", "c"):
        clone, _ = folder_place.clone(tmp_path / name)
        # As `mlv remote test` records it for a server that takes a stale write.
        save_probe(clone.layout, "origin", False)
        _write(tmp_path / name, {f"{name}.txt": name})
        clone.add([f"{name}.txt"])
        clones.append((clone, clone.commit(name)))
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def push(clone: Repo, commit: str) -> None:
        barrier.wait()
        try:
            outcomes[commit] = clone.push()
        except MlvError as exc:
            outcomes[commit] = exc

    threads = [threading.Thread(target=push, args=pair) for pair in clones]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [r for r in outcomes.values() if not isinstance(r, MlvError)]
    lost = [r for r in outcomes.values() if isinstance(r, PushRejectedError)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert any("lease" in w and "conditional writes" in w for w in won[0].warnings)  # type: ignore[attr-defined]
    assert folder_place.storage().get("locks/refs.json") is None  # let go


def test_a_fetch_blames_our_own_damaged_chunk_on_us_not_on_the_remote(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    a = Repo.init(tmp_path / "a")
    big = os.urandom(2 * 1024 * 1024)  # random: chunks stored raw, with no codec to fail
    (tmp_path / "a/w.bin").write_bytes(big)
    a.add(["w.bin"])
    a.commit("one")
    a.add_remote("origin", str(root))
    a.push()
    b, _ = Repo.clone(str(root), tmp_path / "b")
    # A chunk of the first version rots in b's store.
    (file_id,) = [i for i, kind in b.store.iter_ids() if kind == KIND_MANIFEST]
    manifest = FileManifest.from_bytes(b.store.get(file_id))
    flip_last_byte(b.store, manifest.chunks[3][0])
    b.close()
    # The second version shares that chunk; b, fetching it, holds the chunk already.
    (tmp_path / "a/w.bin").write_bytes(big + b"more")
    a.add(["w.bin"])
    a.commit("two")
    a.push()
    with pytest.raises(ChecksumMismatchError):
        Repo(tmp_path / "b").fetch()
