"""The remote storage contract, run against a folder and a real S3-API server (moto).

Then what only one backend has: a folder's symlinks, locks and temporaries; an S3
endpoint that is down, a bucket that is missing, a profile in the shared AWS files.
"""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import S3Bucket
from mlv.core.paths import temporary_name
from mlv.errors import RemoteError
from mlv.remote.pathstore import PathStorage
from mlv.remote.storage import (
    S3Settings,
    Storage,
    check_endpoint_url,
    file_url_path,
    open_storage,
    parse_s3_url,
)
from s3server import _free_port

PREFIX = "team/project"


def _s3_settings(bucket: S3Bucket, **changes: object) -> S3Settings:
    values: dict = {"endpoint_url": bucket.endpoint, "region": bucket.region, "allow_http": True}
    return S3Settings(**{**values, **changes})


@pytest.fixture(params=["path", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "path":
        root = tmp_path / "remote"
        root.mkdir()
        return PathStorage(root, lock_timeout=2.0)
    from mlv.remote.s3store import S3Storage

    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    return S3Storage(bucket.name, PREFIX, _s3_settings(bucket))


def _keys(storage: Storage, prefix: str = "") -> dict[str, int]:
    return dict(storage.list(prefix))


def _one_line(error: pytest.ExceptionInfo[RemoteError]) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    assert error.value.exit_code == 2
    return message


# -- the contract, on every backend ------------------------------------------------------


def test_round_trip(storage: Storage) -> None:
    storage.put("packs/ab12.pack", b"\x00pack\xff" * 1000)
    storage.put("empty", b"")
    assert storage.get("packs/ab12.pack") == b"\x00pack\xff" * 1000
    assert storage.get("empty") == b""
    storage.put("packs/ab12.pack", b"again")
    found = storage.get_with_token("packs/ab12.pack")
    assert found is not None and found[0] == b"again" and found[1]


def test_absent_keys(storage: Storage) -> None:
    assert storage.get("refs/heads/main") is None
    assert storage.get_with_token("refs/heads/main") is None
    storage.delete("refs/heads/main")
    assert _keys(storage) == {}
    assert _keys(storage, "refs") == {}


def test_create_only_once(storage: Storage) -> None:
    token = storage.create("refs/heads/main", b"first")
    assert token is not None
    assert storage.create("refs/heads/main", b"second") is None
    assert storage.get_with_token("refs/heads/main") == (b"first", token)


def test_replace_needs_the_current_token(storage: Storage) -> None:
    old = storage.create("refs/heads/main", b"one")
    assert old is not None
    new = storage.replace("refs/heads/main", b"two", old)
    assert new is not None and new != old
    assert storage.get_with_token("refs/heads/main") == (b"two", new)
    assert storage.replace("refs/heads/main", b"three", old) is None
    assert storage.get("refs/heads/main") == b"two"


def test_replace_of_an_absent_key_fails(storage: Storage) -> None:
    token = storage.create("refs/heads/main", b"one")
    assert token is not None
    storage.delete("refs/heads/main")
    assert storage.replace("refs/heads/main", b"two", token) is None
    assert storage.replace("refs/tags/never", b"two", token) is None
    assert storage.get("refs/heads/main") is None
    assert storage.get("refs/tags/never") is None


def test_delete(storage: Storage) -> None:
    storage.put("packs/a.pack", b"a")
    storage.create("refs/heads/main", b"m")
    storage.delete("packs/a.pack")
    storage.delete("refs/heads/main")
    assert storage.get("packs/a.pack") is None
    assert storage.get("refs/heads/main") is None
    assert _keys(storage) == {}


def test_list_by_folder(storage: Storage) -> None:
    for key, data in {
        "refs/heads/main": b"1",
        "refs/heads/dev": b"22",
        "refs/tags/v1": b"333",
        "packs/ab.pack": b"4444",
        "HEAD": b"",
    }.items():
        storage.put(key, data)
    assert _keys(storage) == {
        "refs/heads/main": 1,
        "refs/heads/dev": 2,
        "refs/tags/v1": 3,
        "packs/ab.pack": 4,
        "HEAD": 0,
    }
    assert _keys(storage, "refs") == {"refs/heads/main": 1, "refs/heads/dev": 2, "refs/tags/v1": 3}
    assert _keys(storage, "refs/") == _keys(storage, "refs")
    assert _keys(storage, "refs/heads") == {"refs/heads/main": 1, "refs/heads/dev": 2}
    # A prefix is a folder, never the start of a name.
    assert _keys(storage, "ref") == {}
    assert _keys(storage, "packs/ab.pack") == {}


BAD_KEYS = [
    "",
    "/refs/heads/main",
    "refs//main",
    "refs/heads/",
    "refs/./main",
    "refs/../main",
    "..",
    "refs\\main",
    "refs/ma\x00in",
    "refs/heads/main.lock",
    # A fixed token: xdist's workers must collect the same test ids.
    "packs/.a.pack.mlv-0123456789ab.tmp",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused(storage: Storage, key: str) -> None:
    calls = [
        lambda: storage.get(key),
        lambda: storage.get_with_token(key),
        lambda: storage.put(key, b"x"),
        lambda: storage.create(key, b"x"),
        lambda: storage.replace(key, b"x", "token"),
        lambda: storage.delete(key),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="bad remote key"):
            call()
    if key not in ("", "refs/heads/"):  # as prefixes, the whole remote and a folder
        with pytest.raises(ValueError, match="bad remote key"):
            list(storage.list(key))
    assert _keys(storage) == {}


_KEYS = st.sampled_from(["refs/heads/main", "refs/heads/dev", "refs/tags/v1", "HEAD"])
_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), _KEYS, st.binary(max_size=20)),
        st.tuples(st.just("replace"), _KEYS, st.binary(max_size=20)),
        st.tuples(st.just("replace-stale"), _KEYS, st.binary(max_size=20)),
        st.tuples(st.just("delete"), _KEYS, st.just(b"")),
    ),
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operations=_OPERATIONS)
def test_any_sequence_of_writes_matches_a_dict(
    storage: Storage, operations: list[tuple[str, str, bytes]]
) -> None:
    for key, _ in list(storage.list("")):
        storage.delete(key)
    model: dict[str, bytes] = {}
    # Tokens of versions since replaced by other bytes: never good again.
    stale: dict[str, str] = {}
    for operation, key, data in operations:
        if operation == "create":
            token = storage.create(key, data)
            assert (token is None) == (key in model)
            model.setdefault(key, data)
        elif operation == "replace":
            found = storage.get_with_token(key)
            assert (found is None) == (key not in model)
            token = storage.replace(key, data, found[1] if found else "no-such-token")
            assert (token is None) == (found is None)
            if found is not None:
                if found[0] != data:
                    stale[key] = found[1]
                model[key] = data
        elif operation == "replace-stale":
            found = storage.get_with_token(key)
            # A token is a hash of the content (an ETag is one on S3): a key holding
            # again the bytes of a replaced version has that version's token again.
            if key in stale and found is not None and found[1] != stale[key]:
                assert storage.replace(key, data, stale[key]) is None
        else:
            storage.delete(key)
            model.pop(key, None)
        assert {k: storage.get(k) for k in model} == model
    assert _keys(storage) == {key: len(data) for key, data in model.items()}


def _race(count: int, attempt: object) -> list[str | None]:
    barrier = threading.Barrier(count)
    results: list[str | None] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        results[i] = attempt(i)  # type: ignore[operator]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_racing_replaces_have_one_winner(storage: Storage) -> None:
    token = storage.create("refs/heads/main", b"base")
    assert token is not None
    results = _race(8, lambda i: storage.replace("refs/heads/main", f"writer {i}".encode(), token))
    winners = [i for i, result in enumerate(results) if result is not None]
    assert len(winners) == 1, results
    assert storage.get_with_token("refs/heads/main") == (
        f"writer {winners[0]}".encode(),
        results[winners[0]],
    )


def test_racing_creates_have_one_winner(storage: Storage) -> None:
    results = _race(8, lambda i: storage.create("refs/heads/new", f"writer {i}".encode()))
    winners = [i for i, result in enumerate(results) if result is not None]
    assert len(winners) == 1, results
    assert storage.get("refs/heads/new") == f"writer {winners[0]}".encode()


# -- a folder ------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "remote"
    root.mkdir()
    return root


def test_a_symlinked_folder_inside_the_remote_is_refused(folder: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "heads").mkdir(parents=True)
    (elsewhere / "heads" / "main").write_bytes(b"outside")
    (folder / "refs").symlink_to(elsewhere)
    storage = PathStorage(folder)
    for call in (
        lambda: storage.get("refs/heads/main"),
        lambda: storage.put("refs/heads/main", b"x"),
        lambda: storage.create("refs/heads/other", b"x"),
        lambda: storage.delete("refs/heads/main"),
        lambda: list(storage.list("")),
        lambda: list(storage.list("refs")),
    ):
        with pytest.raises(RemoteError, match="damaged: refs is a symlink") as error:
            call()
        _one_line(error)
    assert (elsewhere / "heads" / "main").read_bytes() == b"outside"
    assert sorted(p.name for p in (elsewhere / "heads").iterdir()) == ["main"]


def test_a_symlinked_root_is_followed(folder: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(folder)
    storage = PathStorage(link)
    assert storage.url == str(link)
    assert _keys(storage) == {}
    storage.put("packs/a.pack", b"a")
    assert storage.create("refs/heads/main", b"m") is not None
    assert _keys(storage) == {"packs/a.pack": 1, "refs/heads/main": 1}
    assert _keys(storage, "refs") == {"refs/heads/main": 1}
    assert storage.get("packs/a.pack") == b"a"
    storage.delete("packs/a.pack")
    assert (folder / "refs" / "heads" / "main").read_bytes() == b"m"
    assert open_storage(str(link)).get("refs/heads/main") == b"m"
    # Only the root: a symlink inside it is refused still.
    (folder / "packs").symlink_to(tmp_path)
    with pytest.raises(RemoteError, match="damaged: packs is a symlink"):
        list(storage.list(""))


def test_delete_removes_the_folders_it_empties(folder: Path) -> None:
    storage = PathStorage(folder)
    storage.put("tmp/probe-1234/data", b"x")
    storage.put("refs/heads/main", b"m")
    storage.put("refs/tags/v1", b"t")
    storage.delete("tmp/probe-1234/data")
    assert sorted(p.name for p in folder.iterdir()) == ["refs"]
    storage.delete("refs/tags/v1")
    assert sorted(p.name for p in (folder / "refs").iterdir()) == ["heads"]
    storage.delete("refs/heads/main")
    assert folder.is_dir() and list(folder.iterdir()) == []
    storage.put("HEAD", b"h")
    storage.delete("HEAD")
    assert folder.is_dir()
    # A folder holding anything (a lock, a temporary) stays.
    storage.put("refs/heads/main", b"m")
    (folder / "refs" / "heads" / "dev.lock").write_text("1\n")
    storage.delete("refs/heads/main")
    assert sorted(p.name for p in (folder / "refs" / "heads").iterdir()) == ["dev.lock"]
    # Writes after a delete make the folders again.
    (folder / "refs" / "heads" / "dev.lock").unlink()
    assert storage.create("refs/heads/main", b"again") is not None
    assert storage.get("refs/heads/main") == b"again"


def test_delete_does_not_follow_a_symlinked_folder(folder: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "empty").mkdir(parents=True)
    storage = PathStorage(folder)
    storage.put("a/b", b"x")
    storage.delete("a/b")
    (folder / "a").symlink_to(elsewhere)
    with pytest.raises(RemoteError, match="damaged: a is a symlink"):
        storage.delete("a/empty/key")
    assert (elsewhere / "empty").is_dir()


def test_writes_racing_deletes_of_the_same_folder(folder: Path) -> None:
    storage = PathStorage(folder, lock_timeout=10.0)

    def attempt(i: int) -> str | None:
        key = f"refs/heads/b{i}"
        for _ in range(20):
            if i % 2:
                storage.put(key, b"x")
            else:
                assert storage.create(key, b"x") is not None
            assert storage.get(key) == b"x"
            storage.delete(key)
        return "done"

    assert _race(6, attempt) == ["done"] * 6
    assert _keys(storage) == {}


def test_a_symlinked_key_is_refused(folder: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"secret")
    (folder / "HEAD").symlink_to(tmp_path / "secret")
    storage = PathStorage(folder)
    with pytest.raises(RemoteError, match="damaged: HEAD is a symlink"):
        storage.get("HEAD")
    with pytest.raises(RemoteError, match="damaged"):
        storage.replace("HEAD", b"x", "token")
    assert (tmp_path / "secret").read_bytes() == b"secret"


def test_a_stale_lock_stops_replace_after_the_wait(folder: Path) -> None:
    storage = PathStorage(folder, lock_timeout=0.3)
    token = storage.create("refs/heads/main", b"one")
    assert token is not None
    lock = folder / "refs" / "heads" / "main.lock"
    lock.write_text("12345\n")
    started = time.monotonic()
    with pytest.raises(RemoteError) as error:
        storage.replace("refs/heads/main", b"two", token)
    assert 0.3 <= time.monotonic() - started < 3
    message = _one_line(error)
    assert str(lock) in message and "remove" in message and "no mlv" in message
    assert storage.get("refs/heads/main") == b"one"
    assert lock.exists(), "another writer's lock is never taken away"
    lock.unlink()
    assert storage.replace("refs/heads/main", b"two", token) is not None
    assert not lock.exists()


def test_locks_and_temporaries_are_not_keys(folder: Path) -> None:
    storage = PathStorage(folder)
    storage.put("refs/heads/main", b"m")
    (folder / "refs" / "heads" / "main.lock").write_text("1\n")
    (folder / "refs" / "heads" / temporary_name("main")).write_bytes(b"half")
    assert _keys(storage) == {"refs/heads/main": 1}


def test_a_killed_writers_temporary_is_not_listed(folder: Path) -> None:
    # The crash point sits between fsync and rename in every atomic write: SIGKILL there.
    code = (
        "import sys; from pathlib import Path; from mlv.remote.pathstore import PathStorage; "
        "PathStorage(Path(sys.argv[1])).put('packs/ab.pack', b'half of a pack')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(folder)],
        env={**os.environ, "MLV_CRASH_POINT": "file.before-rename"},
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    assert [p.name for p in (folder / "packs").iterdir()] != []  # the temporary is left
    storage = PathStorage(folder)
    assert _keys(storage) == {}
    assert storage.get("packs/ab.pack") is None


def test_a_missing_or_file_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="does not exist: create it") as error:
        PathStorage(tmp_path / "nowhere")
    _one_line(error)
    (tmp_path / "file").write_text("x")
    with pytest.raises(RemoteError, match="is not a folder") as error:
        open_storage(str(tmp_path / "file"))
    _one_line(error)


# -- open_storage --------------------------------------------------------------------


def test_open_storage_takes_paths_and_file_urls(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(folder.parent)
    for url in (str(folder), "remote", "./remote", folder.as_uri(), f"file://localhost{folder}"):
        storage = open_storage(url)
        assert isinstance(storage, PathStorage), url
        assert storage.url == str(folder)
    open_storage("remote").put("HEAD", b"h")
    assert open_storage(folder.as_uri()).get("HEAD") == b"h"


def test_open_storage_takes_s3_urls(s3_bucket: S3Bucket) -> None:
    from mlv.remote.s3store import S3Storage

    storage = open_storage(f"s3://{s3_bucket.name}/{PREFIX}/", _s3_settings(s3_bucket))
    assert isinstance(storage, S3Storage)
    assert storage.url == f"s3://{s3_bucket.name}/{PREFIX}"
    storage.put("HEAD", b"h")
    whole = open_storage(f"s3://{s3_bucket.name}", _s3_settings(s3_bucket))
    assert whole.url == f"s3://{s3_bucket.name}"
    assert _keys(whole) == {f"{PREFIX}/HEAD": 1}


@pytest.mark.parametrize(
    "url", ["gs://bucket/x", "http://example.com/remote", "https://x/y", "", "  "]
)
def test_open_storage_refuses_other_urls(url: str) -> None:
    with pytest.raises(RemoteError, match="s3://bucket/prefix") as error:
        open_storage(url)
    _one_line(error)


BAD_S3_URLS = [
    "s3://",
    "s3:///prefix",
    "s3://Bad_Bucket!/x",
    "s3://Bucket/x",
    "s3://bucket/a/../b",
    "s3://b/x?v=1",
    "s3://bkt/x?",
    "s3://bkt/x#frag",
    "s3://bkt//a",
    "s3://bkt/a//b",
    "s3://bkt/a/./b",
    "s3://bkt:9000/a",
    "s3://KEY:SECRET@bucket/x",
    "s3://SECRET@bucket",
]


@pytest.mark.parametrize("url", BAD_S3_URLS)
def test_open_storage_refuses_bad_s3_urls(url: str) -> None:
    for call in (lambda: open_storage(url), lambda: parse_s3_url(url)):
        with pytest.raises(RemoteError, match="write s3://bucket/prefix") as error:
            call()
        assert "SECRET" not in _one_line(error)


def test_parse_s3_url() -> None:
    assert parse_s3_url("s3://bkt") == ("bkt", "")
    assert parse_s3_url("s3://bkt/") == ("bkt", "")
    assert parse_s3_url("s3://my.bkt-1/team/project/") == ("my.bkt-1", "team/project")
    assert parse_s3_url("S3://bkt/p") == ("bkt", "p")
    with pytest.raises(RemoteError, match=r"config\.local\.toml") as error:
        parse_s3_url("s3://KEY:SECRET@bucket/x")
    message = _one_line(error)
    assert "KEY" not in message and "SECRET" not in message and "credentials" in message
    with pytest.raises(RemoteError, match="empty part"):
        parse_s3_url("s3://bkt//a")
    with pytest.raises(RemoteError):
        parse_s3_url("/a/folder")


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:9000",
        "https://s3.example.com",
        "https://s3.example.com/",
        "https://minio.internal:9443/s3/path",
        "http://127.0.0.1:5000",
        "http://[::1]:9000",
        "http://minio_1:9000",
    ],
)
def test_good_endpoint_urls(url: str) -> None:
    assert check_endpoint_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "notaurl",
        "localhost:9000",
        "ftp://example.com",
        "s3://bucket",
        "http://",
        "http:///path",
        "http://host:",
        "http://host:0",
        "http://host:99999",
        "http://host:port",
        "http://ho st",
        "http://host/a b",
        "http://host?x=1",
        "http://host/?",
        "http://host#frag",
        "http://KEY:SECRET@host",
        "https://SECRET@host:9000",
    ],
)
def test_bad_endpoint_urls(url: str) -> None:
    with pytest.raises(RemoteError, match="S3 endpoint") as error:
        check_endpoint_url(url)
    message = _one_line(error)
    assert "SECRET" not in message
    assert "http(s)://host[:port][/path]" in message
    if "@" in url:
        assert "config.local.toml" in message


def test_a_bad_endpoint_is_refused_when_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    from mlv.remote.s3store import S3Storage

    with pytest.raises(RemoteError, match="'notaurl'") as error:
        S3Storage("bucket", "p", S3Settings(endpoint_url="notaurl", region="us-east-1"))
    _one_line(error)
    with pytest.raises(RemoteError, match="S3 endpoint") as error:
        open_storage("s3://bucket/p", S3Settings(endpoint_url="http://k:s@h", allow_http=True))
    _one_line(error)


def test_a_panic_in_obstore_is_a_remote_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Past the URL check, obstore panics inside the request: a BaseException.
    from mlv.remote import s3store

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(s3store, "check_endpoint_url", lambda url: url)
    storage = s3store.S3Storage(
        "bucket", "p", S3Settings(endpoint_url="notaurl", region="us-east-1", allow_http=True)
    )
    for call in (
        lambda: storage.get("HEAD"),
        lambda: storage.put("HEAD", b"x"),
        lambda: storage.create("HEAD", b"x"),
        lambda: storage.replace("HEAD", b"x", '"etag"'),
        lambda: storage.delete("HEAD"),
        lambda: list(storage.list("")),
    ):
        with pytest.raises(RemoteError, match="notaurl") as error:
            call()
        assert "check the endpoint URL" in _one_line(error)


class PanicException(BaseException):
    """Stands for pyo3's, which is matched by its name."""


class _Raising:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __getattr__(self, name: str) -> object:
        def call(*args: object, **kwargs: object) -> object:
            raise self.exc

        return call


def test_only_panics_become_remote_errors(s3_bucket: S3Bucket) -> None:
    from mlv.remote.s3store import S3Storage

    storage = S3Storage(s3_bucket.name, "p", _s3_settings(s3_bucket))
    storage._store = _Raising(PanicException("boom"))  # type: ignore[assignment]
    with pytest.raises(RemoteError, match="boom") as error:
        storage.get("HEAD")
    assert s3_bucket.endpoint in _one_line(error)
    for exc in (KeyboardInterrupt(), SystemExit(3), GeneratorExit(), TypeError("bug")):
        storage._store = _Raising(exc)  # type: ignore[assignment]
        for call in (
            lambda: storage.get("HEAD"),
            lambda: storage.put("HEAD", b"x"),
            lambda: storage.create("HEAD", b"x"),
            lambda: storage.delete("HEAD"),
            lambda: list(storage.list("")),
        ):
            with pytest.raises(type(exc)):
                call()


def test_a_listing_closed_early_is_not_an_error(storage: Storage) -> None:
    storage.put("a", b"1")
    storage.put("b", b"2")
    listing = storage.list("")
    next(listing)
    assert isinstance(listing, Generator)
    listing.close()  # GeneratorExit at the yield: passed through, not a RemoteError


# -- file:// URLs ----------------------------------------------------------------------


@pytest.mark.parametrize("tail", ["#b", "?x=1", "?", "#"])
def test_a_file_url_with_a_query_or_fragment_is_refused(folder: Path, tail: str) -> None:
    (folder / "a").mkdir()
    url = (folder / "a").as_uri() + tail
    for call in (lambda: open_storage(url), lambda: file_url_path(url)):
        with pytest.raises(RemoteError, match="percent-encode # and \\? as %23 and %3F") as error:
            call()
        assert "without file://" in _one_line(error)


def test_file_url_path(folder: Path) -> None:
    odd = folder / "a#b?c"
    odd.mkdir()
    assert file_url_path(odd.as_uri()) == odd
    assert file_url_path(folder.as_uri().replace("remote", "re%6Dote")) == folder
    storage = open_storage(odd.as_uri())
    assert isinstance(storage, PathStorage) and storage.url == str(odd)
    with pytest.raises(RemoteError, match="mount"):
        file_url_path("file://otherhost/x")
    with pytest.raises(RemoteError):
        file_url_path("s3://bkt/x")


def test_importing_storage_does_not_import_obstore() -> None:
    code = "import sys, mlv.remote.storage; print('obstore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- S3 errors and credentials -------------------------------------------------------


def test_an_endpoint_nobody_listens_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    endpoint = f"http://127.0.0.1:{_free_port()}"
    storage = open_storage(
        "s3://bucket/prefix", S3Settings(endpoint_url=endpoint, region="us-east-1", allow_http=True)
    )
    started = time.monotonic()
    with pytest.raises(RemoteError) as error:
        storage.get("HEAD")
    assert time.monotonic() - started < 20
    message = _one_line(error)
    assert "s3://bucket/prefix" in message and endpoint in message
    assert "Connection refused" in message


def test_a_missing_bucket(s3_bucket: S3Bucket) -> None:
    storage = open_storage("s3://no-such-bucket/x", _s3_settings(s3_bucket))
    for call in (
        lambda: storage.get("HEAD"),
        lambda: storage.put("HEAD", b"x"),
        lambda: storage.create("HEAD", b"x"),
        lambda: storage.replace("HEAD", b"x", '"etag"'),
        lambda: list(storage.list("")),
    ):
        with pytest.raises(RemoteError, match="NoSuchBucket") as error:
            call()
        assert "s3://no-such-bucket/x" in _one_line(error)


def test_plain_http_needs_allow_http(s3_bucket: S3Bucket) -> None:
    with pytest.raises(RemoteError, match="plain HTTP") as error:
        open_storage(f"s3://{s3_bucket.name}", _s3_settings(s3_bucket, allow_http=False))
    assert "mlv remote add … --allow-http" in _one_line(error)


def test_no_credentials_at_all(
    s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    storage = open_storage(f"s3://{s3_bucket.name}/p", _s3_settings(s3_bucket))
    started = time.monotonic()
    for call in (lambda: storage.get("HEAD"), lambda: storage.put("HEAD", b"x")):
        with pytest.raises(RemoteError, match="no AWS credentials found") as error:
            call()
        message = _one_line(error)
        assert "169.254" not in message
        assert "AWS_ACCESS_KEY_ID" in message and "--profile" in message
        assert "[remote.NAME] in .mlv/config.local.toml" in message
    assert time.monotonic() - started < 60


def test_a_profile_from_the_shared_files(
    s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[team]\naws_access_key_id = team-key\naws_secret_access_key = s\n")
    config = tmp_path / "config"
    config.write_text(f"[profile team]\nregion = {s3_bucket.region}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    storage = open_storage(
        f"s3://{s3_bucket.name}/p", _s3_settings(s3_bucket, profile="team", region=None)
    )
    assert storage.create("HEAD", b"h") is not None
    assert storage.get("HEAD") == b"h"
    # moto takes any key: what proves the profile's were sent is the store's own config.
    assert storage._store.config["access_key_id"] == "team-key"  # type: ignore[attr-defined]
    assert storage._store.config["region"] == s3_bucket.region  # type: ignore[attr-defined]
    with pytest.raises(RemoteError, match="profile 'other' is in neither") as error:
        open_storage(f"s3://{s3_bucket.name}/p", _s3_settings(s3_bucket, profile="other"))
    _one_line(error)


def test_keys_in_the_settings_win_and_stay_out_of_sight(
    s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nowhere")  # would fail if it were read
    settings = _s3_settings(s3_bucket, access_key_id="given-key", secret_access_key="hidden")
    storage = open_storage(f"s3://{s3_bucket.name}/p", settings)
    storage.put("HEAD", b"h")
    assert storage.get("HEAD") == b"h"
    assert storage._store.config["access_key_id"] == "given-key"  # type: ignore[attr-defined]
    assert "hidden" not in repr(settings) and "given-key" not in repr(settings)


# -- large files, ranges, listings with times ---------------------------------------------


def _s3_storage(bucket: S3Bucket, chunk_size: int) -> Storage:
    from mlv.remote.s3store import S3Storage

    storage = S3Storage(bucket.name, PREFIX, _s3_settings(bucket))
    storage.chunk_size = chunk_size
    return storage


def test_put_file_and_get_to_file(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    sent: list[int] = []
    storage.put_file("packs/big.pack", source, progress=sent.append)
    assert sum(sent) == len(data)
    assert storage.get("packs/big.pack") == data
    got: list[int] = []
    target = tmp_path / "out" / "copy.bin"
    target.parent.mkdir()
    assert storage.get_to_file("packs/big.pack", target, progress=got.append) == len(data)
    assert target.read_bytes() == data and sum(got) == len(data)
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.bin"]
    (tmp_path / "empty").write_bytes(b"")
    storage.put_file("empty", tmp_path / "empty")
    assert storage.get_to_file("empty", tmp_path / "empty.out") == 0
    assert (tmp_path / "empty.out").read_bytes() == b""


def test_a_multipart_upload_reads_back_exact(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    storage = _s3_storage(s3_bucket, 5 * 1024 * 1024)
    data = os.urandom(20 * 1024 * 1024 + 3)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    sent: list[int] = []
    storage.put_file("packs/huge.pack", source, progress=sent.append)
    assert sum(sent) == len(data) and len(sent) >= 4
    assert storage.get("packs/huge.pack") == data
    target = tmp_path / "copy.bin"
    assert storage.get_to_file("packs/huge.pack", target) == len(data)
    assert target.read_bytes() == data


def test_absent_keys_for_files_and_ranges(storage: Storage, tmp_path: Path) -> None:
    target = tmp_path / "never.bin"
    assert storage.get_to_file("packs/none.pack", target) is None
    assert not target.exists()
    with pytest.raises(RemoteError) as error:
        storage.get_range("packs/none.pack", 0, 1)
    assert "no such key" in _one_line(error)
    with pytest.raises(RemoteError) as error:
        storage.get_ranges("packs/none.pack", [(0, 1), (4, 2)])
    assert "no such key" in _one_line(error)


def test_an_upload_lands_whole_at_its_key_and_nowhere_before(
    storage: Storage, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    sent: list[int] = []
    upload = storage.open_upload("packs", scratch, sent.append)
    pieces = [os.urandom(1024 * 1024 + 3) for _ in range(3)]
    for piece in pieces:
        upload.write(piece)
    assert _keys(storage) == {}  # nothing is listed or readable before it lands
    upload.finish("packs/p1.pack")
    assert storage.get("packs/p1.pack") == b"".join(pieces)
    assert _keys(storage) == {"packs/p1.pack": sum(map(len, pieces))}
    assert sum(sent) == sum(map(len, pieces))
    assert list(scratch.iterdir()) == []  # a staged upload leaves no scratch behind


def test_an_abandoned_upload_leaves_nothing(storage: Storage, tmp_path: Path) -> None:
    upload = storage.open_upload("packs", tmp_path, None)
    upload.write(b"half a pack")
    upload.abandon()
    assert _keys(storage) == {}
    assert [p.name for p in tmp_path.iterdir() if p.name != "remote"] == []
    if isinstance(storage, PathStorage):
        assert [p.name for p in storage.root.rglob("*") if p.is_file()] == []


def test_a_folder_upload_on_a_full_disk_is_one_error_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    upload = PathStorage(root).open_upload("packs", tmp_path, None)

    class FullDisk(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    upload.out.close()  # type: ignore[attr-defined]
    upload.out = io.BufferedWriter(FullDisk())  # type: ignore[attr-defined]
    upload.write(b"a header")  # buffered: fails only when it reaches the disk
    with pytest.raises(RemoteError, match="No space left on device"):
        upload.write(os.urandom(1024 * 1024))
    upload.abandon()  # flushing the buffer fails again: the temporary goes all the same
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_put_file_of_a_missing_local_file(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(RemoteError) as error:
        storage.put_file("packs/a.pack", tmp_path / "nope.bin")
    message = _one_line(error)
    assert "nope.bin" in message and "No such file" in message
    with pytest.raises(RemoteError) as error:
        storage.put_file("packs/a.pack", tmp_path)
    assert "not a file" in _one_line(error)
    assert _keys(storage) == {}


RANGES = [(0, 5), (1000, 24), (4090, 6), (4095, 1), (0, 4096), (17, 0), (4096, 0)]


@pytest.mark.parametrize("start,length", RANGES, ids=[f"{s}+{n}" for s, n in RANGES])
def test_get_range(storage: Storage, start: int, length: int) -> None:
    data = os.urandom(4096)
    storage.put("packs/r.pack", data)
    assert storage.get_range("packs/r.pack", start, length) == data[start : start + length]


def test_get_ranges(storage: Storage) -> None:
    data = os.urandom(4096)
    storage.put("packs/r.pack", data)
    found = storage.get_ranges("packs/r.pack", RANGES)
    assert found == [data[s : s + n] for s, n in RANGES]
    assert storage.get_ranges("packs/r.pack", []) == []


PAST_THE_END = [(4096, 1), (4000, 97), (5000, 10), (4097, 0)]


@pytest.mark.parametrize("start,length", PAST_THE_END, ids=[f"{s}+{n}" for s, n in PAST_THE_END])
def test_a_range_past_the_end_is_refused(storage: Storage, start: int, length: int) -> None:
    storage.put("packs/r.pack", os.urandom(4096))
    with pytest.raises(RemoteError) as error:
        storage.get_range("packs/r.pack", start, length)
    message = _one_line(error)
    assert "truncated" in message and "4096 bytes" in message
    with pytest.raises(RemoteError) as error:
        storage.get_ranges("packs/r.pack", [(0, 10), (start, length)])
    assert "truncated" in _one_line(error)


def test_negative_ranges_are_programming_errors(storage: Storage) -> None:
    storage.put("packs/r.pack", b"abc")
    with pytest.raises(ValueError):
        storage.get_range("packs/r.pack", -1, 2)
    with pytest.raises(ValueError):
        storage.get_ranges("packs/r.pack", [(0, -2)])


def test_entries(storage: Storage) -> None:
    before = time.time()
    storage.put("refs/heads/main", b"1")
    storage.put("packs/ab.pack", b"4444")
    storage.put("HEAD", b"")
    entries = {e.key: e for e in storage.entries("")}
    assert {k: e.size for k, e in entries.items()} == {
        "refs/heads/main": 1,
        "packs/ab.pack": 4,
        "HEAD": 0,
    }
    for entry in entries.values():
        # S3 keeps whole seconds; a file system's clock may be a little behind ours.
        assert before - 2 <= entry.modified <= time.time() + 2
    assert [e.key for e in storage.entries("refs")] == ["refs/heads/main"]
    assert list(storage.entries("nothing")) == []
    assert _keys(storage) == {k: e.size for k, e in entries.items()}


def test_file_methods_check_keys(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(b"a")
    for call in (
        lambda: storage.put_file("../x", source),
        lambda: storage.get_to_file("a//b", tmp_path / "out"),
        lambda: storage.get_range("/x", 0, 1),
        lambda: storage.get_ranges("x.lock", [(0, 1)]),
        lambda: list(storage.entries("..")),
    ):
        with pytest.raises(ValueError):
            call()
