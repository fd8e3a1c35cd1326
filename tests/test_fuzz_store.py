"""Fuzzing every decoder of bytes read from disk below the repository: packs and objects.

The property is the same for all: given any bytes, a decoder returns a valid result or
raises an ``MlvError`` (``FormatError`` and its kin), never another exception. Inputs
are arbitrary bytes and mutations (flips, cuts, insertions, splices) of valid
encodings; structured inputs replace fields of valid objects with arbitrary JSON.
Each test states its ``max_examples``; together they generate 5,400 cases (about 20 s).
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlv.core.hashing import hash_bytes, id_to_bytes
from mlv.errors import MlvError
from mlv.model.canonical import dumps, loads
from mlv.model.objects import Commit, FileManifest, Person, Tree, TreeEntry, object_type
from mlv.model.runs import Artifact, Env, ParamsUse, Reproduction, Run
from mlv.model.tables import ColumnProfile, Profile
from mlv.repo.rebuild import _Found, _scan_pack
from mlv.repo.results import NoProgress
from mlv.store.index import ObjectIndex
from mlv.store.objectstore import ObjectStore, open_record
from mlv.store.pack import (
    CODEC_RAW,
    CODEC_ZSTD,
    KIND_CHUNK,
    KIND_MANIFEST,
    KIND_META,
    PACK_HEADER,
    PACK_MAGIC,
    PACK_VERSION,
    RECORD_HEADER,
    check_pack_header,
    decode_header,
    encode_record,
    iter_records,
)

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ID = "ab" * 32
ID2 = "cd" * 32


def must_hold(decode: Callable[[], Any]) -> Any:
    """Run a decoder: a result, or an MlvError, is fine; anything else fails the test."""
    try:
        return decode()
    except MlvError:
        return None


# -- mutations of valid bytes ------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` with a few edits: flipped bytes, a cut, an insertion or a spliced copy."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "set", "cut", "insert", "drop", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if how == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "set" and data:
            data[at] = draw(st.sampled_from([0, 1, 2, 3, 0x7F, 0x80, 0xFF]))
        elif how == "cut":
            del data[at:]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif how == "drop":
            del data[at : at + draw(st.integers(1, 16))]
        elif how == "splice" and data:
            start = draw(st.integers(0, len(data) - 1))
            data[at:at] = data[start : start + draw(st.integers(1, 64))]
    return bytes(data)


# -- packs ---------------------------------------------------------------------------------


def _records() -> list[tuple[bytes, int, bytes]]:
    """(id, kind, content) of a chunk stored raw, one stored zstd, a manifest and a tree."""
    text = b"row,value\n" * 300
    raw = bytes(range(256))
    manifest = FileManifest(
        len(text) + len(raw), ((hash_bytes(text), len(text)), (hash_bytes(raw), len(raw)))
    ).to_bytes()
    tree = Tree.of([TreeEntry("a.csv", "file", hash_bytes(text), len(text))]).to_bytes()
    return [
        (id_to_bytes(hash_bytes(raw)), KIND_CHUNK, raw),
        (id_to_bytes(hash_bytes(text)), KIND_CHUNK, text),
        (id_to_bytes(hash_bytes(text + raw)), KIND_MANIFEST, manifest),
        (id_to_bytes(hash_bytes(tree)), KIND_META, tree),
    ]


RECORDS = _records()
_zstd = zstandard.ZstdCompressor(level=3)


def _encode(id_bytes: bytes, kind: int, content: bytes) -> bytes:
    packed = _zstd.compress(content)
    if len(packed) < len(content):
        return encode_record(id_bytes, kind, CODEC_ZSTD, len(content), packed)
    return encode_record(id_bytes, kind, CODEC_RAW, len(content), content)


ENCODED = [_encode(*r) for r in RECORDS]
PACK = PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION) + b"".join(ENCODED)
OFFSETS = [PACK_HEADER.size + sum(len(e) for e in ENCODED[:n]) for n in range(len(ENCODED))]


@settings(FUZZ, max_examples=500)
@given(st.binary(max_size=40) | mutated(PACK[:16]))
@example(b"")
@example(PACK_HEADER.pack(PACK_MAGIC, 2))
def test_pack_header(raw: bytes) -> None:
    must_hold(lambda: check_pack_header(raw, "p.pack"))


@settings(FUZZ, max_examples=500)
@given(st.binary(max_size=100) | mutated(ENCODED[2][: RECORD_HEADER.size]))
@example(bytes(47))
def test_record_header(raw: bytes) -> None:
    header = must_hold(lambda: decode_header(raw))
    if header is not None:
        assert len(raw) == RECORD_HEADER.size


@settings(FUZZ, max_examples=800)
@given(
    st.sampled_from(range(len(ENCODED))).flatmap(
        lambda n: st.tuples(st.just(n), mutated(ENCODED[n]))
    )
)
def test_open_record(case: tuple[int, bytes]) -> None:
    """A mutated record either still reads back exactly or is refused."""
    n, raw = case
    id_bytes, _, content = RECORDS[n]
    data = must_hold(lambda: open_record(id_bytes, raw, zstandard.ZstdDecompressor()))
    if data is not None and RECORDS[n][1] != KIND_MANIFEST:
        assert data == content  # verified by its id
    if data is not None and RECORDS[n][1] == KIND_MANIFEST:
        assert zlib.crc32(raw[RECORD_HEADER.size :]) == decode_header(raw[:48]).crc32


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-packs")


def _write_pack(folder: Path, data: bytes) -> Path:
    path = folder / "pack-000000000000000000000000.pack"
    path.unlink(missing_ok=True)
    path.write_bytes(data)
    return path


@settings(FUZZ, max_examples=800)
@given(st.binary(max_size=600) | mutated(PACK))
@example(PACK[:-7])
@example(PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION) + b"\xff" * 48)
def test_iter_records_and_rebuild_scan(folder: Path, data: bytes) -> None:
    """Scanning a pack as iter_records and rebuild-index do: never another exception."""
    path = _write_pack(folder, data)
    found = must_hold(lambda: list(iter_records(path)))
    for _offset, header, payload in found or []:
        assert len(payload) == header.stored_length
    damaged: list = []
    entries = _scan_pack(path, damaged, _Found(), NoProgress(), None)
    # Whatever the scan indexes reads back: every entry passed the checks of a read.
    for id_bytes, offset, length, kind in entries:
        assert open_record(id_bytes, data[offset : offset + length], zstandard.ZstdDecompressor())
        assert kind in (KIND_CHUNK, KIND_MANIFEST, KIND_META)


def _flipped(data: bytes, offset: int, bit: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ (1 << bit)]) + data[offset + 1 :]


@settings(FUZZ, max_examples=500)
@given(mutated(PACK))
# The zstd frame's header descriptor: the frame now claims some 8 EB of content.
@example(_flipped(PACK, OFFSETS[1] + RECORD_HEADER.size + 4, 7))
def test_object_store_get_over_a_mutated_pack(folder: Path, data: bytes) -> None:
    """The index says where the records were; the pack's bytes have changed since."""
    _write_pack(folder, data)
    conn = sqlite3.connect(":memory:")
    store = ObjectStore(folder, conn)
    with conn:
        store.index.add_pack(
            "pack-000000000000000000000000.pack",
            [
                (i, off, len(e), kind)
                for (i, kind, _), off, e in zip(RECORDS, OFFSETS, ENCODED, strict=True)
            ],
        )
    try:
        for id_bytes, kind, content in RECORDS:
            object_id = id_bytes.hex()
            got = must_hold(lambda: store.get(object_id))  # noqa: B023 (called at once)
            if got is not None and kind != KIND_MANIFEST:
                assert got == content
            must_hold(lambda: store.raw_length(object_id))  # noqa: B023
        list(store.verify_all())  # yields damage; never raises
    finally:
        store.close()
        conn.close()


def test_the_valid_pack_reads_whole(folder: Path) -> None:
    """The seed of the mutations above is itself sound, so the mutations test something."""
    path = _write_pack(folder, PACK)
    assert [o for o, _, _ in iter_records(path)] == OFFSETS
    entries = _scan_pack(path, damaged := [], _Found(), NoProgress(), None)
    assert len(entries) == len(RECORDS) and damaged == []
    assert ObjectIndex  # the store test above indexes through it


# -- metadata objects ---------------------------------------------------------------------

ART = Artifact(ID, "file", 3)
VALID: dict[type, Any] = {
    FileManifest: FileManifest(5, ((ID, 2), (ID2, 3))),
    Tree: Tree.of(
        [
            TreeEntry("a.csv", "file", ID, 4, False, ID2),
            TreeEntry("d", "dir", ID2, 0),
            TreeEntry("l", "symlink", ID, 1),
            TreeEntry("x.sh", "file", ID2, 9, True),
        ]
    ),
    Commit: Commit(ID, (ID2,), Person("A", "a@b"), 1_700_000_000, 60, "msg\n", (ID,), {"tree": ID}),
    Run: Run(
        name="train",
        cmd="python t.py",
        wdir="src",
        deps={"data/in.csv": ART},
        outs={"model.pkl": ART, "m.json": ART},
        params={"params.yaml": ParamsUse(ART, {"lr": 0.1})},
        metrics={"m.json": {"acc": 0.9}},
        env=ID,
        started=1_700_000_000,
        duration_ms=12,
        exit_code=0,
        user="u",
        host="h",
        pipeline="dvc.yaml",
        variables={"PYTHONHASHSEED": "0"},
    ),
    Env: Env("3.11.7", "CPython", "Linux", "x86_64", {"numpy": "1.26"}, {"TZ": "UTC"}),
    Reproduction: Reproduction(
        commit=ID,
        runs=(ID2,),
        results={"model.pkl": {"result": "identical"}},
        verdict="reproduced",
        env=ID,
        drift={"python": ["3.11", "3.12"]},
        options={"rtol": 0.0},
        user="u",
        host="h",
        time=1_700_000_000,
        duration_ms=5,
    ),
    Profile: Profile(
        "csv", 2, (ColumnProfile("x", "int64", 0, 1, 2, 1.5, 2), ColumnProfile("s", "string", 1))
    ),
}
DECODERS = sorted(VALID, key=lambda cls: cls.__name__)
# Leaves that decoders trip on: huge and non-finite numbers, lone surrogates, odd paths.
ODD_LEAVES = [ID, "", "..", "/abs", ".mlv", "a/b", "file", "dir", "symlink", "\ud800"]
ODD_NUMBERS = [1e300, float("inf"), float("-inf"), float("nan"), 2**64, -1, 0, True]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(ODD_LEAVES + ODD_NUMBERS),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def _decode_all(data: bytes) -> None:
    must_hold(lambda: loads(data))
    object_type(data)
    for cls in DECODERS:
        obj = must_hold(lambda cls=cls: cls.from_bytes(data))
        if obj is not None:
            # A decoded object is valid: it checks, and its canonical bytes decode again.
            obj.check()
            assert cls.from_bytes(obj.to_bytes()) == obj


def test_the_valid_objects_round_trip() -> None:
    for cls, obj in VALID.items():
        assert cls.from_bytes(obj.to_bytes()) == obj


@settings(FUZZ, max_examples=500)
@given(st.binary(max_size=200))
@example(b"[" * 100_000)
@example(b'{"type":"tree","format":1,"entries":' + b"[" * 5000 + b"]" * 5000 + b"}")
@example(b'"\\ud800"')
@example(b"NaN")
def test_model_decoders_on_arbitrary_bytes(data: bytes) -> None:
    _decode_all(data)


@settings(FUZZ, max_examples=800)
@given(st.sampled_from(DECODERS).flatmap(lambda cls: mutated(VALID[cls].to_bytes())))
def test_model_decoders_on_mutated_encodings(data: bytes) -> None:
    _decode_all(data)


@st.composite
def edited_documents(draw: st.DrawFn) -> bytes:
    """A valid object's JSON with one field (at any depth) replaced, removed or added."""
    cls = draw(st.sampled_from(DECODERS))
    doc = json.loads(VALID[cls].to_bytes())
    for _ in range(draw(st.integers(1, 3))):
        node = doc
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node = child
                continue
            how = draw(st.sampled_from(["replace", "delete", "add"]))
            if how == "replace":
                node[key] = draw(json_values)
            elif how == "delete" and isinstance(node, dict):
                del node[key]
            elif isinstance(node, dict):
                node[draw(st.text(max_size=6))] = draw(json_values)
            else:
                node.append(draw(json_values))
            break
    # ensure_ascii: a lone surrogate is written as the \\ud800 escape any reader accepts.
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@settings(FUZZ, max_examples=1000)
@given(edited_documents())
@example(b'{"columns":[],"format":1,"rows":1e999,"table_format":"csv","type":"profile"}')
@example(b'{"chunks":[],"format":1,"size":-1e999,"type":"file"}')
@example(VALID[Commit].to_bytes().replace(b'"tree":"' + ID.encode() + b'"}', b'"tree":NaN}'))
@example(VALID[Commit].to_bytes().replace(b"msg\\n", b"\\udc80"))
@example(
    b'{"entries":[{"id":"' + ID.encode() + b'","kind":"file","name":"\\ud800","size":1}],'
    b'"format":1,"type":"tree"}'
)
def test_model_decoders_on_edited_documents(data: bytes) -> None:
    _decode_all(data)


def test_canonical_bytes_are_what_dumps_writes() -> None:
    assert dumps({"b": 1, "a": [True, None]}) == b'{"a":[true,null],"b":1}'
