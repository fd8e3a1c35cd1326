"""Layer 2: the ObjectStore contract, the pack format and crash behaviour of packs and index."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlv.core.hashing import hash_bytes, id_from_bytes, id_to_bytes
from mlv.errors import (
    ChecksumMismatchError,
    FormatError,
    ObjectMissingError,
    UnsupportedVersionError,
)
from mlv.store.index import ObjectIndex
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import (
    CODEC_RAW,
    CODEC_ZSTD,
    KIND_CHUNK,
    KIND_MANIFEST,
    KIND_META,
    KINDS,
    PACK_HEADER,
    PACK_MAGIC,
    PACK_SUFFIX,
    PACK_VERSION,
    RECORD_HEADER,
    TMP_PREFIX,
    PackWriter,
    check_pack_header,
    decode_header,
    encode_record,
    iter_records,
    orphaned_tmp_packs,
    sweep_tmp_packs,
    tmp_packs,
)

TEXT = b"".join(b"row %d,feature,%f\n" % (i, i / 7) for i in range(2000))


def _random(n: int, seed: int = 0) -> bytes:
    return random.Random(seed * 1_000_003 + n).randbytes(n)


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, check_same_thread=False)


@pytest.fixture
def packs(tmp_path: Path) -> Path:
    folder = tmp_path / "packs"
    folder.mkdir()
    return folder


@pytest.fixture
def store(tmp_path: Path, packs: Path) -> Iterator[ObjectStore]:
    conn = _connect(tmp_path / "index.db")
    s = ObjectStore(packs, conn)
    yield s
    s.close()
    conn.close()


def _reopen(tmp_path: Path, packs: Path) -> ObjectStore:
    return ObjectStore(packs, _connect(tmp_path / "index.db"))


def _put(store: ObjectStore, data: bytes, kind: int = KIND_CHUNK) -> str:
    object_id = hash_bytes(data)
    assert store.put(object_id, kind, data)
    return object_id


def _records(packs: Path) -> dict[str, tuple[int, int, int, int]]:
    """id -> (kind, codec, raw length, stored length) for every record of every finished pack."""
    found = {}
    for pack in sorted(packs.glob(f"*{PACK_SUFFIX}")):
        for _offset, header, _payload in iter_records(pack):
            found[id_from_bytes(header.id_bytes)] = (
                header.kind,
                header.codec,
                header.raw_length,
                header.stored_length,
            )
    return found


# -- the ObjectStore contract -------------------------------------------------


def test_put_get_has_kind_of(store: ObjectStore) -> None:
    data = b"hello, store"
    object_id = hash_bytes(data)
    assert not store.has(object_id)
    assert store.kind_of(object_id) is None
    assert store.put(object_id, KIND_CHUNK, data) is True
    # Readable before flush, from the unfinished pack.
    assert store.has(object_id)
    assert store.kind_of(object_id) == KIND_CHUNK
    assert store.get(object_id) == data
    store.flush()
    assert store.has(object_id)
    assert store.kind_of(object_id) == KIND_CHUNK
    assert store.get(object_id) == data


def test_missing_object(store: ObjectStore) -> None:
    object_id = hash_bytes(b"never stored")
    with pytest.raises(ObjectMissingError) as info:
        store.get(object_id)
    assert info.value.object_id == object_id


def test_second_put_is_deduplicated(store: ObjectStore, packs: Path) -> None:
    data = TEXT
    object_id = _put(store, data)
    assert store.put(object_id, KIND_CHUNK, data) is False  # pending in this pack
    store.flush()
    assert store.put(object_id, KIND_CHUNK, data) is False  # indexed
    store.flush()
    assert list(_records(packs)) == [object_id]
    assert len(store.pack_files()) == 1


def test_put_meta_returns_the_id(store: ObjectStore) -> None:
    data = b'{"format":1,"type":"x"}'
    assert store.put_meta(data, KIND_META) == hash_bytes(data)
    assert store.put_meta(data, KIND_META) == hash_bytes(data)
    assert store.kind_of(hash_bytes(data)) == KIND_META


def test_flush_seals_one_pack_and_iter_ids_lists_indexed_objects(
    store: ObjectStore, packs: Path
) -> None:
    store.flush()
    assert list(packs.iterdir()) == []  # nothing written, no empty pack
    ids = {_put(store, _random(100, i)): KIND_CHUNK for i in range(20)}
    ids[_put(store, b'{"a":1}', KIND_META)] = KIND_META
    assert list(store.iter_ids()) == []  # pending objects are not indexed yet
    store.flush()
    assert dict(store.iter_ids()) == ids
    names = [p.name for p in packs.iterdir()]
    assert len(names) == 1 and names[0].startswith("pack-") and names[0].endswith(PACK_SUFFIX)
    assert store.index.count() == len(ids)
    assert store.index.pack_names() == names


def test_codec_choice_raw_for_random_zstd_for_text(store: ObjectStore, packs: Path) -> None:
    noise = _random(50_000)
    noise_id = _put(store, noise)
    text_id = _put(store, TEXT)
    store.flush()
    records = _records(packs)
    kind, codec, raw_length, stored_length = records[noise_id]
    assert (kind, codec, raw_length, stored_length) == (KIND_CHUNK, CODEC_RAW, 50_000, 50_000)
    kind, codec, raw_length, stored_length = records[text_id]
    assert (kind, codec, raw_length) == (KIND_CHUNK, CODEC_ZSTD, len(TEXT))
    assert stored_length < len(TEXT) // 3
    assert store.get(noise_id) == noise
    assert store.get(text_id) == TEXT


def test_empty_object(store: ObjectStore) -> None:
    empty_id = _put(store, b"")
    store.flush()
    assert store.get(empty_id) == b""
    assert _records(store.packs_dir)[empty_id][1:] == (CODEC_RAW, 0, 0)


def test_large_objects(store: ObjectStore) -> None:
    big_random = _random(6 * 1024 * 1024)
    big_text = TEXT * 80
    ids = [_put(store, big_random), _put(store, big_text)]
    assert store.get(ids[0]) == big_random  # before flush
    store.flush()
    assert store.get(ids[0]) == big_random
    assert store.get(ids[1]) == big_text


def test_memoryview_input(store: ObjectStore) -> None:
    data = bytearray(TEXT)
    object_id = hash_bytes(data)
    assert store.put(object_id, KIND_CHUNK, memoryview(data))
    store.flush()
    assert store.get(object_id) == TEXT


def test_objects_across_several_packs(tmp_path: Path, packs: Path) -> None:
    expected = {}
    for round_no in range(3):
        s = _reopen(tmp_path, packs)
        for i in range(30):
            data = _random(200 + i, round_no)
            expected[_put(s, data)] = data
        s.close()
    s = _reopen(tmp_path, packs)
    assert len(s.pack_files()) == 3
    assert {i for i, _ in s.iter_ids()} == set(expected)
    for object_id, data in expected.items():
        assert s.get(object_id) == data
    assert list(s.verify_all()) == []
    s.close()


def test_reopened_store_sees_flushed_objects_only(tmp_path: Path, store: ObjectStore) -> None:
    flushed = _put(store, b"flushed")
    store.flush()
    pending = _put(store, b"pending")
    other = _reopen(tmp_path, store.packs_dir)
    try:
        assert other.has(flushed) and other.get(flushed) == b"flushed"
        assert not other.has(pending)
        store.flush()
        assert other.has(pending) and other.get(pending) == b"pending"
    finally:
        other.close()


def test_manifest_kind_is_not_hashed_but_crc_checked(store: ObjectStore, packs: Path) -> None:
    # A manifest is stored under the id of the file it lists, not of its own bytes.
    file_id = hash_bytes(b"the whole file")
    manifest = b'{"chunks":[],"format":1,"size":0,"type":"file"}'
    assert store.put(file_id, KIND_MANIFEST, manifest)
    store.flush()
    assert store.get(file_id) == manifest
    assert store.kind_of(file_id) == KIND_MANIFEST
    _flip_last_byte_of(store, file_id)
    with pytest.raises(ChecksumMismatchError):
        store.get(file_id)


def test_concurrent_puts_store_each_object_once(store: ObjectStore, packs: Path) -> None:
    blobs = [_random(3000, i) for i in range(40)]

    def work() -> None:
        for data in blobs:
            store.put(hash_bytes(data), KIND_CHUNK, data)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.flush()
    records = sum(1 for p in store.pack_files() for _ in iter_records(p))
    assert records == len(blobs)
    assert all(store.get(hash_bytes(d)) == d for d in blobs)


# -- damage --------------------------------------------------------------------


def _flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x40]))


def _flip_last_byte_of(store: ObjectStore, object_id: str) -> None:
    location = store.index.lookup(id_to_bytes(object_id))
    assert location is not None
    _flip_byte(store.packs_dir / location.pack, location.offset + location.length - 1)


@pytest.mark.parametrize("where", ["payload", "id", "kind", "reserved", "raw_length", "crc"])
def test_verify_all_finds_a_flipped_byte(store: ObjectStore, where: str) -> None:
    ids = [_put(store, TEXT), _put(store, _random(40_000)), _put(store, b"small")]
    store.flush()
    target = ids[1]
    location = store.index.lookup(id_to_bytes(target))
    assert location is not None
    offset = {
        "payload": location.offset + location.length - 100,
        "id": location.offset + 5,
        "kind": location.offset + 32,
        "reserved": location.offset + 34,
        "raw_length": location.offset + 36,
        "crc": location.offset + 44,
    }[where]
    _flip_byte(store.packs_dir / location.pack, offset)
    damage = list(store.verify_all())
    assert [d.object_id for d in damage] == [target]
    assert damage[0].pack == location.pack
    with pytest.raises(ChecksumMismatchError):
        store.get(target)
    assert store.get(ids[0]) == TEXT  # the rest stays readable


def test_verify_all_reports_a_missing_pack(store: ObjectStore) -> None:
    object_id = _put(store, b"gone")
    store.flush()
    (pack,) = store.pack_files()
    pack.unlink()
    damage = list(store.verify_all())
    assert [(d.object_id, d.problem) for d in damage] == [(object_id, "its pack file is missing")]
    fresh = ObjectStore(store.packs_dir, store.conn)
    with pytest.raises(ObjectMissingError):
        fresh.get(object_id)


def test_verify_all_reports_a_bad_pack_header(store: ObjectStore) -> None:
    _put(store, b"x")
    store.flush()
    (pack,) = store.pack_files()
    _flip_byte(pack, 0)
    problems = [d for d in store.verify_all() if d.object_id == ""]
    assert len(problems) == 1 and "bad magic" in problems[0].problem


# -- crash behaviour -----------------------------------------------------------

_KILLED_WRITER = """
import os, sqlite3, sys
from pathlib import Path
from mlv.core.hashing import hash_bytes
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_CHUNK
store = ObjectStore(Path(sys.argv[1]), sqlite3.connect(sys.argv[2]))
for i in range(50):
    data = os.urandom(5000)
    store.put(hash_bytes(data), KIND_CHUNK, data)
os._exit(9)  # killed before flush(): no fsync, no rename, no index rows
"""


def test_unflushed_writer_killed_leaves_only_a_tmp_pack(tmp_path: Path, packs: Path) -> None:
    db = tmp_path / "index.db"
    run = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(packs), str(db)], capture_output=True
    )
    assert run.returncode == 9, run.stderr.decode()
    names = [p.name for p in packs.iterdir()]
    assert len(names) == 1 and names[0].startswith(TMP_PREFIX), names
    conn = _connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM objects").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM packs").fetchone()[0] == 0
        s = ObjectStore(packs, conn)
        assert list(s.iter_ids()) == []
        assert s.pack_files() == []  # a tmp- pack is never a pack
        assert list(s.verify_all()) == []
    finally:
        conn.close()
    # What reached the disk (all but the last unflushed buffer) parses; a torn tail is skipped.
    assert 40 <= len(list(iter_records(packs / names[0]))) <= 50


# A writer that stays alive with an unfinished pack until told to flush (or killed).
_WAITING_WRITER = """
import os, sqlite3, sys
from pathlib import Path
from mlv.core.hashing import hash_bytes
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_CHUNK
store = ObjectStore(Path(sys.argv[1]), sqlite3.connect(sys.argv[2], timeout=30))
ids = []
for i in range(20):
    data = os.urandom(5000)
    ids.append(hash_bytes(data))
    store.put(ids[-1], KIND_CHUNK, data)
print(" ".join(ids), flush=True)
sys.stdin.readline()
store.flush()
print("flushed", flush=True)
"""


def _start_writer(packs: Path, db: Path) -> tuple[subprocess.Popen, list[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", _WAITING_WRITER, str(packs), str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    ids = child.stdout.readline().split()
    assert len(ids) == 20, child.stderr
    return child, ids


def test_next_write_sweeps_killed_writers_tmp_packs_never_a_live_ones(
    tmp_path: Path, packs: Path
) -> None:
    db = tmp_path / "index.db"
    _connect(db).close()
    killed, _ = _start_writer(packs, db)
    live, live_ids = _start_writer(packs, db)
    tmp_before = tmp_packs(packs)
    assert len(tmp_before) == 2
    killed.send_signal(signal.SIGKILL)
    killed.wait()

    # A third writer's first put sweeps: the dead one's pack goes, the live one's stays.
    store = _reopen(tmp_path, packs)
    _put(store, b"third writer")
    left = [p for p in tmp_packs(packs) if p in tmp_before]
    assert len(left) == 1
    store.close()
    assert orphaned_tmp_packs(packs) == []  # the live writer's is not an orphan
    assert live.stdin is not None and live.stdout is not None
    live.stdin.write("flush\n")
    live.stdin.flush()
    assert live.stdout.readline().strip() == "flushed"
    assert live.wait() == 0
    store = _reopen(tmp_path, packs)
    assert all(store.has(i) and len(store.get(i)) == 5000 for i in live_ids)
    store.close()
    assert tmp_packs(packs) == []


def test_sweep_spares_a_writer_of_this_process(store: ObjectStore, packs: Path) -> None:
    _put(store, b"unflushed")
    (mine,) = tmp_packs(packs)
    orphan = packs / f"{TMP_PREFIX}pack-{'0' * 24}{PACK_SUFFIX}"
    orphan.write_bytes(PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION) + b"x" * 84)
    assert orphaned_tmp_packs(packs) == [(orphan, 100)]
    assert sweep_tmp_packs(packs) == (1, 100)
    assert tmp_packs(packs) == [mine]
    store.flush()
    assert tmp_packs(packs) == []


def test_sweeping_while_writers_start_and_finish_loses_nothing(packs: Path) -> None:
    """The flock is taken right after the file is made, and let go only after the rename."""
    stop = threading.Event()
    swept: list[int] = []

    def sweep() -> None:
        while not stop.is_set():
            swept.append(sweep_tmp_packs(packs)[0])

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    try:
        for n in range(150):
            writer = PackWriter(packs)
            writer.append(encode_record(bytes(32), KIND_CHUNK, CODEC_RAW, 1, b"%d" % (n % 10)))
            assert writer.finish().exists()
    finally:
        stop.set()
        sweeper.join()
    # Every pack was finished. A sweep may have taken a file in the instant between its
    # creation and its writer's flock; the writer then started again under a new name.
    assert len(list(packs.glob(f"pack-*{PACK_SUFFIX}"))) == 150
    assert tmp_packs(packs) == []
    assert swept  # the sweeper did run alongside


# -- pack format ---------------------------------------------------------------


def test_header_sizes_and_layout() -> None:
    assert PACK_MAGIC == b"MLVPACK\x00"
    assert PACK_VERSION == 1
    assert PACK_HEADER.size == 16
    assert RECORD_HEADER.size == 48
    assert KINDS == {KIND_CHUNK: "chunk", KIND_MANIFEST: "manifest", KIND_META: "meta"}
    assert (KIND_CHUNK, KIND_MANIFEST, KIND_META, CODEC_RAW, CODEC_ZSTD) == (1, 2, 3, 0, 1)


def test_golden_pack_bytes() -> None:
    # Pins the on-disk layout (docs/format.md, "Pack files"). Changing these bytes is a
    # format change: bump PACK_VERSION and add an entry to the changes log.
    assert PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION).hex() == "4d4c565041434b000100000000000000"
    chunk = encode_record(bytes(range(32)), KIND_CHUNK, CODEC_RAW, 3, b"abc")
    assert chunk.hex() == (
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"  # id
        "01"  # kind: KIND_CHUNK
        "00"  # codec: CODEC_RAW
        "0000"  # reserved
        "03000000"  # raw length, little-endian u32
        "03000000"  # stored length
        "00000000"  # CRC-32: zero, a chunk is verified by its id
        "616263"  # payload
    )
    manifest = encode_record(bytes(range(32)), KIND_MANIFEST, CODEC_ZSTD, 7, b"abc")
    assert manifest.hex() == (
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "02"  # kind: KIND_MANIFEST
        "01"  # codec: CODEC_ZSTD
        "0000"
        "07000000"
        "03000000"
        "c2412435"  # zlib.crc32(b"abc") = 0x352441c2, little-endian
        "616263"
    )


_record = st.tuples(
    st.binary(min_size=32, max_size=32),
    st.sampled_from(sorted(KINDS)),
    st.sampled_from([CODEC_RAW, CODEC_ZSTD]),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=300),
)


@settings(max_examples=60, deadline=None)
@given(_record)
def test_record_round_trip(record: tuple[bytes, int, int, int, bytes]) -> None:
    id_bytes, kind, codec, raw_length, payload = record
    raw = encode_record(id_bytes, kind, codec, raw_length, payload)
    assert len(raw) == RECORD_HEADER.size + len(payload)
    header = decode_header(raw[: RECORD_HEADER.size])
    assert header.id_bytes == id_bytes
    assert (header.kind, header.codec, header.raw_length) == (kind, codec, raw_length)
    assert header.stored_length == len(payload)
    assert header.crc32 == (zlib.crc32(payload) if kind == KIND_MANIFEST else 0)
    assert raw[RECORD_HEADER.size :] == payload


def _write_pack(path: Path, records: list[bytes]) -> list[int]:
    offsets = []
    with open(path, "wb") as f:
        f.write(PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION))
        for record in records:
            offsets.append(f.tell())
            f.write(record)
    return offsets


@settings(max_examples=30, deadline=None)
@given(st.lists(_record, max_size=12), st.integers(1, 47))
def test_iter_records_round_trip_and_truncated_tail(
    tmp_path_factory: pytest.TempPathFactory, records: list, cut: int
) -> None:
    path = tmp_path_factory.mktemp("pack") / "p.pack"
    encoded = [encode_record(*r[:4], r[4]) for r in records]
    offsets = _write_pack(path, encoded)
    found = list(iter_records(path))
    assert [o for o, _, _ in found] == offsets
    assert [(h.id_bytes, h.kind, h.codec, h.raw_length) for _, h, _ in found] == [
        r[:4] for r in records
    ]
    assert [p for _, _, p in found] == [r[4] for r in records]
    if not records:
        return
    # A writer killed mid-record: cut inside the last header, or inside its payload.
    size = path.stat().st_size
    last = encoded[-1]
    for keep in {min(cut, RECORD_HEADER.size - 1), RECORD_HEADER.size + len(last[48:]) // 2}:
        if keep >= len(last):
            continue
        os.truncate(path, size - len(last) + keep)
        assert len(list(iter_records(path))) == len(records) - 1
        _write_pack(path, encoded)


def test_pack_writer_round_trip(packs: Path) -> None:
    writer = PackWriter(packs)
    assert writer.tmp_path.name == TMP_PREFIX + writer.name
    records = [
        encode_record(id_to_bytes(hash_bytes(d)), KIND_CHUNK, CODEC_RAW, len(d), d)
        for d in (b"one", b"two", _random(70_000))
    ]
    offsets = [writer.append(r) for r in records]
    assert offsets[0] == PACK_HEADER.size
    assert writer.read(offsets[1], len(records[1])) == records[1]  # before finish
    assert [p.name for p in packs.iterdir()] == [writer.tmp_path.name]
    final = writer.finish()
    assert final == packs / writer.name and not writer.tmp_path.exists()
    assert [(o, p) for o, _, p in iter_records(final)] == [
        (o, r[RECORD_HEADER.size :]) for o, r in zip(offsets, records, strict=True)
    ]


def test_pack_writer_abandon(packs: Path) -> None:
    writer = PackWriter(packs)
    writer.append(encode_record(bytes(32), KIND_CHUNK, CODEC_RAW, 1, b"x"))
    writer.abandon()
    assert list(packs.iterdir()) == []


def test_rotated_packs_indexed_and_read(tmp_path: Path, packs: Path) -> None:
    # What ObjectStore does when a pack reaches PACK_TARGET_SIZE: finish one writer,
    # index it, go on in a new one.
    conn = _connect(tmp_path / "index.db")
    index = ObjectIndex(conn)
    expected = {}
    for _ in range(3):
        writer = PackWriter(packs)
        entries = []
        for _ in range(40):
            data = _random(500 + len(expected))
            object_id = hash_bytes(data)
            record = encode_record(id_to_bytes(object_id), KIND_CHUNK, CODEC_RAW, len(data), data)
            entries.append((id_to_bytes(object_id), writer.append(record), len(record), KIND_CHUNK))
            expected[object_id] = data
        writer.finish()
        with conn:
            index.add_pack(writer.name, entries)
    assert len(index.pack_names()) == 3 and index.count() == 120
    s = ObjectStore(packs, conn)
    assert all(s.get(i) == d for i, d in expected.items())
    assert list(s.verify_all()) == []
    # Re-indexing a pack (e.g. a rebuild) keeps each id's first location.
    with conn:
        index.add_pack(index.pack_names()[0], [(id_to_bytes(next(iter(expected))), 99, 1, 1)])
    assert s.get(next(iter(expected))) == expected[next(iter(expected))]
    conn.close()


def test_decode_header_refuses_unknown_kind_codec_or_reserved() -> None:
    for kind, codec, reserved in [
        (0, CODEC_RAW, 0),
        (4, CODEC_RAW, 0),
        (KIND_CHUNK, 2, 0),
        (1, 0, 1),
    ]:
        raw = RECORD_HEADER.pack(bytes(32), kind, codec, reserved, 0, 0, 0)
        with pytest.raises(FormatError):
            decode_header(raw)


def test_check_pack_header() -> None:
    good = PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION)
    check_pack_header(good, "p")
    with pytest.raises(FormatError, match="truncated"):
        check_pack_header(good[:10], "p")
    with pytest.raises(FormatError, match="bad magic"):
        check_pack_header(PACK_HEADER.pack(b"NOTAPACK", PACK_VERSION), "p")
    with pytest.raises(UnsupportedVersionError):
        check_pack_header(PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION + 1), "p")


def test_iter_records_refuses_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "x.pack"
    path.write_bytes(b"PK\x03\x04" + bytes(40))
    with pytest.raises(FormatError):
        list(iter_records(path))


def _set_pack_version(pack: Path, version: int) -> None:
    os.chmod(pack, 0o644)
    with open(pack, "r+b") as f:
        f.write(PACK_HEADER.pack(PACK_MAGIC, version))


def test_get_refuses_a_pack_of_an_unknown_version(tmp_path: Path, store: ObjectStore) -> None:
    object_id = _put(store, TEXT)
    store.flush()
    (pack,) = store.pack_files()
    _set_pack_version(pack, PACK_VERSION + 1)
    fresh = _reopen(tmp_path, store.packs_dir)
    with pytest.raises(UnsupportedVersionError) as info:
        fresh.get(object_id)
    message = str(info.value)
    assert object_id in message and "format version 2" in message and "upgrade mlv" in message
    assert "\n" not in message
    with pytest.raises(UnsupportedVersionError):
        fresh.raw_length(object_id)
    assert [d.object_id for d in fresh.verify_all()] == ["", object_id]
    fresh.close()


def test_get_refuses_a_pack_with_a_bad_magic(tmp_path: Path, store: ObjectStore) -> None:
    object_id = _put(store, b"magic")
    store.flush()
    (pack,) = store.pack_files()
    _flip_byte(pack, 3)
    fresh = _reopen(tmp_path, store.packs_dir)
    with pytest.raises(FormatError, match="bad magic"):
        fresh.get(object_id)
    fresh.close()


def test_pack_header_is_checked_once_per_pack(tmp_path: Path, store: ObjectStore) -> None:
    ids = [_put(store, b"one"), _put(store, b"two")]
    store.flush()
    fresh = _reopen(tmp_path, store.packs_dir)
    assert fresh.get(ids[0]) == b"one"
    # Once open and checked, the fd is kept: a later change of the header is not re-read.
    (pack,) = store.pack_files()
    _set_pack_version(pack, 9)
    assert fresh.get(ids[1]) == b"two"
    fresh.close()


def test_decode_header_refuses_a_short_header() -> None:
    for size in (0, 1, 47, 49):
        with pytest.raises(FormatError, match="record header is"):
            decode_header(bytes(size))


def test_raw_length_reads_the_header_only(store: ObjectStore) -> None:
    object_id = _put(store, TEXT)
    assert store.raw_length(object_id) == len(TEXT)  # from the unfinished pack
    store.flush()
    assert store.raw_length(object_id) == len(TEXT)
    with pytest.raises(ObjectMissingError):
        store.raw_length(hash_bytes(b"absent"))


def test_an_early_flush_that_failed_is_raised_when_the_pack_is_sealed() -> None:
    """Linux reports a write-back error once per open file: a flush on the side that
    met one must make the final fsync's caller fail, not leave it to succeed."""
    import os

    from mlv.store.pack import WriteBehind

    read_end, write_end = os.pipe()  # fdatasync refuses a pipe (EINVAL)
    try:
        behind = WriteBehind(read_end)
        behind.wrote(WriteBehind.EVERY)
        with pytest.raises(OSError):
            behind.wait()
    finally:
        os.close(read_end)
        os.close(write_end)
