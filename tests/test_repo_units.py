"""Layer 4 units: refs and reflog, config, trees, staging, blobs and revision parsing."""

from __future__ import annotations

import contextlib
import os
import random
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import flip_last_byte
from mlv.core.chunking import CHUNK_MIN, cut_buffer
from mlv.core.hashing import hash_bytes
from mlv.errors import (
    ChecksumMismatchError,
    FormatError,
    InvalidArgumentError,
    MigrationNeededError,
    ObjectMissingError,
    RefConflictError,
    UnsupportedVersionError,
)
from mlv.model.objects import KIND_DIR, FileManifest, Tree
from mlv.repo.blobs import (
    IN_MEMORY_LIMIT,
    READ_AHEAD,
    check_file,
    hash_file,
    iter_content,
    read_content,
    save_file,
)
from mlv.repo.config import Config
from mlv.repo.layout import CONFIG_FILE, HEAD_FILE, LOGS_DIR, MLV_DIR, REFS_DIR, Layout
from mlv.repo.refs import HEADS, TAGS, RefStore, check_ref_name
from mlv.repo.revisions import split_revision
from mlv.repo.staging import (
    COARSE_RACY_WINDOW_NS,
    RACY_WINDOW_NS,
    UNTRUSTED_MTIME,
    Staged,
    StagingArea,
    trusted_mtime,
)
from mlv.repo.trees import Entry, TreeReader, write_tree
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_CHUNK, KIND_MANIFEST

C1, C2, C3 = (hash_bytes(b"commit %d" % i) for i in range(3))
ZERO = "0" * 64
KIB = 1024
MIB = 1024 * KIB


def _random(n: int, seed: int = 0) -> bytes:
    return random.Random(seed * 7919 + n).randbytes(n)


def _new_store(folder: Path) -> ObjectStore:
    (folder / "packs").mkdir(parents=True)
    return ObjectStore(
        folder / "packs", sqlite3.connect(folder / "index.db", check_same_thread=False)
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ObjectStore]:
    s = _new_store(tmp_path / "store")
    yield s
    s.close()
    s.conn.close()


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    s = _new_store(tmp_path_factory.mktemp("shared"))
    yield s
    s.close()
    s.conn.close()


# -- refs ----------------------------------------------------------------------


@pytest.fixture
def refs(tmp_path: Path) -> RefStore:
    layout = Layout(tmp_path)
    (layout.refs / "heads").mkdir(parents=True)
    (layout.refs / "tags").mkdir()
    store = RefStore(layout)
    store.set_head_ref(HEADS + "main")
    return store


_REFLOG_LINE = re.compile(r"([0-9a-f]{64}) ([0-9a-f]{64}) (.*) (\d+)\t(.*)")


def _reflog(refs: RefStore, name: str) -> list[tuple[str, ...]]:
    text = (refs.layout.logs / name).read_text(encoding="utf-8")
    assert text.endswith("\n")
    lines = text.splitlines()
    parsed = [_REFLOG_LINE.fullmatch(line) for line in lines]
    assert all(parsed), lines
    return [m.groups() for m in parsed if m]


def test_head_file_and_unborn_branch(refs: RefStore) -> None:
    assert refs.layout.head.read_text() == "ref: refs/heads/main\n"
    head = refs.head()
    assert (head.ref, head.commit, head.branch) == ("refs/heads/main", None, "main")


def test_update_writes_the_ref_atomically(refs: RefStore) -> None:
    refs.update(HEADS + "main", C1, None, "Ada <ada@x>", "commit: first")
    path = refs.layout.mlv / REFS_DIR / "heads" / "main"
    assert path.read_bytes() == f"{C1}\n".encode()
    assert refs.read(HEADS + "main") == C1
    # Written through a temporary file renamed into place: nothing is left beside it.
    assert sorted(p.name for p in path.parent.iterdir()) == ["main"]
    refs.update(HEADS + "main", C2, C1)
    assert refs.read(HEADS + "main") == C2 and refs.head().commit == C2


def test_compare_and_swap_conflict(refs: RefStore) -> None:
    refs.update(HEADS + "main", C1, None)
    with pytest.raises(RefConflictError, match="moved"):
        refs.update(HEADS + "main", C3, C2)
    with pytest.raises(RefConflictError):
        refs.update(HEADS + "main", C3, None)  # expected absent, but it exists
    assert refs.read(HEADS + "main") == C1
    assert len(_reflog(refs, HEADS + "main")) == 1  # refused updates are not logged


def test_reflog_lines(refs: RefStore) -> None:
    refs.update(HEADS + "main", C1, None, "Ada Lovelace <ada@example.com>", "commit: first")
    refs.update_head(C2, "Ada Lovelace <ada@example.com>", "commit: two\nlines\n")
    lines = _reflog(refs, HEADS + "main")
    assert [(old, new, who, msg) for old, new, who, _t, msg in lines] == [
        (ZERO, C1, "Ada Lovelace <ada@example.com>", "commit: first"),
        (C1, C2, "Ada Lovelace <ada@example.com>", "commit: two lines "),
    ]
    assert all(abs(int(t) - time.time()) < 60 for *_, t, _m in lines)
    assert refs.reflog_ids() == {C1, C2}
    assert (refs.layout.mlv / LOGS_DIR / "refs" / "heads" / "main").is_file()


def test_detached_head(refs: RefStore) -> None:
    refs.update(HEADS + "main", C1, None)
    refs.set_head_detached(C2, message="checkout: moving to x")
    assert refs.layout.head.read_text() == f"{C2}\n"
    head = refs.head()
    assert (head.ref, head.commit, head.branch) == (None, C2, None)
    refs.update_head(C3)
    assert refs.head().commit == C3 and refs.read(HEADS + "main") == C1
    assert [(o, n) for o, n, *_ in _reflog(refs, HEAD_FILE)] == [(C1, C2), (C2, C3)]


def test_damaged_ref_and_head(refs: RefStore) -> None:
    (refs.layout.refs / "heads" / "main").write_text("not an id\n")
    with pytest.raises(FormatError):
        refs.read(HEADS + "main")
    refs.layout.head.write_text("garbage\n")
    with pytest.raises(FormatError):
        refs.head()


def test_list_and_delete(refs: RefStore) -> None:
    for name, commit in [("main", C1), ("feature/x", C2), ("feature/deep/y", C3)]:
        refs.update(HEADS + name, commit, None)
    (refs.layout.refs / "heads" / ".main.0123.tmp").write_text("half written")
    refs.update(TAGS + "v1", C1, None)
    assert refs.list(HEADS) == {"feature/deep/y": C3, "feature/x": C2, "main": C1}
    assert refs.list(TAGS) == {"v1": C1}
    assert refs.list("refs/remotes/") == {}
    refs.delete(HEADS + "feature/deep/y")
    assert not (refs.layout.refs / "heads" / "feature" / "deep").exists()
    assert (refs.layout.refs / "heads" / "feature" / "x").is_file()
    refs.delete(HEADS + "feature/x")
    assert not (refs.layout.refs / "heads" / "feature").exists()
    assert (refs.layout.refs / "heads").is_dir()
    assert refs.read(HEADS + "feature/x") is None


@pytest.mark.parametrize(
    "name",
    [
        "main",
        "feature/x",
        "v1.0",
        "release/2024.01",
        "a-b_c",
        "fix-#12",
        "UPPER",
        "日本",
        "a.b/c.d",
    ],
)
def test_ref_names_git_accepts(name: str) -> None:
    check_ref_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-x",
        "/x",
        "x/",
        "x.",
        "x.lock",
        "a.lock/b",
        "a..b",
        "a//b",
        "a@{1}",
        "@",
        "HEAD",
        "a b",
        "a\tb",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[b",
        "a\\b",
        ".hidden",
        "a/.b",
        "a\x7f",
        "a\x00",
    ],
)
def test_ref_names_git_refuses(name: str) -> None:
    with pytest.raises(InvalidArgumentError):
        check_ref_name(name)


# -- config --------------------------------------------------------------------


def test_config_round_trip(tmp_path: Path) -> None:
    path = tmp_path / CONFIG_FILE
    Config.default().save(path)
    assert Config.load(path) == Config.default() == Config(2, 3)
    text = path.read_text()
    assert "[core]\nformat = 2\n" in text and "[store]\ncompression_level = 3\n" in text
    Config(compression_level=19).save(path)
    assert Config.load(path).compression_level == 19
    assert [p.name for p in tmp_path.iterdir()] == [CONFIG_FILE]


def test_config_missing_sections_use_defaults(tmp_path: Path) -> None:
    path = tmp_path / CONFIG_FILE
    path.write_text("[core]\nformat = 2\n")
    assert Config.load(path) == Config.default()


def test_config_without_a_format_is_format_1(tmp_path: Path) -> None:
    # As mlv 0.2 read it: migrate must run, in case its index holds reproductions.
    path = tmp_path / CONFIG_FILE
    path.write_text("# empty\n")
    with pytest.raises(MigrationNeededError):
        Config.load(path)
    assert Config.load(path, migrating=True).format == 1


@pytest.mark.parametrize(
    "text",
    [
        "[core\nformat = 1\n",
        "format = = 1",
        "[store]\ncompression_level = 0\n",
        "[store]\ncompression_level = 23\n",
        "[store]\ncompression_level = true\n",
        '[store]\ncompression_level = "fast"\n',
    ],
)
def test_config_bad_content_is_a_format_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / CONFIG_FILE
    path.write_text(text)
    with pytest.raises(FormatError):
        Config.load(path)


def test_config_missing_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="missing"):
        Config.load(tmp_path / CONFIG_FILE)


@pytest.mark.parametrize("version", ["3", "0", '"2"', "2.0"])
def test_config_unknown_format(tmp_path: Path, version: str) -> None:
    path = tmp_path / CONFIG_FILE
    path.write_text(f"[core]\nformat = {version}\n")
    with pytest.raises(UnsupportedVersionError):
        Config.load(path)
    with pytest.raises(UnsupportedVersionError):
        Config.load(path, migrating=True)


def test_config_of_format_1_needs_migrate(tmp_path: Path) -> None:
    path = tmp_path / CONFIG_FILE
    path.write_text("[core]\nformat = 1\n")
    with pytest.raises(MigrationNeededError, match="run 'mlv migrate'"):
        Config.load(path)
    assert Config.load(path, migrating=True).format == 1


# -- trees ---------------------------------------------------------------------

_segments = st.sampled_from(["a", "b", "c", "data", "x.csv", "é", "Z", "a b", "..a"])
_paths = st.lists(_segments, min_size=1, max_size=4).map("/".join)
_entries = st.builds(
    Entry,
    kind=st.sampled_from(["file", "symlink"]),
    id=st.binary(min_size=32, max_size=32).map(bytes.hex),
    size=st.integers(0, 10**12),
    executable=st.booleans(),
)


def _no_clash(flat: dict[str, Entry]) -> bool:
    """No path is also a folder of another path (git forbids that too)."""
    folders = {p.rsplit("/", 1)[0] for p in flat if "/" in p}
    folders |= {f.rsplit("/", i)[0] for f in folders for i in range(1, f.count("/") + 1)}
    return not folders & set(flat)


_flats = st.dictionaries(_paths, _entries, max_size=25).filter(_no_clash)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_flats)
def test_write_tree_flatten_round_trip(shared_store: ObjectStore, flat: dict[str, Entry]) -> None:
    root = write_tree(shared_store, flat)
    reader = TreeReader(shared_store)
    assert reader.flatten(root) == flat
    # The same content gives the same root, whatever the order the paths came in.
    assert write_tree(shared_store, dict(reversed(list(flat.items())))) == root
    root_tree = reader.tree(root)
    assert sum(e.size for e in root_tree.entries) == sum(e.size for e in flat.values())


def test_empty_tree(store: ObjectStore) -> None:
    root = write_tree(store, {})
    assert root == Tree().id
    assert TreeReader(store).flatten(root) == {}
    assert TreeReader(store).flatten(None) == {}


def _entry(data: bytes, kind: str = "file", executable: bool = False) -> Entry:
    return Entry(kind, hash_bytes(data), len(data), executable)


SAMPLE = {
    "README.md": _entry(b"# hi\n"),
    "data/raw/a.csv": _entry(b"x\n1\n"),
    "data/raw/b.csv": _entry(b"x\n2\n"),
    "data/clean.parquet": _entry(b"PAR1"),
    "data2/z": _entry(b"z", executable=True),
    "link": _entry(b"data/raw", "symlink"),
}


def test_flatten_with_path_filters(store: ObjectStore) -> None:
    root = write_tree(store, SAMPLE)
    reader = TreeReader(store)

    def only(*paths: str) -> set[str]:
        return set(reader.flatten(root, list(paths)))

    assert only("data") == {"data/raw/a.csv", "data/raw/b.csv", "data/clean.parquet"}
    assert only("data/") == only("/data") == only("data")
    assert only("data/raw/a.csv") == {"data/raw/a.csv"}
    assert only("data/raw", "link") == {"data/raw/a.csv", "data/raw/b.csv", "link"}
    assert only("da") == set()  # a prefix of a name is not a folder
    assert only("missing/path") == set()
    assert only("") == only(".") == set(SAMPLE)
    assert only() == set()


def test_entry_at(store: ObjectStore) -> None:
    root = write_tree(store, SAMPLE)
    reader = TreeReader(store)
    folder = reader.entry_at(root, "data/raw")
    assert folder is not None and folder.kind == KIND_DIR and folder.size == 8
    assert reader.flatten(folder.id) == {
        "a.csv": SAMPLE["data/raw/a.csv"],
        "b.csv": SAMPLE["data/raw/b.csv"],
    }
    leaf = reader.entry_at(root, "/data2/z")
    assert leaf is not None and (leaf.kind, leaf.executable, leaf.id) == (
        "file",
        True,
        SAMPLE["data2/z"].id,
    )
    assert reader.entry_at(root, "link").kind == "symlink"  # type: ignore[union-attr]
    assert reader.entry_at(root, "nope") is None
    assert reader.entry_at(root, "README.md/x") is None  # through a file
    assert reader.entry_at(root, "data/raw/c.csv") is None
    assert reader.entry_at(root, "") is None


def test_write_tree_refuses_file_and_folder_at_one_path(store: ObjectStore) -> None:
    with pytest.raises(FormatError, match="both a file and a folder"):
        write_tree(store, {"a": _entry(b"1"), "a/b": _entry(b"2")})


# -- staging -------------------------------------------------------------------


@pytest.fixture
def staging(tmp_path: Path) -> Iterator[StagingArea]:
    conn = sqlite3.connect(tmp_path / "index.db")
    yield StagingArea(conn)
    conn.close()


def _staged(data: bytes, mtime: int = 1_000_000_001, ino: int = 7) -> Staged:
    return Staged("file", hash_bytes(data), len(data), False, mtime, ino)


def test_staging_apply_and_load(staging: StagingArea) -> None:
    assert staging.load() == {} and staging.known_tree() is None
    staging.apply([("a.txt", _staged(b"a")), ("d/b.txt", _staged(b"b"))], tree_id=C1)
    assert staging.load() == {"a.txt": _staged(b"a"), "d/b.txt": _staged(b"b")}
    assert staging.known_tree() == C1
    assert staging.load_paths(["a.txt", "zzz"]) == {"a.txt": _staged(b"a")}
    assert staging.load_stat_cache()["d/b.txt"] == ("d/b.txt", 1_000_000_001, 1, 7, "file", 0)
    staging.apply([("a.txt", _staged(b"A"))], ["d/b.txt"])
    assert staging.load() == {"a.txt": _staged(b"A")}
    assert staging.known_tree() is None  # any change without a tree forgets it
    staging.apply([("c", _staged(b"c"))], ["a.txt"], tree_id=C2)
    assert list(staging.load()) == ["c"] and staging.known_tree() == C2
    loaded = staging.load()["c"]
    assert isinstance(loaded.executable, int) and loaded.same_content(_staged(b"c", 5, 9))


@given(
    st.sets(
        st.lists(st.sampled_from(["a", "a.b", "a b", "b", "ab"]), min_size=1, max_size=3).map(
            "/".join
        )
    )
)
def test_top_levels_are_every_first_component_with_folders_and_files_interleaved(
    tmp_path_factory: pytest.TempPathFactory, paths: set[str]
) -> None:
    # "a.b" sorts between "a" and "a/…": the stage may hold a file "a" (or "a.b")
    # beside a folder "a/" only as history, but top_levels must finish on any stage.
    conn = sqlite3.connect(tmp_path_factory.mktemp("stage") / "index.db")
    staging = StagingArea(conn)
    staging.apply([(p, _staged(p.encode())) for p in paths])
    assert staging.top_levels() == sorted({p.partition("/")[0] for p in paths})
    conn.close()


def test_staging_is_one_transaction(staging: StagingArea) -> None:
    staging.apply([("a", _staged(b"a"))])
    bad = [("b", _staged(b"b")), ("c", Staged("file", None, 1, False, 0, 0))]  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        staging.apply(bad)
    assert list(staging.load()) == ["a"]


def test_refresh_stats_touches_only_rows_with_that_id(staging: StagingArea) -> None:
    staging.apply([("a", _staged(b"a")), ("b", _staged(b"b"))])
    staging.refresh_stats([("a", hash_bytes(b"a"), 42, 43), ("b", hash_bytes(b"old"), 42, 43)])
    rows = staging.load_paths(["a", "b"])
    assert rows["a"][4:] == (42, 43)
    assert rows["b"] == _staged(b"b")


def test_trusted_mtime_racy_window() -> None:
    now = 1_700_000_000_123_456_789
    assert trusted_mtime(now, now) == UNTRUSTED_MTIME
    assert trusted_mtime(now - RACY_WINDOW_NS // 2, now) == UNTRUSTED_MTIME
    assert trusted_mtime(now - RACY_WINDOW_NS - 1, now) == now - RACY_WINDOW_NS - 1
    assert trusted_mtime(now + 10**9, now) == UNTRUSTED_MTIME  # from the future
    # Whole-second mtimes (coarse file systems) need the wider window.
    coarse = (now // 10**9) * 10**9
    assert trusted_mtime(coarse, coarse + 10**9) == UNTRUSTED_MTIME
    assert trusted_mtime(coarse, coarse + COARSE_RACY_WINDOW_NS + 1) == coarse
    old = now - 3600 * 10**9
    assert trusted_mtime(old) == old


# -- blobs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [0, 1, 16 * KIB, 16 * KIB + 1, 3 * MIB, IN_MEMORY_LIMIT + MIB],
    ids=["0", "1", "16KiB", "16KiB+1", "3MiB", "9MiB-streamed"],
)
def test_save_file_then_read_content(store: ObjectStore, tmp_path: Path, size: int) -> None:
    data = _random(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    file_id, info = save_file(store, path, "file")
    assert file_id == hash_bytes(data) == hash_file(path, "file")[0]
    assert (info.kind, info.size) == ("file", size)
    chunks = [bytes(c) for c in cut_buffer(data)]
    expected_kind = KIND_CHUNK if len(chunks) == 1 else KIND_MANIFEST
    assert store.kind_of(file_id) == expected_kind
    assert read_content(store, file_id) == data  # before flush
    store.flush()
    assert read_content(store, file_id) == data
    if expected_kind == KIND_MANIFEST:
        manifest = FileManifest.from_bytes(store.get(file_id))
        # Streamed or read whole, a file is cut at the same points.
        assert manifest.chunks == tuple((hash_bytes(c), len(c)) for c in chunks)
        assert manifest.size == size
    assert size > CHUNK_MIN or expected_kind == KIND_CHUNK


def test_save_symlink(store: ObjectStore, tmp_path: Path) -> None:
    link = tmp_path / "latest"
    os.symlink("models/v3/model.pkl", link)
    object_id, info = save_file(store, link, "symlink")
    assert object_id == hash_bytes(b"models/v3/model.pkl") == hash_file(link, "symlink")[0]
    assert info.kind == "symlink"
    assert store.kind_of(object_id) == KIND_CHUNK
    assert read_content(store, object_id) == b"models/v3/model.pkl"


def test_saving_again_and_editing_dedups(store: ObjectStore, tmp_path: Path) -> None:
    data = _random(3 * MIB, 1)
    path = tmp_path / "table.bin"
    path.write_bytes(data)
    save_file(store, path, "file")
    store.flush()
    before = store.index.count()
    save_file(store, path, "file")
    store.flush()
    assert store.index.count() == before
    path.write_bytes(data[:MIB] + b"an edit" + data[MIB:])
    new_id, _ = save_file(store, path, "file")
    store.flush()
    # A new manifest plus the one or two chunks around the edit.
    assert 2 <= store.index.count() - before <= 4
    assert read_content(store, new_id) == path.read_bytes()


def test_read_content_verifies_the_whole_file(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectMissingError):
        read_content(store, hash_bytes(b"absent"))
    # A manifest that lists real chunks which do not make up its file.
    chunk = b"some other bytes"
    store.put(hash_bytes(chunk), KIND_CHUNK, chunk)
    lie = hash_bytes(b"the real file")
    store.put(
        lie, KIND_MANIFEST, FileManifest(len(chunk), ((hash_bytes(chunk), len(chunk)),)).to_bytes()
    )
    with pytest.raises(ChecksumMismatchError):
        list(iter_content(store, lie))


def test_a_large_file_read_ahead_is_in_order_and_checked(
    store: ObjectStore, tmp_path: Path
) -> None:
    data = _random(3 * MIB, 5)  # some forty chunks: read ahead on threads
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    file_id, _ = save_file(store, path, "file")
    store.flush()
    manifest = FileManifest.from_bytes(store.get(file_id))
    assert len(manifest.chunks) > READ_AHEAD
    assert b"".join(iter_content(store, file_id)) == data
    assert check_file(store, file_id, manifest)
    # The same chunks in another order make another file.
    swapped = (manifest.chunks[1], manifest.chunks[0], *manifest.chunks[2:])
    assert not check_file(store, file_id, FileManifest(manifest.size, swapped))
    # One byte of one chunk changed on disk: readers of each chunk and of the whole see it.
    flip_last_byte(store, manifest.chunks[len(manifest.chunks) // 2][0])
    store.close()
    fresh = ObjectStore(store.packs_dir, store.conn)
    with pytest.raises(ChecksumMismatchError):
        list(iter_content(fresh, file_id))
    # A compressed chunk may fail to decode before the whole is hashed: damage either way.
    with contextlib.suppress(ChecksumMismatchError):
        assert not check_file(fresh, file_id, manifest)
    fresh.close()


# -- revisions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("main", ("main", [])),
        ("main~2^2", ("main", [("~", 2), ("^", 2)])),
        ("HEAD^", ("HEAD", [("^", 1)])),
        ("HEAD^^", ("HEAD", [("^", 1), ("^", 1)])),
        ("abc~", ("abc", [("~", 1)])),
        ("v1.0~10", ("v1.0", [("~", 10)])),
        ("HEAD^0", ("HEAD", [("^", 0)])),
        ("~3", ("", [("~", 3)])),
        ("feature/x^2~1", ("feature/x", [("^", 2), ("~", 1)])),
    ],
)
def test_split_revision(text: str, expected: tuple[str, list[tuple[str, int]]]) -> None:
    assert split_revision(text) == expected


@pytest.mark.parametrize("text", ["main~x", "main~2x", "HEAD^-1", "a~1b", "HEAD^ ", "main^~q"])
def test_split_revision_errors(text: str) -> None:
    with pytest.raises(InvalidArgumentError):
        split_revision(text)


def test_layout_names() -> None:
    layout = Layout(Path("/r"))
    assert layout.mlv == Path("/r") / MLV_DIR == Path("/r/.mlv")
    assert (layout.config.name, layout.head.name, layout.index_db.name, layout.lock.name) == (
        "config.toml",
        "HEAD",
        "index.db",
        "lock",
    )
    assert (layout.refs.name, layout.logs.name, layout.packs.name) == ("refs", "logs", "packs")
