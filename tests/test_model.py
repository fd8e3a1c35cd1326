"""Layer 3: canonical bytes, ids, validation and golden fixtures of manifests, trees, commits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlv.core.hashing import hash_bytes
from mlv.errors import FormatError, MlvError, UnsafePathError, UnsupportedVersionError
from mlv.model.canonical import dumps, loads
from mlv.model.objects import (
    ENTRY_KINDS,
    KIND_DIR,
    KIND_FILE,
    KIND_SYMLINK,
    OBJECT_TYPES,
    Commit,
    FileManifest,
    Person,
    Tree,
    TreeEntry,
    check_entry_name,
    object_type,
)

ID_A = hash_bytes(b"a")
ID_B = hash_bytes(b"b")

# -- golden byte fixtures ------------------------------------------------------
#
# These pin the object format (docs/format.md, "Objects"). They were computed once and
# pasted here. If a change to the code makes them fail, that change alters the bytes, and
# so the ids, of every stored object: it is a format change that needs a new format
# version (StoredObject.FORMAT), a reader for the old one, and an entry in the changes
# log of docs/format.md. Never "fix" this test by pasting new values.

GOLDEN_TREE_ENTRIES = [
    TreeEntry("train.csv", KIND_FILE, hash_bytes(b"a,b\n1,2\n"), 8, profile=hash_bytes(b"profile")),
    TreeEntry("run.sh", KIND_FILE, hash_bytes(b"#!/bin/sh\n"), 10, executable=True),
    TreeEntry("latest", KIND_SYMLINK, hash_bytes(b"run.sh"), 6),
    TreeEntry("données", KIND_DIR, hash_bytes(b"dir"), 0),
    TreeEntry("Z", KIND_FILE, hash_bytes(b""), 0),
]
GOLDEN_TREE_BYTES = (
    '{"entries":['
    '{"id":"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",'
    '"kind":"file","name":"Z","size":0},'
    '{"id":"01a12ae113a1e3a31313e1464fb777f1ba8c15e844f98a53e25f8e3ece0673b7",'
    '"kind":"dir","name":"données","size":0},'
    '{"id":"d0c9946a9a8c96c751d4b25e02ff4d72b71462bc805d3862ab9e94a35efd51a6",'
    '"kind":"symlink","name":"latest","size":6},'
    '{"exec":true,"id":"bc1f407a11c9377c8b9b13f956b279c8462775105eb958fc9ae3c40de87cc96e",'
    '"kind":"file","name":"run.sh","size":10},'
    '{"id":"c42223f1fbf292f60491e1d0666e49af4b7eb75a63385041b98391acecf68562",'
    '"kind":"file","name":"train.csv",'
    '"profile":"eda5d831cf40b9fa97713a4eb5eec65e322a1a05ab2c8dad5ce1f7907e10236c","size":8}'
    '],"format":1,"type":"tree"}'
).encode()
GOLDEN_TREE_ID = "b3870a4689189f100b505ce63bd69dc7ca1c275d4d6e5ec1dfac24787db35b7f"

GOLDEN_COMMIT = Commit(
    tree=GOLDEN_TREE_ID,
    parents=(hash_bytes(b"parent"),),
    author=Person("Ada Lovelace", "ada@example.com"),
    time=1_700_000_000,
    tz_offset=60,
    message="Train on clean data\n\nSecond paragraph: café.\n",
)
GOLDEN_COMMIT_BYTES = (
    '{"author":{"email":"ada@example.com","name":"Ada Lovelace"},"code":{},"format":1,'
    '"message":"Train on clean data\\n\\nSecond paragraph: café.\\n",'
    '"parents":["ebdea6058df2230dc25b7a7c7b487b470c508c2e0a5119c96893c443de3a9e79"],'
    '"runs":[],"time":1700000000,'
    '"tree":"b3870a4689189f100b505ce63bd69dc7ca1c275d4d6e5ec1dfac24787db35b7f",'
    '"type":"commit","tz_offset":60}'
).encode()
GOLDEN_COMMIT_ID = "cad5db1e07205c45a70e880971a4780bf66d5a7b662480c87beb774ceda3d5ac"

GOLDEN_MANIFEST = FileManifest(100_000, ((hash_bytes(b"x"), 60_000), (hash_bytes(b"y"), 40_000)))
GOLDEN_MANIFEST_BYTES = (
    b'{"chunks":[["3ae7d805f6789a6402acb70ad4096a85a56bf6804eaf25c0493ac697548d30b5",60000],'
    b'["08112a9e334ce73042b531c25668cf5cb12a1ee040a4326afeac065461079a06",40000]],'
    b'"format":1,"size":100000,"type":"file"}'
)


def test_golden_tree() -> None:
    tree = Tree.of(GOLDEN_TREE_ENTRIES)
    assert [e.name for e in tree.entries] == ["Z", "données", "latest", "run.sh", "train.csv"]
    assert tree.to_bytes() == GOLDEN_TREE_BYTES
    assert tree.id == GOLDEN_TREE_ID == hash_bytes(GOLDEN_TREE_BYTES)
    assert Tree.from_bytes(GOLDEN_TREE_BYTES) == tree


def test_golden_commit() -> None:
    assert GOLDEN_COMMIT.to_bytes() == GOLDEN_COMMIT_BYTES
    assert GOLDEN_COMMIT.id == GOLDEN_COMMIT_ID == hash_bytes(GOLDEN_COMMIT_BYTES)
    assert Commit.from_bytes(GOLDEN_COMMIT_BYTES) == GOLDEN_COMMIT
    assert GOLDEN_COMMIT.summary == "Train on clean data"


def test_golden_manifest() -> None:
    assert GOLDEN_MANIFEST.to_bytes() == GOLDEN_MANIFEST_BYTES
    assert FileManifest.from_bytes(GOLDEN_MANIFEST_BYTES) == GOLDEN_MANIFEST


# -- canonical JSON ------------------------------------------------------------


def test_canonical_json_rules() -> None:
    value = {"b": [1, {"z": None, "y": True}], "a": "ü €", "é": 1.5}
    out = dumps(value)
    # Sorted keys (by code point), no spaces, UTF-8 unescaped, separators "," and ":".
    assert out == '{"a":"ü €","b":[1,{"y":true,"z":null}],"é":1.5}'.encode()
    assert b"\\u" not in out and b" " not in out.replace("ü €".encode(), b"")
    assert loads(out) == value
    assert dumps(loads(out)) == out


def test_canonical_json_refuses_nan_and_bad_input() -> None:
    with pytest.raises(ValueError):
        dumps({"x": float("nan")})
    with pytest.raises(FormatError):
        loads(b"{not json")
    with pytest.raises(FormatError):
        loads(b'{"a":"\xff"}')  # not UTF-8


# -- hypothesis round trips ----------------------------------------------------

object_ids = st.binary(min_size=32, max_size=32).map(bytes.hex)
_name_chars = st.characters(blacklist_categories=("Cs",))


def _safe(name: str) -> bool:
    try:
        check_entry_name(name)
    except UnsafePathError:
        return False
    return True


names = st.text(_name_chars, min_size=1, max_size=24).filter(_safe)
entries = st.builds(
    TreeEntry,
    name=names,
    kind=st.sampled_from(ENTRY_KINDS),
    id=object_ids,
    size=st.integers(0, 2**53),
    executable=st.booleans(),
    profile=st.none() | object_ids,
)
trees = st.lists(entries, max_size=12, unique_by=lambda e: e.name).map(Tree.of)
manifests = st.lists(st.tuples(object_ids, st.integers(1, 2**20)), max_size=20).map(
    lambda chunks: FileManifest(sum(n for _, n in chunks), tuple(chunks))
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_name_chars, max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
commits = st.builds(
    Commit,
    tree=object_ids,
    parents=st.lists(object_ids, max_size=3).map(tuple),
    author=st.builds(Person, st.text(_name_chars, max_size=30), st.text(_name_chars, max_size=30)),
    time=st.integers(0, 2**40),
    tz_offset=st.integers(-720, 840),
    message=st.text(_name_chars, max_size=200),
    runs=st.lists(object_ids, max_size=3).map(tuple),
    code=st.dictionaries(st.text(_name_chars, max_size=10), json_values, max_size=4),
)


def _round_trip(obj: Any) -> None:
    data = obj.to_bytes()
    again = type(obj).from_bytes(data)
    assert again == obj
    assert again.to_bytes() == data
    assert again.id == obj.id == hash_bytes(data)
    doc = json.loads(data)
    assert doc["type"] == obj.TYPE and doc["format"] == 1
    assert dumps(doc) == data  # the bytes are canonical
    assert object_type(data) == obj.TYPE


@settings(max_examples=60, deadline=None)
@given(manifests)
def test_manifest_round_trip(manifest: FileManifest) -> None:
    _round_trip(manifest)


@settings(max_examples=60, deadline=None)
@given(trees)
def test_tree_round_trip(tree: Tree) -> None:
    _round_trip(tree)
    keys = [e.name.encode("utf-8") for e in tree.entries]
    assert keys == sorted(keys)


@settings(max_examples=60, deadline=None)
@given(commits)
def test_commit_round_trip(commit: Commit) -> None:
    _round_trip(commit)


@settings(max_examples=30, deadline=None)
@given(st.lists(entries, min_size=2, max_size=6, unique_by=lambda e: e.name), st.randoms())
def test_tree_id_does_not_depend_on_insertion_order(entries_: list[TreeEntry], rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(entries_)
    rnd.shuffle(shuffled)
    assert Tree.of(entries_).id == Tree.of(shuffled).id


def test_tree_sorts_by_utf8_bytes_not_code_points() -> None:
    # By UTF-8 bytes (the same as code point order) U+FFFF sorts before U+10000; by UTF-16
    # code units (Java, JavaScript) it would sort after. UTF-8 byte order is the rule.
    tree = Tree.of(
        [TreeEntry("\U00010000", KIND_FILE, ID_A, 1), TreeEntry("\uffff", KIND_FILE, ID_A, 1)]
    )
    assert [e.name for e in tree.entries] == ["\uffff", "\U00010000"]
    tree.check()


def test_id_is_cached_and_equal_objects_share_it() -> None:
    a = Tree.of([TreeEntry("x", KIND_FILE, ID_A, 1)])
    b = Tree.of([TreeEntry("x", KIND_FILE, ID_A, 1)])
    assert a == b and a.id == b.id
    assert a.id is a.id
    assert Tree.of([TreeEntry("x", KIND_FILE, ID_A, 1, executable=True)]).id != a.id


def test_optional_entry_fields_are_left_out() -> None:
    doc = json.loads(Tree.of([TreeEntry("x", KIND_FILE, ID_A, 3)]).to_bytes())
    assert doc["entries"] == [{"id": ID_A, "kind": "file", "name": "x", "size": 3}]


def test_object_types_registry() -> None:
    assert {"file": FileManifest, "tree": Tree, "commit": Commit} == OBJECT_TYPES
    assert object_type(b"not json") is None
    assert object_type(b"[1]") is None


# -- check() failures ----------------------------------------------------------


def _tree_bytes(entries_: list[dict[str, Any]], **top: Any) -> bytes:
    return dumps({"type": "tree", "format": 1, "entries": entries_, **top})


def _entry(name: Any = "x", **fields: Any) -> dict[str, Any]:
    return {"name": name, "kind": "file", "id": ID_A, "size": 1, **fields}


def test_unsorted_entries_refused() -> None:
    tree = Tree((TreeEntry("b", KIND_FILE, ID_A, 1), TreeEntry("a", KIND_FILE, ID_A, 1)))
    with pytest.raises(FormatError, match="sorted"):
        tree.check()
    with pytest.raises(FormatError, match="sorted"):
        Tree.from_bytes(_tree_bytes([_entry("b"), _entry("a")]))


def test_duplicate_names_refused() -> None:
    with pytest.raises(FormatError):
        Tree.from_bytes(_tree_bytes([_entry("a"), _entry("a", id=ID_B)]))
    with pytest.raises(FormatError):
        Tree.of([TreeEntry("a", KIND_FILE, ID_A, 1), TreeEntry("a", KIND_DIR, ID_B, 1)]).check()


@pytest.mark.parametrize(
    "bad_id", ["", "abc", ID_A.upper(), ID_A[:-1], ID_A + "0", "z" * 64, None, 5, [ID_A]]
)
def test_bad_ids_refused(bad_id: Any) -> None:
    with pytest.raises(FormatError):
        Tree.from_bytes(_tree_bytes([_entry(id=bad_id)]))
    with pytest.raises(FormatError):
        Tree.from_bytes(_tree_bytes([_entry(profile=bad_id or "x")]))
    with pytest.raises(FormatError):
        FileManifest.from_bytes(
            dumps({"type": "file", "format": 1, "size": 1, "chunks": [[bad_id, 1]]})
        )
    good = json.loads(GOLDEN_COMMIT_BYTES)
    for field, value in [("tree", bad_id), ("parents", [bad_id]), ("runs", [bad_id])]:
        with pytest.raises(FormatError):
            Commit.from_bytes(dumps({**good, field: value}))


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "a/b", "/", "a\\b", "a\x00b", "\x00", ".mlv", ".git", ".Git", ".GIT", ".MLV"],
)
def test_unsafe_names_refused(name: str) -> None:
    with pytest.raises(UnsafePathError):
        check_entry_name(name)
    with pytest.raises(UnsafePathError):
        Tree.from_bytes(_tree_bytes([_entry(name)]))


@pytest.mark.parametrize(
    "name", ["a", "...", ".gitignore", ".mlvignore", "git", "a b", "日本", "a.."]
)
def test_safe_names_accepted(name: str) -> None:
    check_entry_name(name)
    Tree.from_bytes(_tree_bytes([_entry(name)]))


@pytest.mark.parametrize(
    "entry",
    [
        _entry(kind="link"),
        _entry(kind="FILE"),
        _entry(size=-1),
        _entry(name=5),
        _entry(name=None),
        {"name": "x", "kind": "file", "id": ID_A},  # no size
        _entry(size="big"),
    ],
)
def test_malformed_entries_refused(entry: dict[str, Any]) -> None:
    with pytest.raises(FormatError):
        Tree.from_bytes(_tree_bytes([entry]))


def test_wrong_type_field_refused() -> None:
    with pytest.raises(FormatError, match="expected a tree"):
        Tree.from_bytes(GOLDEN_COMMIT_BYTES)
    with pytest.raises(FormatError, match="expected a commit"):
        Commit.from_bytes(GOLDEN_TREE_BYTES)
    with pytest.raises(FormatError):
        FileManifest.from_bytes(dumps({"format": 1, "size": 0, "chunks": []}))
    with pytest.raises(FormatError):
        Tree.from_bytes(b"[]")
    with pytest.raises(FormatError):
        Tree.from_bytes(b"\xff\xfe")


@pytest.mark.parametrize("version", [0, 2, 99, "1", None, True, [1]])
def test_unsupported_format_version(version: Any) -> None:
    for cls, data in [
        (Tree, GOLDEN_TREE_BYTES),
        (Commit, GOLDEN_COMMIT_BYTES),
        (FileManifest, GOLDEN_MANIFEST_BYTES),
    ]:
        doc = json.loads(data)
        doc["format"] = version
        with pytest.raises(UnsupportedVersionError):
            cls.from_bytes(dumps(doc))


def test_missing_format_is_unsupported() -> None:
    doc = json.loads(GOLDEN_TREE_BYTES)
    del doc["format"]
    with pytest.raises(UnsupportedVersionError):
        Tree.from_bytes(dumps(doc))


@pytest.mark.parametrize(
    "body",
    [
        {"size": 5, "chunks": [[ID_A, 2], [ID_B, 2]]},  # lengths do not add up
        {"size": 0, "chunks": [[ID_A, 0]]},  # empty chunk
        {"size": -1, "chunks": [[ID_A, -1]]},
        {"size": 1, "chunks": [[ID_A]]},
        {"size": 1},
        {"size": 1, "chunks": "x"},
    ],
)
def test_bad_manifest_refused(body: dict[str, Any]) -> None:
    with pytest.raises(FormatError):
        FileManifest.from_bytes(dumps({"type": "file", "format": 1, **body}))


@pytest.mark.parametrize(
    "change",
    [{"author": "Ada"}, {"author": {"name": "Ada"}}, {"time": "noon"}, {"code": 5}, {"parents": 5}],
)
def test_malformed_commit_refused(change: dict[str, Any]) -> None:
    doc = {**json.loads(GOLDEN_COMMIT_BYTES), **change}
    with pytest.raises(MlvError):
        Commit.from_bytes(dumps(doc))


def test_commit_without_optional_fields_reads_with_defaults() -> None:
    doc = json.loads(GOLDEN_COMMIT_BYTES)
    del doc["runs"], doc["code"]
    commit = Commit.from_bytes(dumps(doc))
    assert commit == GOLDEN_COMMIT


def test_summary_of_empty_message() -> None:
    assert Commit(ID_A, (), Person("a", "b"), 0, 0, "").summary == ""


_any_name_chars = st.characters(blacklist_categories=("Cs",))
tree_entry_lists = st.lists(
    st.builds(
        TreeEntry,
        name=st.text(_any_name_chars, min_size=1, max_size=16),
        kind=st.sampled_from(["file", "dir", "symlink"]),
        id=st.binary(min_size=32, max_size=32).map(bytes.hex),
        size=st.integers(min_value=0, max_value=2**53),
        executable=st.booleans(),
        profile=st.none() | st.binary(min_size=32, max_size=32).map(bytes.hex),
    ),
    max_size=8,
    unique_by=lambda e: e.name,
)


@given(tree_entry_lists)
@settings(max_examples=300)
def test_fast_tree_encoding_is_the_canonical_json(entries: list[TreeEntry]) -> None:
    # encode_tree writes tree bytes by hand for speed; they must be canonical JSON exactly,
    # whatever the names hold (quotes, backslashes, control characters, any script).
    tree = Tree.of(entries)
    expected = dumps({"type": "tree", "format": 1, **tree.body()})
    assert tree.to_bytes() == expected
