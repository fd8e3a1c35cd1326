"""The store's bookkeeping: a lost or damaged index.db (refused in one line, reported by fsck,
rebuilt from the packs), temporary packs left by killed writes, sizes that fsck checks."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from helpers import AUTHOR, ENV, MLV, mlv, one_error_line, write_files
from mlv import Repo
from mlv.errors import IndexDamagedError, MlvError
from mlv.model.objects import Commit, Tree
from mlv.repo.database import open_database
from mlv.store.index import SCHEMA
from mlv.store.pack import (
    CODEC_RAW,
    KIND_CHUNK,
    KIND_META,
    RECORD_HEADER,
    PackWriter,
    encode_record,
    finished_packs,
    iter_records,
    tmp_packs,
)
from mlv.store.sqlite import connect_guarded

FILES = {
    "data/a.csv": "x,y\n1,2\n3,4\n",
    "data/b.txt": "bee\n",
    "notes.md": "# notes\n",
}
BIG = random.Random(3).randbytes(600_000)  # several chunks: a manifest


def ok(proc):  # type: ignore[no-untyped-def]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Two commits: small files, a table, a multi-chunk file and a symlink."""
    root = tmp_path / "repo"
    with Repo.init(root) as r:
        write_files(root, FILES)
        r.add(["."])
        r.commit("first", author=AUTHOR)
        write_files(root, {"data/big.bin": BIG, "data/b.txt": "bee 2\n"})
        os.symlink("data/b.txt", root / "link")
        r.add(["."])
        r.commit("second", author=AUTHOR)
    return root


def index_db(root: Path) -> Path:
    return root / ".mlv" / "index.db"


def working_files(root: Path) -> dict[str, bytes]:
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".mlv"):
            continue
        if path.is_symlink():
            found[rel] = b"-> " + os.readlink(path).encode()
        elif path.is_file():
            found[rel] = path.read_bytes()
    return found


def tables(root: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(index_db(root))
    try:
        found = {
            name: sorted(conn.execute(f"SELECT * FROM {name}").fetchall())
            for name in ("run_cache", "reproductions", "profiles", "pending_runs")
        }
        found["objects"] = sorted(
            conn.execute(
                "SELECT o.id, p.name, o.offset, o.length, o.kind"
                " FROM objects o JOIN packs p ON o.pack_no = p.pack_no"
            ).fetchall()
        )
        return found
    finally:
        conn.close()


# -- lost: deleted, emptied, or an empty database -------------------------------------


def _delete(db: Path) -> None:
    db.unlink()


def _empty(db: Path) -> None:
    db.write_bytes(b"")


def _fresh_database(db: Path) -> None:
    # What an earlier mlv left: a new, valid index that holds nothing.
    db.unlink()
    conn = sqlite3.connect(db)
    conn.executescript(SCHEMA)
    conn.close()


@pytest.mark.parametrize(
    "lose, said",
    [(_delete, "is missing"), (_empty, "is empty"), (_fresh_database, "indexes no pack")],
)
def test_a_lost_index_is_refused_in_one_line(repo: Path, lose, said: str) -> None:  # type: ignore[no-untyped-def]
    lose(index_db(repo))
    existed = index_db(repo).exists()
    for args in (["status"], ["log"], ["show", "HEAD"], ["add", "."], ["checkout", "HEAD~1"]):
        line = one_error_line(mlv(repo, *args))
        assert said in line and "mlv index rebuild" in line, line
        assert "no commit" not in line
    # Nothing was created in its place: the evidence stays as it was.
    assert index_db(repo).exists() == existed
    with pytest.raises(IndexDamagedError, match="index rebuild"):
        Repo(repo)


def test_fsck_reports_a_lost_index(repo: Path) -> None:
    index_db(repo).unlink()
    proc = mlv(repo, "fsck")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "index.db" in proc.stdout and "is missing" in proc.stdout
    assert "mlv index rebuild" in proc.stdout
    report = json.loads(mlv(repo, "fsck", "--json").stdout)
    assert report["ok"] is False
    assert report["problems"][0]["where"] == "index.db"


def test_a_new_repository_still_creates_its_index(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    ok(mlv(tmp_path, "init", str(root)))
    index_db(root).unlink()  # no pack yet: nothing to lose
    ok(mlv(root, "status"))
    assert index_db(root).exists()


def test_a_first_write_killed_before_its_index_rows_still_opens(tmp_path: Path) -> None:
    """A finished pack that no row names, and no commit yet: a valid repository."""
    root = tmp_path / "fresh"
    ok(mlv(tmp_path, "init", str(root)))
    writer = PackWriter(root / ".mlv" / "packs")
    writer.append(encode_record(bytes(32), KIND_CHUNK, CODEC_RAW, 1, b"x"))
    writer.finish()
    ok(mlv(root, "status"))
    proc = ok(mlv(root, "fsck"))
    assert "1 finished pack(s) are not in the index" in proc.stdout, proc.stdout


# -- damaged: not SQLite, truncated, torn pages ------------------------------------------


def _garbage(db: Path) -> None:
    db.write_bytes(random.Random(1).randbytes(db.stat().st_size))


def _truncated(db: Path) -> None:
    os.truncate(db, db.stat().st_size // 2)


def _header_zeroed(db: Path) -> None:
    with open(db, "r+b") as f:
        f.write(bytes(100))


def _schema_page_torn(db: Path) -> None:
    # Page 1 holds sqlite_master: garbage after the 100-byte file header.
    with open(db, "r+b") as f:
        f.seek(100)
        f.write(random.Random(2).randbytes(3900))


@pytest.mark.parametrize("damage", [_garbage, _truncated, _header_zeroed, _schema_page_torn])
def test_a_damaged_index_is_one_line_everywhere(repo: Path, damage) -> None:  # type: ignore[no-untyped-def]
    damage(index_db(repo))
    for args in (["status"], ["log"], ["show", "HEAD:notes.md"], ["add", "."]):
        line = one_error_line(mlv(repo, *args))
        assert "index" in line and "mlv index rebuild" in line, line
        assert "DatabaseError" not in line
    fsck = mlv(repo, "fsck")
    assert fsck.returncode == 1, fsck.stdout + fsck.stderr
    assert "Traceback" not in fsck.stdout + fsck.stderr
    assert "mlv index rebuild" in fsck.stdout, fsck.stdout


def test_fsck_finds_damage_inside_the_index(repo: Path) -> None:
    # Pages deep in the file: opening works, the objects table is torn.
    db = index_db(repo)
    size = db.stat().st_size
    with open(db, "r+b") as f:
        for page in range(2, size // 4096):
            f.seek(page * 4096 + 8)
            f.write(random.Random(page).randbytes(64))
    proc = mlv(repo, "fsck")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "mlv index rebuild" in proc.stdout + proc.stderr


def test_a_failure_in_the_middle_of_a_scan_is_typed(tmp_path: Path) -> None:
    """A page torn after the connection opened, met half-way through iterating rows."""
    db = tmp_path / "index.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", ((i, bytes(200)) for i in range(5000)))
    conn.commit()
    conn.close()
    guarded = connect_guarded(db, 1.0)
    try:
        assert guarded.execute("SELECT name FROM sqlite_master").fetchone() == ("t",)
        size = db.stat().st_size
        with open(db, "r+b") as f:
            f.seek(size * 3 // 4 // 4096 * 4096)
            f.write(b"\xff" * 4096)
        with pytest.raises(IndexDamagedError, match="index rebuild"):
            for _ in guarded.execute("SELECT v FROM t ORDER BY k"):
                pass
        with pytest.raises(IndexDamagedError):
            guarded.execute("SELECT v FROM t ORDER BY k").fetchall()
    finally:
        guarded.close()


def test_misuse_of_the_connection_is_not_called_damage(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "index.db")
    with pytest.raises(sqlite3.IntegrityError):
        conn.executescript("CREATE TABLE u (k PRIMARY KEY); INSERT INTO u VALUES (1), (1);")
    conn.close()


# -- rebuild-index --------------------------------------------------------------------


def test_rebuild_after_a_deleted_index_gives_everything_back(repo: Path) -> None:
    before = working_files(repo)
    with Repo(repo) as r:
        log = [e.id for e in r.log()]
        first = {p: r.read_bytes(log[1], p) for p in r.flat_tree(log[1])}
    old_tables = tables(repo)
    index_db(repo).unlink()
    one_error_line(mlv(repo, "status"))

    proc = ok(mlv(repo, "rebuild-index"))
    assert "Traceback" not in proc.stderr
    assert "indexed" in proc.stdout and "not rebuilt" in proc.stdout
    new_tables = tables(repo)
    assert new_tables["objects"] == old_tables["objects"]
    assert new_tables["profiles"] == old_tables["profiles"]

    ok(mlv(repo, "fsck"))
    log_out = ok(mlv(repo, "log", "--json")).stdout
    assert [e["id"] for e in json.loads(log_out)] == log
    status = json.loads(ok(mlv(repo, "status", "--json")).stdout)
    assert status["clean"], status
    ok(mlv(repo, "checkout", log[1]))
    assert {p: (repo / p).read_bytes() for p in first if not (repo / p).is_symlink()} == {
        p: d for p, d in first.items() if not (repo / p).is_symlink()
    }
    ok(mlv(repo, "checkout", "main"))
    assert working_files(repo) == before


@pytest.mark.parametrize("damage", [_garbage, _truncated, _schema_page_torn])
def test_rebuild_keeps_the_damaged_index_aside(repo: Path, damage) -> None:  # type: ignore[no-untyped-def]
    damage(index_db(repo))
    evidence = index_db(repo).read_bytes()
    proc = ok(mlv(repo, "rebuild-index", "--json"))
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["objects"] > 0
    kept = Path(report["moved_to"])
    assert kept.parent == repo / ".mlv" and kept.name.startswith("index.db.damaged-")
    assert kept.read_bytes() == evidence
    ok(mlv(repo, "fsck"))
    assert json.loads(ok(mlv(repo, "status", "--json")).stdout)["clean"]


def test_rebuilt_staging_has_no_stat_cache(repo: Path) -> None:
    """A same-size edit with the old mtime is still seen: nothing trusts the old stats."""
    index_db(repo).unlink()
    ok(mlv(repo, "rebuild-index"))
    conn = sqlite3.connect(index_db(repo))
    rows = conn.execute("SELECT path, mtime_ns, ino FROM staging").fetchall()
    conn.close()
    assert rows and all(m == -1 and ino == 0 for _, m, ino in rows)
    target = repo / "notes.md"
    info = target.stat()
    target.write_text("# nodes\n")
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    status = json.loads(ok(mlv(repo, "status", "--json")).stdout)
    assert status["modified"] == ["notes.md"]


def test_rebuild_makes_the_derived_tables_again(repo: Path) -> None:
    """The run cache, reproductions and profiles come from the objects the refs reach;
    the runs waiting for a commit are taken from the old index while it reads."""
    write_files(repo, {"in.txt": "input\n"})
    ok(mlv(repo, "run", "-n", "copy", "-d", "in.txt", "-o", "out.txt", "--", "cp in.txt out.txt"))
    ok(mlv(repo, "commit", "-m", "run"))
    write_files(repo, {"in2.txt": "second\n"})
    ok(mlv(repo, "run", "-n", "c2", "-d", "in2.txt", "-o", "out2.txt", "--", "cp in2.txt out2.txt"))
    before = tables(repo)
    assert len(before["run_cache"]) == 2 and len(before["pending_runs"]) == 1
    # The healthy index moved aside is still readable: its pending run is salvaged.
    report = json.loads(ok(mlv(repo, "rebuild-index", "--json")).stdout)
    after = tables(repo)
    assert after["run_cache"] == before["run_cache"]
    assert after["profiles"] == before["profiles"]
    assert [r[0] for r in after["pending_runs"]] == [r[0] for r in before["pending_runs"]]
    assert report["rebuilt"]["pending_runs"] == 1
    status = json.loads(ok(mlv(repo, "status", "--json")).stdout)
    assert len(status["pending_runs"]) == 1
    # The stage is up to date: repro of the same run would answer from the cache.
    # Without a readable old index, the waiting run cannot come back, and the report says so.
    index_db(repo).unlink()
    report = json.loads(ok(mlv(repo, "rebuild-index", "--json")).stdout)
    assert report["rebuilt"]["pending_runs"] == 0
    assert any("not yet committed" in n for n in report["not_rebuilt"])
    # The lost run is in the packs, but no ref reaches it: its outputs may not be kept,
    # so it must not answer a repro from the cache. The committed run still does.
    with Repo(repo) as r:
        committed = r.read_commit(r.resolve("HEAD")).runs
    assert [row for row in before["run_cache"] if row[1] in committed] == tables(repo)["run_cache"]
    assert len(tables(repo)["run_cache"]) == 1


def test_rebuild_skips_and_reports_a_damaged_record(repo: Path) -> None:
    with Repo(repo) as r:
        notes_id = r.trees.entry_at(r.read_commit(r.resolve("HEAD")).tree, "notes.md").id
    damaged_pack = None
    for pack in finished_packs(repo / ".mlv" / "packs"):
        for offset, header, _payload in iter_records(pack):
            if header.id_bytes.hex() == notes_id:
                damaged_pack, at = pack, offset + RECORD_HEADER.size
    assert damaged_pack is not None
    os.chmod(damaged_pack, 0o644)
    with open(damaged_pack, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0xFF]))
    index_db(repo).unlink()
    proc = mlv(repo, "rebuild-index")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert notes_id in proc.stdout and "Traceback" not in proc.stderr
    # Everything else is indexed; fsck names what the skipped record breaks.
    fsck = mlv(repo, "fsck", "--json")
    assert fsck.returncode == 1
    problems = json.loads(fsck.stdout)["problems"]
    assert {p["object_id"] for p in problems} == {notes_id}
    with Repo(repo) as r:
        assert r.read_bytes("HEAD", "data/big.bin") == BIG


def test_rebuild_removes_tmp_packs_and_a_stale_rebuild(repo: Path) -> None:
    packs = repo / ".mlv" / "packs"
    (packs / "tmp-pack-000000000000000000000000.pack").write_bytes(b"MLVPACK\x00" + bytes(500))
    (repo / ".mlv" / "index.db.rebuilding").write_bytes(b"half")
    report = json.loads(ok(mlv(repo, "rebuild-index", "--json")).stdout)
    assert report["tmp_packs_removed"] == 1 and report["tmp_bytes_removed"] == 508
    assert not list(packs.glob("tmp-*")) and not (repo / ".mlv" / "index.db.rebuilding").exists()


def test_rebuild_outside_a_repository(tmp_path: Path) -> None:
    line = one_error_line(mlv(tmp_path, "rebuild-index"))
    assert "not an mlv repository" in line


def test_rebuild_through_the_python_api(repo: Path) -> None:
    index_db(repo).write_bytes(b"not a database at all" * 100)
    with pytest.raises(MlvError):
        Repo(repo)
    report = Repo.rebuild_index(repo)
    assert report.ok and report.packs == len(finished_packs(repo / ".mlv" / "packs"))
    with Repo(repo) as r:
        assert r.fsck().ok
        assert r.read_bytes("HEAD", "data/big.bin") == BIG


# -- fsck: sizes in trees --------------------------------------------------------------


def _commit_with_wrong_size(root: Path, path: str) -> str:
    """Commit HEAD's tree again with the entry at ``path`` one byte too large; move main."""
    with Repo(root) as r:
        head = r.resolve("HEAD")

        def rewrite(tree_id: str, parts: list[str]) -> str:
            entries = []
            for e in r.trees.tree(tree_id).entries:
                if e.name == parts[0]:
                    e = e._replace(
                        id=rewrite(e.id, parts[1:]) if parts[1:] else e.id,
                        size=e.size if parts[1:] else e.size + 1,
                    )
                entries.append(e)
            return r.store.put_meta(Tree.of(entries).to_bytes(), KIND_META)

        tree = rewrite(r.read_commit(head).tree, path.split("/"))
        commit = Commit(tree, (head,), AUTHOR, int(time.time()), 0, f"wrong size of {path}")
        commit_id = r.store.put_meta(commit.to_bytes(), KIND_META)
        r.store.flush()
    (root / ".mlv" / "refs" / "heads" / "main").write_text(commit_id + "\n")
    return commit_id


@pytest.mark.parametrize("path", ["notes.md", "data/big.bin", "link"])
def test_fsck_finds_a_tree_entry_with_a_wrong_size(repo: Path, path: str) -> None:
    """A one-chunk file, a file with a manifest, a symlink."""
    _commit_with_wrong_size(repo, path)
    proc = mlv(repo, "fsck", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (problem,) = json.loads(proc.stdout)["problems"]
    assert problem["where"] == f"file {path}"
    assert "says" in problem["problem"] and "bytes but its content has" in problem["problem"]


# -- temporary packs of killed writes -------------------------------------------------------


def _kill_add_mid_write(root: Path, rel: str) -> None:
    """Start `mlv add rel` and SIGKILL it once its temporary pack holds some data."""
    packs = root / ".mlv" / "packs"
    before = set(tmp_packs(packs))
    proc = subprocess.Popen(
        [MLV, "add", rel],
        cwd=root,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            fresh = [p for p in tmp_packs(packs) if p not in before]
            if fresh and fresh[0].stat().st_size > 1_000_000:
                break
            assert proc.poll() is None, "add finished before it could be killed"
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_tmp_packs_of_killed_adds_are_noted_then_swept(tmp_path: Path) -> None:
    """Each killed add leaves its temporary pack; the next write removes the earlier ones,
    so they never pile up."""
    root = tmp_path / "repo"
    ok(mlv(tmp_path, "init", str(root)))
    rng = random.Random(5)
    seen: set[Path] = set()
    for n in range(3):
        write_files(root, {f"big{n}.bin": rng.randbytes(48 * 1024 * 1024)})
        _kill_add_mid_write(root, f"big{n}.bin")
        (left,) = tmp_packs(root / ".mlv" / "packs")  # this add's; the earlier one is gone
        assert left not in seen
        seen.add(left)
    size = left.stat().st_size

    proc = ok(mlv(root, "fsck"))  # a note, not damage
    assert f"1 temporary pack(s) ({size} bytes)" in proc.stdout, proc.stdout
    assert "next write" in proc.stdout
    assert json.loads(ok(mlv(root, "fsck", "--json")).stdout)["notes"]

    write_files(root, {"small.txt": "small\n"})
    ok(mlv(root, "add", "small.txt"))
    assert tmp_packs(root / ".mlv" / "packs") == []
    assert "temporary" not in ok(mlv(root, "fsck")).stdout
