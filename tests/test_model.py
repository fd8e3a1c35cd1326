"""Layer 3: canonical bytes, ids, validation and golden fixtures of manifests, trees, commits."""

from __future__ import annotations

import json
import math
from fractions import Fraction
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
from mlv.model.runs import Artifact, Env, ParamsUse, Reproduction, Run
from mlv.model.tables import NON_FINITE, ColumnProfile, Profile

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


@pytest.mark.parametrize("version", [0, 2, 99, -1])
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


@pytest.mark.parametrize("version", ["1", None, True, [1], 1.0, {"v": 1}])
def test_a_format_that_is_not_an_integer_is_damage(version: Any) -> None:
    # No mlv writes one: the object is damaged, not of a newer format.
    for cls, data in [
        (Tree, GOLDEN_TREE_BYTES),
        (Commit, GOLDEN_COMMIT_BYTES),
        (FileManifest, GOLDEN_MANIFEST_BYTES),
    ]:
        doc = json.loads(data)
        doc["format"] = version
        with pytest.raises(FormatError, match="not an integer"):
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


@pytest.mark.parametrize("missing", ["runs", "code"])
def test_commit_without_a_field_is_refused(missing: str) -> None:
    # Every mlv has written both; a commit without one could not encode to its own id.
    doc = json.loads(GOLDEN_COMMIT_BYTES)
    del doc[missing]
    with pytest.raises(FormatError):
        Commit.from_bytes(dumps(doc))


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


# -- canonical JSON, as docs/format.md specifies it --------------------------------------
#
# A second encoder, written from the spec's words and not from Python's json module,
# held equal to dumps: if the two disagree, either the spec or the encoder is wrong, and
# a writer in another language following the spec would produce other bytes.


def _shortest_digits(x: float) -> tuple[str, int]:
    """The fewest significant digits that read back as ``x`` (> 0), the ones nearest to
    ``x`` among those (the even ones of a tie), and the decimal exponent of the first:
    x ~ d.ddd * 10**e."""
    exact = Fraction(x)
    for n in range(1, 18):
        mantissa, exponent = f"{x:.{n - 1}e}".split("e")  # correctly rounded to n digits
        scale = int(exponent) - (n - 1)
        middle = int(mantissa.replace(".", ""))
        found = []
        for digits in (middle - 1, middle, middle + 1):
            value = digits * Fraction(10) ** scale
            if digits > 0 and _reads_back(value, x):
                found.append((abs(value - exact), digits))
        if found:
            # The nearest; of two equally near, the one whose last digit is even.
            digits = min(found, key=lambda f: (f[0], f[1] % 2))[1]
            text = str(digits)
            return text.rstrip("0") or "0", len(text) - 1 + scale
    raise AssertionError(f"no digits read back as {x!r}")


def _reads_back(value: Fraction, x: float) -> bool:
    try:
        return float(value) == x  # a correctly rounded conversion
    except OverflowError:
        return False


def spec_float(x: float) -> str:
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    digits, exponent = _shortest_digits(abs(x))
    if -4 <= exponent < 16:  # fixed notation, always with a fraction
        if exponent >= 0:
            whole = digits[: exponent + 1].ljust(exponent + 1, "0")
            fraction = digits[exponent + 1 :] or "0"
        else:
            whole, fraction = "0", "0" * (-exponent - 1) + digits
        return f"{sign}{whole}.{fraction}"
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
_SHORT_ESCAPES["\t"] = "\\t"


def spec_string(text: str) -> str:
    out = []
    for char in text:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)  # everything else as itself, DEL and U+2028 included
    return '"' + "".join(out) + '"'


def spec_dumps(value: Any) -> bytes:
    def encode(v: Any) -> str:
        if v is None:
            return "null"
        if v is True or v is False:
            return "true" if v else "false"
        if isinstance(v, int):
            assert -(2**63) <= v <= 2**64 - 1
            return str(v)
        if isinstance(v, float):
            return spec_float(v)
        if isinstance(v, str):
            return spec_string(v)
        if isinstance(v, list):
            return "[" + ",".join(encode(item) for item in v) + "]"
        keys = sorted(v, key=lambda k: k.encode("utf-8"))
        return "{" + ",".join(spec_string(k) + ":" + encode(v[k]) for k in keys) + "}"

    return encode(value).encode("utf-8")


_ODD_FLOATS = [
    0.0, -0.0, 1.0, -1.0, 562949953421312.8, 0.1, 0.5, 1.5, 100.0, 1e-4, 1e-5, 1.5e-5,
    0.00012, 1e15, 1e16,
    9007199254740993.0, 123456789012345678.0, 1e22, 1e21 + 1, 2.0**-1074, 2.0**-1022,
    1.7976931348623157e308, 0.1 + 0.2, 1 / 3, 2 / 3, 1e-7, 4.35, 2.0**53, 2.0**60,
    float(2**63), 9999999999999998.0, 0.30000000000000004, 5e-324, 1e100, 1.25e-300,
]  # fmt: skip


@pytest.mark.parametrize("x", _ODD_FLOATS)
def test_floats_are_written_as_the_spec_says(x: float) -> None:
    for value in (x, -x):
        assert dumps(value) == spec_dumps(value)
        assert float(dumps(value)) == value
    if x > 0:
        assert dumps(-x) == b"-" + dumps(x)


def test_float_spelling_examples() -> None:
    # The examples docs/format.md gives, so that the spec's own text is held true.
    examples = {
        1.0: "1.0", 100.0: "100.0", 0.1: "0.1", -0.0: "-0.0", 1.5e-5: "1.5e-05",
        1e-7: "1e-07", 0.0001: "0.0001", 1e15: "1000000000000000.0", 1e16: "1e+16",
        1.5e300: "1.5e+300", 5e-324: "5e-324", 0.1 + 0.2: "0.30000000000000004",
        0.000123: "0.000123", 1500.0: "1500.0", 2.5e-100: "2.5e-100", 1e-05: "1e-05",
        1.7976931348623157e308: "1.7976931348623157e+308",
    }  # fmt: skip
    for x, text in examples.items():
        assert dumps(x) == text.encode(), x


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_is_written_as_the_spec_says(x: float) -> None:
    assert dumps(x) == spec_dumps(x)


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**63), 2**64 - 1))
def test_integers_are_plain_decimal(n: int) -> None:
    assert dumps(n) == spec_dumps(n) == str(n).encode()
    assert loads(dumps(n)) == n and type(loads(dumps(n))) is int


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_strings_are_escaped_as_the_spec_says(text: str) -> None:
    assert dumps(text) == spec_dumps(text)
    assert loads(dumps(text)) == text


canonical_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_name_chars, max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(_name_chars, max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(canonical_values)
def test_whole_values_are_written_as_the_spec_says(value: Any) -> None:
    # Keys by the UTF-8 bytes of their names (the same order as by code point).
    assert dumps(value) == spec_dumps(value)
    assert dumps(loads(dumps(value))) == dumps(value)


@pytest.mark.parametrize(
    "value",
    [2**64, -(2**63) - 1, 10**30, {"x": [2**70]}, float("nan"), float("inf"), "\ud800"],
)
def test_values_canonical_json_cannot_hold_are_refused_when_written(value: Any) -> None:
    with pytest.raises(ValueError):
        dumps(value)


def test_keys_that_are_not_strings_are_refused_when_written() -> None:
    # json.dumps would write 1 as "1", and the value would not read back equal.
    with pytest.raises(TypeError):
        dumps({1: "a"})


@pytest.mark.parametrize(
    "data",
    [
        b"18446744073709551616",  # 2**64
        b"-9223372036854775809",  # -(2**63) - 1
        b"1" * 5000,  # beyond Python's own limit on digits
        b"[NaN]",
        b"[Infinity]",
        b"[-Infinity]",
        b"[1e999]",
        b'["\\ud800"]',
        b"\xef\xbb\xbf{}",  # a byte order mark
        b'{"a":"\xe9"}',  # Latin-1, not UTF-8
        b"[1,]",
    ],
)
def test_what_dumps_never_writes_is_refused_when_read(data: bytes) -> None:
    with pytest.raises(FormatError):
        loads(data)


# -- only canonical bytes are objects ----------------------------------------------------


def _replace(data: bytes, old: str, new: str) -> bytes:
    assert old.encode() in data, old
    return data.replace(old.encode(), new.encode(), 1)


_COMMIT_AUTHOR = '"author":{"email":"ada@example.com","name":"Ada Lovelace"}'
NON_CANONICAL_COMMITS = {
    "space after a colon": _replace(GOLDEN_COMMIT_BYTES, '"time":', '"time": '),
    "space after a comma": _replace(GOLDEN_COMMIT_BYTES, ',"runs"', ', "runs"'),
    "newline at the end": GOLDEN_COMMIT_BYTES + b"\n",
    "space at the start": b" " + GOLDEN_COMMIT_BYTES,
    "trailing bytes": GOLDEN_COMMIT_BYTES + b"{}",
    "byte order mark": b"\xef\xbb\xbf" + GOLDEN_COMMIT_BYTES,
    "keys out of order": _replace(
        GOLDEN_COMMIT_BYTES,
        _COMMIT_AUTHOR,
        '"author":{"name":"Ada Lovelace","email":"ada@example.com"}',
    ),
    "duplicate key": _replace(
        GOLDEN_COMMIT_BYTES, '"time":1700000000', '"time":1,"time":1700000000'
    ),
    "escaped non-ASCII": _replace(GOLDEN_COMMIT_BYTES, "café", "caf\\u00e9"),
    "escaped newline as \\u": _replace(GOLDEN_COMMIT_BYTES, "data\\n", "data\\u000a"),
    "escaped slash": _replace(GOLDEN_COMMIT_BYTES, "Train on", "Train\\/on"),
    "format 1.0": _replace(GOLDEN_COMMIT_BYTES, '"format":1', '"format":1.0'),
    "format as a string": _replace(GOLDEN_COMMIT_BYTES, '"format":1', '"format":"1"'),
    "format true": _replace(GOLDEN_COMMIT_BYTES, '"format":1', '"format":true'),
    "time as a float": _replace(GOLDEN_COMMIT_BYTES, "1700000000", "1700000000.0"),
    "time with an exponent": _replace(GOLDEN_COMMIT_BYTES, "1700000000", "1.7e9"),
    "time as a string": _replace(GOLDEN_COMMIT_BYTES, "1700000000", '"1700000000"'),
    "time true": _replace(GOLDEN_COMMIT_BYTES, "1700000000", "true"),
    "tz_offset -0": _replace(GOLDEN_COMMIT_BYTES, '"tz_offset":60', '"tz_offset":-0'),
    "tz_offset 6e1": _replace(GOLDEN_COMMIT_BYTES, '"tz_offset":60', '"tz_offset":6e1'),
    "tz_offset too large": _replace(
        GOLDEN_COMMIT_BYTES, '"tz_offset":60', '"tz_offset":18446744073709551616'
    ),
    "an unknown field": _replace(GOLDEN_COMMIT_BYTES, '"time"', '"tags":[],"time"'),
    "a missing field": _replace(GOLDEN_COMMIT_BYTES, '"runs":[],', ""),
    "author with one more field": _replace(
        GOLDEN_COMMIT_BYTES, '"name":"Ada Lovelace"}', '"name":"Ada Lovelace","x":1}'
    ),
    "name as a number": _replace(GOLDEN_COMMIT_BYTES, '"Ada Lovelace"', "5"),
    "NaN in the code": _replace(GOLDEN_COMMIT_BYTES, '"code":{}', '"code":{"x":NaN}'),
    "Infinity in the code": _replace(GOLDEN_COMMIT_BYTES, '"code":{}', '"code":{"x":Infinity}'),
    "a float not in its shortest form": _replace(
        GOLDEN_COMMIT_BYTES, '"code":{}', '"code":{"x":1.50}'
    ),
    "a float with a capital E": _replace(GOLDEN_COMMIT_BYTES, '"code":{}', '"code":{"x":1E+16}'),
    "a float's exponent unpadded": _replace(GOLDEN_COMMIT_BYTES, '"code":{}', '"code":{"x":1e-7}'),
    "a float in fixed notation past 1e16": _replace(
        GOLDEN_COMMIT_BYTES, '"code":{}', '"code":{"x":100000000000000000.0}'
    ),
    "an integral float without .0": _replace(GOLDEN_COMMIT_BYTES, '"code":{}', '"code":{"x":1e2}'),
    "more digits than a double holds": _replace(
        GOLDEN_COMMIT_BYTES, '"code":{}', '"code":{"x":0.10000000000000001}'
    ),
    "an integer too large": _replace(
        GOLDEN_COMMIT_BYTES, '"code":{}', '"code":{"x":18446744073709551616}'
    ),
    "a leading zero": _replace(GOLDEN_COMMIT_BYTES, '"tz_offset":60', '"tz_offset":060'),
    "a lone surrogate": _replace(GOLDEN_COMMIT_BYTES, "café", "caf\\ud800"),
    "a raw control character": _replace(GOLDEN_COMMIT_BYTES, "data\\n", "data\n"),
    "a control character as \\u00XX in capitals": _replace(
        GOLDEN_COMMIT_BYTES, "data\\n", "data\\u001F"
    ),
}


def test_the_commit_variants_start_from_canonical_bytes() -> None:
    assert Commit.from_bytes(GOLDEN_COMMIT_BYTES) == GOLDEN_COMMIT
    assert len(set(NON_CANONICAL_COMMITS.values())) == len(NON_CANONICAL_COMMITS)


@pytest.mark.parametrize("what", sorted(NON_CANONICAL_COMMITS))
def test_non_canonical_bytes_are_refused_as_damage(what: str) -> None:
    data = NON_CANONICAL_COMMITS[what]
    with pytest.raises(FormatError) as caught:
        Commit.from_bytes(data)
    assert "\n" not in str(caught.value)


def test_a_refusal_says_where_the_bytes_differ() -> None:
    at = GOLDEN_COMMIT_BYTES.index(b'"time":') + len('"time":')
    with pytest.raises(FormatError, match=f"not in canonical form.*at byte {at}, "):
        Commit.from_bytes(NON_CANONICAL_COMMITS["space after a colon"])
    with pytest.raises(FormatError, match="'time' appears twice"):
        Commit.from_bytes(NON_CANONICAL_COMMITS["duplicate key"])
    with pytest.raises(FormatError, match="BOM"):
        Commit.from_bytes(NON_CANONICAL_COMMITS["byte order mark"])
    with pytest.raises(FormatError, match="time must be an integer, not a number"):
        Commit.from_bytes(NON_CANONICAL_COMMITS["time as a float"])
    with pytest.raises(FormatError, match="unknown field 'tags'"):
        Commit.from_bytes(NON_CANONICAL_COMMITS["an unknown field"])
    with pytest.raises(FormatError, match="no field 'runs'"):
        Commit.from_bytes(NON_CANONICAL_COMMITS["a missing field"])


@pytest.mark.parametrize(
    ("data", "old", "new"),
    [
        (GOLDEN_MANIFEST_BYTES, '"size":100000', '"size":"100000"'),
        (GOLDEN_MANIFEST_BYTES, '"size":100000', '"size":100000.0'),
        (GOLDEN_MANIFEST_BYTES, '"size":100000', '"size":1e5'),
        (GOLDEN_MANIFEST_BYTES, ",40000]", ",true]"),
        (GOLDEN_MANIFEST_BYTES, ",40000]", ',40000,"x"]'),
        (GOLDEN_MANIFEST_BYTES, '"chunks":[[', '"chunks":[{"a":1},['),
        (GOLDEN_TREE_BYTES, '"size":8', '"size":"8"'),
        (GOLDEN_TREE_BYTES, '"size":8', '"size":8.0'),
        (GOLDEN_TREE_BYTES, '"size":8', '"size":true'),
        (GOLDEN_TREE_BYTES, '"size":8', '"size":9223372036854775808'),
        (GOLDEN_TREE_BYTES, '"exec":true', '"exec":1'),
        (GOLDEN_TREE_BYTES, '"kind":"file","name":"Z"', '"exec":false,"kind":"file","name":"Z"'),
        (GOLDEN_TREE_BYTES, '"kind":"file","name":"Z"', '"kind":"file","name":"Z","profile":null'),
        (GOLDEN_TREE_BYTES, '"kind":"file","name":"Z"', '"kind":"file","mode":420,"name":"Z"'),
        (GOLDEN_TREE_BYTES, '"entries":[', '"entries":[5,'),
    ],
)
def test_fields_of_the_wrong_json_type_are_refused(data: bytes, old: str, new: str) -> None:
    with pytest.raises(FormatError):
        type_of = {GOLDEN_MANIFEST_BYTES: FileManifest, GOLDEN_TREE_BYTES: Tree}[data]
        type_of.from_bytes(_replace(data, old, new))


def test_an_object_built_with_wrong_types_fails_its_check() -> None:
    with pytest.raises(FormatError, match="size must be an integer"):
        FileManifest("5", ((ID_A, 5),)).check()  # type: ignore[arg-type]
    with pytest.raises(FormatError, match="impossible size"):
        Tree.of([TreeEntry("x", KIND_FILE, ID_A, True)]).check()
    with pytest.raises(FormatError, match="time must be an integer"):
        Commit(ID_A, (), Person("a", "b"), 1.0, 0, "").check()  # type: ignore[arg-type]
    with pytest.raises(FormatError, match="author name must be a string"):
        Commit(ID_A, (), Person(5, "b"), 1, 0, "").check()  # type: ignore[arg-type]


# -- round trips of the run, env, reproduction and profile objects ------------------------

paths = st.lists(
    st.text(
        st.characters(blacklist_characters="/\\\x00", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=6,
    ).filter(lambda p: p not in (".", "..")),
    min_size=1,
    max_size=3,
).map("/".join)
texts = st.text(_name_chars, max_size=20)
text_maps = st.dictionaries(texts, texts, max_size=4)
json_objects = st.dictionaries(texts, canonical_values, max_size=4)
artifacts = st.builds(
    Artifact, id=object_ids, kind=st.sampled_from(["file", "dir"]), size=st.integers(0, 2**63 - 1)
)
envs = st.builds(
    Env,
    python=texts,
    implementation=texts,
    platform=texts,
    machine=texts,
    packages=text_maps,
    variables=text_maps,
)


@st.composite
def runs(draw: st.DrawFn) -> Run:
    outs = draw(st.dictionaries(paths, artifacts, max_size=4))
    metrics = (
        {p: draw(json_objects) for p in draw(st.lists(st.sampled_from(sorted(outs))))}
        if outs
        else {}
    )
    return Run(
        name=draw(texts),
        cmd=draw(texts),
        wdir=draw(st.just("") | paths),
        deps=draw(st.dictionaries(paths, artifacts, max_size=4)),
        outs=outs,
        params=draw(
            st.dictionaries(paths, st.builds(ParamsUse, artifacts, json_objects), max_size=2)
        ),
        metrics=metrics,
        env=draw(object_ids),
        started=draw(st.integers(-(2**63), 2**63 - 1)),
        duration_ms=draw(st.integers(0, 2**63 - 1)),
        exit_code=draw(st.integers(-(2**31), 2**31)),
        user=draw(texts),
        host=draw(texts),
        pipeline=draw(st.sampled_from(["", "mlv.yaml", "dvc.yaml"])),
        variables=draw(text_maps),
        code=draw(json_objects),
    )


reproductions = st.builds(
    Reproduction,
    commit=object_ids,
    runs=st.lists(object_ids, max_size=3).map(tuple),
    results=st.dictionaries(paths, json_objects, max_size=3),
    verdict=st.sampled_from(["reproduced", "different", "failed"]),
    env=object_ids,
    drift=st.dictionaries(texts, st.lists(texts, min_size=2, max_size=2), max_size=3),
    options=json_objects,
    user=texts,
    host=texts,
    time=st.integers(0, 2**40),
    duration_ms=st.integers(0, 2**40),
)
column_stats = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    rows = draw(st.integers(0, 2**63 - 1))
    column = st.builds(
        ColumnProfile,
        name=texts,
        type=st.sampled_from(["int64", "uint64", "double", "string", "list<item: string>"]),
        nulls=st.integers(0, rows),
        min=column_stats,
        max=column_stats,
        mean=st.none()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.sampled_from(NON_FINITE),
        distinct=st.none() | st.integers(0, rows),
    )
    table_format = draw(st.sampled_from(["parquet", "csv", "arrow", "jsonl"]))
    return Profile(table_format, rows, tuple(draw(st.lists(column, max_size=5))))


@settings(max_examples=60, deadline=None)
@given(runs())
def test_run_round_trip(run: Run) -> None:
    _round_trip(run)


@settings(max_examples=60, deadline=None)
@given(envs)
def test_env_round_trip(env: Env) -> None:
    _round_trip(env)


@settings(max_examples=60, deadline=None)
@given(reproductions)
def test_reproduction_round_trip(reproduction: Reproduction) -> None:
    _round_trip(reproduction)


@settings(max_examples=60, deadline=None)
@given(profiles())
def test_profile_round_trip(profile: Profile) -> None:
    _round_trip(profile)


_RUN = Run(
    name="train",
    cmd="python train.py",
    wdir="",
    deps={"data.csv": Artifact(ID_A, "file", 5)},
    outs={"model.pkl": Artifact(ID_B, "file", 7), "metrics.json": Artifact(ID_A, "file", 5)},
    params={"params.yaml": ParamsUse(Artifact(ID_B, "file", 3), {"lr": 0.1})},
    metrics={"metrics.json": {"acc": 0.9}},
    env=ID_A,
    started=1_700_000_000,
    duration_ms=1200,
    exit_code=0,
    user="Ada <ada@example.com>",
    host="box",
)
_ENV = Env("3.11.7", "CPython", "Linux", "x86_64", {"numpy": "1.26.0"}, {"PYTHONHASHSEED": "0"})
_REPRODUCTION = Reproduction(
    ID_A, (ID_B,), {"model.pkl": {"result": "identical"}}, "reproduced", ID_A,
    {"numpy": ["1.26.0", "2.0.0"]}, {"rtol": 1e-07}, "Ada", "box", 1_700_000_000, 5,
)  # fmt: skip
_PROFILE = Profile("csv", 3, (ColumnProfile("x", "int64", 1, 1, 2, 1.5, 2),))

WRONG_TYPES = [
    (_RUN, '"started":1700000000', '"started":"1700000000"'),
    (_RUN, '"started":1700000000', '"started":1700000000.0'),
    (_RUN, '"duration_ms":1200', '"duration_ms":true'),
    (_RUN, '"duration_ms":1200', '"duration_ms":-1200'),
    (_RUN, '"exit_code":0', '"exit_code":false'),
    (_RUN, '"exit_code":0', '"exit_code":-0'),
    (_RUN, '"size":5}', '"size":"5"}'),
    (_RUN, '"size":5}', '"size":5.0}'),
    (_RUN, '"size":5}', '"size":-5}'),
    (_RUN, '"host":"box"', '"host":null'),
    (_RUN, '"pipeline":""', '"pipeline":0'),
    (_RUN, '"variables":{}', '"variables":{"X":1}'),
    (_RUN, '"variables":{}', '"variables":[]'),
    (_RUN, '"metrics":{"metrics.json":{"acc":0.9}}', '"metrics":{"metrics.json":[0.9]}'),
    (_RUN, '"format":1', '"code":{},"format":1'),  # left out when empty
    (_RUN, f'"env":"{ID_A}"', f'"env":"{ID_A.upper()}"'),
    (_ENV, '"numpy":"1.26.0"', '"numpy":1.26'),
    (_ENV, '"python":"3.11.7"', '"python":3.11'),
    (_ENV, '"packages":{', '"packages":{"a":null,'),
    (_REPRODUCTION, '"time":1700000000', '"time":"1700000000"'),
    (_REPRODUCTION, '"duration_ms":5', '"duration_ms":5.0'),
    (_REPRODUCTION, '["1.26.0","2.0.0"]', '["1.26.0",2]'),
    (_REPRODUCTION, '["1.26.0","2.0.0"]', '"1.26.0"'),
    (_REPRODUCTION, '"rtol":1e-07', '"rtol":1e-7'),
    (_REPRODUCTION, '"rtol":1e-07', '"rtol":0.0000001'),
    (_PROFILE, '"rows":3', '"rows":"3"'),
    (_PROFILE, '"rows":3', '"rows":3.0'),
    (_PROFILE, '"nulls":1', '"nulls":true'),
    (_PROFILE, '"distinct":2', '"distinct":2.0'),
    (_PROFILE, '"mean":1.5', '"mean":true'),
    (_PROFILE, '"mean":1.5', '"mean":"1.5"'),
    (_PROFILE, '"name":"x"', '"name":7'),
]


@pytest.mark.parametrize(("obj", "old", "new"), WRONG_TYPES)
def test_run_env_reproduction_and_profile_fields_are_strict(obj: Any, old: str, new: str) -> None:
    data = obj.to_bytes()
    assert type(obj).from_bytes(data) == obj
    with pytest.raises(FormatError):
        type(obj).from_bytes(_replace(data, old, new))


def test_a_recorded_metric_beyond_64_bits_is_kept_as_text() -> None:
    # Metrics and params come from the user's files; what canonical JSON cannot hold
    # as a number is recorded as text, as NaN is, rather than failing the run.
    from mlv.runs.recorder import plain

    values = plain({"big": 10**30, "small": -(2**63), "nan": float("nan")})
    assert loads(dumps(values)) == {"big": str(10**30), "small": -(2**63), "nan": "nan"}
