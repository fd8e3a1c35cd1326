"""Damaged packs, refs and HEAD: reads fail naming the object; fsck names exactly that."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import AUTHOR, mlv, one_error_line, write_files
from mlv import Repo
from mlv.errors import ChecksumMismatchError, MlvError, ObjectMissingError
from mlv.store.pack import KIND_CHUNK, KIND_MANIFEST, RECORD_HEADER, iter_records

SMALL = {f"data/small/s{i}.txt": f"small file {i}\n".encode() * (i + 1) for i in range(6)}
# Offsets of the header fields within a record header (see RECORD_HEADER).
HEADER_FIELDS = {
    "id": 0,
    "kind": 32,
    "codec": 33,
    "reserved": 34,
    "raw_length": 36,
    "stored_length": 40,
    "crc": 44,
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Commit 1: small one-chunk files; commit 2: a multi-chunk file and a random one."""
    root = tmp_path / "repo"
    rng = __import__("random").Random(7)
    big = {
        "data/big/big.bin": rng.randbytes(3 * 1024 * 1024),
        "data/big/other.txt": b"other\n",
    }
    with Repo.init(root) as r:
        write_files(root, SMALL)
        r.add(["data"])
        r.commit("small files", author=AUTHOR)
        write_files(root, big)
        r.add(["data"])
        r.commit("big file", author=AUTHOR)
    return root


def records(root: Path) -> dict[str, tuple[Path, int, int, int]]:
    """Every indexed object: id -> (pack path, offset, length, kind), from index.db."""
    conn = sqlite3.connect(root / ".mlv" / "index.db")
    try:
        rows = conn.execute(
            "SELECT o.id, p.name, o.offset, o.length, o.kind"
            " FROM objects o JOIN packs p ON o.pack_no = p.pack_no"
        ).fetchall()
    finally:
        conn.close()
    packs = root / ".mlv" / "packs"
    return {i.hex(): (packs / name, off, length, kind) for i, name, off, length, kind in rows}


def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def file_id(root: Path, rel: str, rev: str = "HEAD") -> str:
    with Repo(root) as r:
        entry = r.trees.entry_at(r.read_commit(r.resolve(rev)).tree, rel)
        assert entry is not None
        return entry.id


def chunks_of(root: Path, big_id: str) -> list[str]:
    from mlv.model.objects import FileManifest

    with Repo(root) as r:
        return [c for c, _ in FileManifest.from_bytes(r.store.get(big_id)).chunks]


def fsck_ids(root: Path) -> tuple[int, set[str], str]:
    """Exit code, damaged object ids from `fsck --json`, and plain `fsck` output."""
    plain = mlv(root, "fsck")
    assert "Traceback" not in plain.stdout + plain.stderr, plain.stderr
    proc = mlv(root, "fsck", "--json")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == plain.returncode
    report = json.loads(proc.stdout)
    assert report["ok"] is (proc.returncode == 0)
    ids = {p["object_id"] for p in report["problems"] if p["object_id"]}
    return proc.returncode, ids, plain.stdout


def api_fsck_ids(root: Path) -> set[str]:
    with Repo(root) as r:
        return {p.object_id for p in r.fsck().problems if p.object_id}


def assert_read_fails(root: Path, rel: str, object_id: str, rev: str = "HEAD") -> None:
    with Repo(root) as r, pytest.raises(MlvError) as info:
        r.read_bytes(rev, rel)
    assert object_id in str(info.value)
    line = one_error_line(mlv(root, "show", f"{rev}:{rel}"))
    assert object_id in line, line


def assert_reads_ok(root: Path, files: dict[str, bytes], rev: str = "HEAD") -> None:
    with Repo(root) as r:
        for rel, data in files.items():
            assert r.read_bytes(rev, rel) == data, rel


def assert_fsck_names_exactly(root: Path, expected: set[str]) -> None:
    code, ids, text = fsck_ids(root)
    assert code == 1, text
    assert ids == expected, text
    for object_id in expected:
        assert object_id in text
    assert api_fsck_ids(root) == expected


def assert_fsck_reports(root: Path, needle: str) -> None:
    """fsck exits 1, without a traceback, and its report names ``needle``."""
    proc = mlv(root, "fsck")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert needle in proc.stdout, proc.stdout


def test_clean_repo_fsck_ok(repo: Path) -> None:
    code, ids, _ = fsck_ids(repo)
    assert code == 0 and not ids
    assert_reads_ok(repo, SMALL)


def test_damaged_small_chunk_payload(repo: Path) -> None:
    target = "data/small/s3.txt"
    object_id = file_id(repo, target)
    pack, offset, length, kind = records(repo)[object_id]
    assert kind == KIND_CHUNK
    flip(pack, offset + RECORD_HEADER.size + (length - RECORD_HEADER.size) // 2)
    with Repo(repo) as r, pytest.raises(ChecksumMismatchError) as info:
        r.read_bytes("HEAD", target)
    assert info.value.object_id == object_id
    assert_read_fails(repo, target, object_id)
    assert_read_fails(repo, target, object_id, rev="HEAD~1")
    assert_fsck_names_exactly(repo, {object_id})
    assert_reads_ok(repo, {k: v for k, v in SMALL.items() if k != target})


def test_damaged_chunk_of_big_file(repo: Path) -> None:
    big_id = file_id(repo, "data/big/big.bin")
    chunks = chunks_of(repo, big_id)
    assert len(chunks) > 1
    victim = chunks[len(chunks) // 2]
    pack, offset, length, _ = records(repo)[victim]
    flip(pack, offset + length - 1)
    assert_read_fails(repo, "data/big/big.bin", victim)
    code, ids, text = fsck_ids(repo)
    assert code == 1
    # The chunk itself, and the file made of it; nothing else.
    assert victim in ids and ids <= {victim, big_id}, text
    assert_reads_ok(repo, SMALL)
    assert_reads_ok(repo, {"data/big/other.txt": b"other\n"})


def test_damaged_manifest_payload(repo: Path) -> None:
    big_id = file_id(repo, "data/big/big.bin")
    pack, offset, _length, kind = records(repo)[big_id]
    assert kind == KIND_MANIFEST
    flip(pack, offset + RECORD_HEADER.size + 3)
    assert_read_fails(repo, "data/big/big.bin", big_id)
    assert_fsck_names_exactly(repo, {big_id})
    assert_reads_ok(repo, SMALL)


@pytest.mark.parametrize("field", sorted(HEADER_FIELDS))
def test_damaged_record_header(repo: Path, field: str) -> None:
    target = "data/small/s2.txt"
    object_id = file_id(repo, target)
    pack, offset, _length, _ = records(repo)[object_id]
    flip(pack, offset + HEADER_FIELDS[field])
    assert_read_fails(repo, target, object_id)
    assert_fsck_names_exactly(repo, {object_id})
    assert_reads_ok(repo, {k: v for k, v in SMALL.items() if k != target})


@pytest.mark.parametrize("what", ["tree", "subtree", "commit", "old-commit"])
def test_damaged_metadata_payload(repo: Path, what: str) -> None:
    with Repo(repo) as r:
        head = r.resolve("HEAD")
        parent = r.resolve("HEAD~1")
        root_tree = r.read_commit(head).tree
        sub = r.trees.entry_at(root_tree, "data/big")
        assert sub is not None
        object_id = {"tree": root_tree, "subtree": sub.id, "commit": head, "old-commit": parent}[
            what
        ]
    pack, offset, length, _ = records(repo)[object_id]
    flip(pack, offset + RECORD_HEADER.size + (length - RECORD_HEADER.size) // 2)
    rev = "HEAD~1" if what == "old-commit" else "HEAD"
    rel = "data/small/s0.txt" if what == "old-commit" else "data/big/other.txt"
    assert_read_fails(repo, rel, object_id, rev=rev)
    assert_fsck_names_exactly(repo, {object_id})
    if what == "subtree":
        assert_reads_ok(repo, SMALL)


def test_truncated_pack(repo: Path) -> None:
    small_ids = {file_id(repo, rel) for rel in SMALL}
    recs = records(repo)
    packs = {recs[i][0] for i in small_ids}
    assert len(packs) == 1, "the small files were added in one go"
    pack = packs.pop()
    in_pack = {i: rec for i, rec in recs.items() if rec[0] == pack}
    assert set(in_pack) == small_ids
    cut = sorted(off for _, off, _, _ in in_pack.values())[len(in_pack) // 2] + 10
    os.truncate(pack, cut)
    lost = {i for i, (_, off, length, _) in in_pack.items() if off + length > cut}
    assert lost and lost != small_ids
    assert_fsck_names_exactly(repo, lost)
    by_id = {file_id(repo, rel): rel for rel in SMALL}
    for object_id in lost:
        assert_read_fails(repo, by_id[object_id], object_id)
    assert_reads_ok(repo, {by_id[i]: SMALL[by_id[i]] for i in small_ids - lost})
    # iter_records stops quietly at the torn tail.
    assert {h.id_bytes.hex() for _, h, _ in iter_records(pack)} == small_ids - lost


def test_pack_truncated_to_its_header(repo: Path) -> None:
    small_ids = {file_id(repo, rel) for rel in SMALL}
    pack = records(repo)[next(iter(small_ids))][0]
    os.truncate(pack, 5)
    code, ids, text = fsck_ids(repo)
    assert code == 1 and ids == small_ids, text
    assert pack.name in text
    rel = "data/small/s1.txt"
    assert_read_fails(repo, rel, file_id(repo, rel))


def test_deleted_pack(repo: Path) -> None:
    big_id = file_id(repo, "data/big/big.bin")
    recs = records(repo)
    pack = recs[big_id][0]
    in_pack = {i for i, rec in recs.items() if rec[0] == pack}
    pack.unlink()
    with Repo(repo) as r, pytest.raises(ObjectMissingError):
        r.read_bytes("HEAD", "data/big/big.bin")
    line = one_error_line(mlv(repo, "show", "HEAD:data/big/big.bin"))
    assert big_id in line and pack.name in line
    assert_fsck_names_exactly(repo, in_pack)
    assert_reads_ok(repo, SMALL)


def test_index_points_past_pack_end(repo: Path) -> None:
    rel = "data/small/s4.txt"
    object_id = file_id(repo, rel)
    conn = sqlite3.connect(repo / ".mlv" / "index.db")
    with conn:
        conn.execute(
            "UPDATE objects SET offset = offset + 100000 WHERE id = ?", (bytes.fromhex(object_id),)
        )
    conn.close()
    assert_read_fails(repo, rel, object_id)
    assert_fsck_names_exactly(repo, {object_id})


@pytest.mark.parametrize("content", [b"garbage\n", b"", b"\xff\xfe\x00junk", b"0" * 63 + b"\n"])
def test_damaged_branch_ref(repo: Path, content: bytes) -> None:
    (repo / ".mlv" / "refs" / "heads" / "main").write_bytes(content)
    for args in (["log"], ["status"], ["show"], ["branch"]):
        line = one_error_line(mlv(repo, *args))
        assert "refs/heads/main" in line, line
    assert_fsck_reports(repo, "refs/heads/main")


def test_damaged_other_ref(repo: Path) -> None:
    assert mlv(repo, "tag", "v1").returncode == 0
    (repo / ".mlv" / "refs" / "tags" / "v1").write_text("not a commit\n")
    line = one_error_line(mlv(repo, "show", "v1"))
    assert "refs/tags/v1" in line
    one_error_line(mlv(repo, "tag"))
    assert_fsck_reports(repo, "refs/tags/v1")
    # The current branch is unaffected: log leaves the damaged tag out (fsck reports it).
    proc = mlv(repo, "log", "--oneline")
    assert proc.returncode == 0 and "v1" not in proc.stdout, proc.stdout + proc.stderr
    assert_reads_ok(repo, SMALL)


@pytest.mark.parametrize("content", [b"garbage\n", b"", b"\xff\xfe\x00junk", b"ref: \n"])
def test_garbage_in_head(repo: Path, content: bytes) -> None:
    (repo / ".mlv" / "HEAD").write_bytes(content)
    for args in (["log"], ["status"], ["show"], ["commit", "-m", "x"]):
        line = one_error_line(mlv(repo, *args))
        assert "HEAD" in line, line
    assert_fsck_reports(repo, "HEAD")
    # Everything still reachable by name survives.
    assert_reads_ok(repo, SMALL, rev="main")


def test_leftover_temporary_pack_is_harmless(repo: Path) -> None:
    packs = repo / ".mlv" / "packs"
    (packs / "tmp-pack-deadbeef.pack").write_bytes(b"MLVPACK\x00half a pack")
    code, ids, _ = fsck_ids(repo)
    assert code == 0 and not ids
    assert_reads_ok(repo, SMALL)


# -- runs: fsck follows a commit's runs to their environments, inputs and outputs ----------


def _repo_with_a_run(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "runs"
    with Repo.init(root) as r:
        write_files(root, {"in.txt": "input\n", "make.py": "print('x')\n"})
        cmd = f"{sys.executable} -c \"open('out.txt', 'w').write(open('in.txt').read() * 2)\""
        run_id, _ = r.run(cmd, deps=["in.txt"], outs=["out.txt"], stdout=subprocess.DEVNULL)
        # The input leaves the tree before the commit: only the run still names it.
        r.rm(["in.txt"], cached=True)
        r.commit("a run", author=AUTHOR)
    return root, run_id


def test_damaged_run_object_is_named(tmp_path: Path) -> None:
    root, run_id = _repo_with_a_run(tmp_path)
    pack, offset, length, _ = records(root)[run_id]
    flip(pack, offset + length - 2)
    assert run_id in api_fsck_ids(root)
    assert_fsck_reports(root, run_id)


def test_missing_input_of_a_run_is_named(tmp_path: Path) -> None:
    root, run_id = _repo_with_a_run(tmp_path)
    with Repo(root) as r:
        input_id = r.read_run(run_id).deps["in.txt"].id
    conn = sqlite3.connect(root / ".mlv" / "index.db")
    with conn:
        conn.execute("DELETE FROM objects WHERE id = ?", (bytes.fromhex(input_id),))
    conn.close()
    code, ids, text = fsck_ids(root)
    assert code == 1 and ids == {input_id}, text
    assert "in.txt of run" in text
    # Reproducing needs that input: one clear line, exit 2.
    line = one_error_line(mlv(root, "reproduce"))
    assert input_id in line
