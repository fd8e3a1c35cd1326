"""Opening ``index.db``: the object index, the staging area and small repository facts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mlv.errors import IndexDamagedError, UnsupportedVersionError
from mlv.repo.layout import PACKS_DIR, REFS_DIR
from mlv.store.pack import finished_packs
from mlv.store.sqlite import REBUILD_HINT, connect_guarded

BUSY_TIMEOUT_MS = 60_000

# ``PRAGMA user_version`` of index.db: 0 is what mlv 0.2 (repository format 1) wrote.
# 1 added nothing on disk; 2: reproductions are a cache of refs/notes/reproductions.
SCHEMA_VERSION = 2


def open_database(path: Path, *, expect_index: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) the repository database in WAL mode.

    WAL lets readers run while one process writes. ``synchronous=FULL`` makes each
    committed transaction durable before the call returns: a ref (fsynced) must
    never survive a power loss that the index rows it depends on did not.

    With ``expect_index``, an index that is missing or empty while finished packs lie
    beside it, or that indexes no pack while they do and a ref names a commit, is
    refused with ``IndexDamagedError``: opening it as a new, empty index would make
    every commit look absent. Every statement on the connection raises a damaged or
    unusable database as a typed error.
    """
    packs_dir = path.parent / PACKS_DIR
    if expect_index and _file_is_empty(path):
        _refuse_if_packs(path, packs_dir, "is missing" if not path.exists() else "is empty")
    conn = connect_guarded(path, BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        # A pack no row names is also what a first write killed before its index rows
        # leaves; only once a ref names a commit must the index hold a pack.
        if expect_index and not _indexes_a_pack(conn) and _names_a_commit(path.parent):
            _refuse_if_packs(path, packs_dir, "indexes no pack")
        migrate_schema(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Bring an older index up to ``SCHEMA_VERSION`` in one transaction; refuse a newer one.

    Every table is created by its owner with ``CREATE TABLE IF NOT EXISTS``, so the
    steps so far change no table: they only record the version. A step that alters a
    table goes here, before the version it brings.
    """
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise UnsupportedVersionError(
            f"{path.name} has schema version {version} but this mlv reads up to "
            f"{SCHEMA_VERSION}; upgrade mlv"
        )
    if version == SCHEMA_VERSION:
        return
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        # Read again under the write lock of SQLite: another process may have done it.
        if schema_version(conn) < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _file_is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return True


def _indexes_a_pack(conn: sqlite3.Connection) -> bool:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'packs'").fetchone() is None:
        return False
    return conn.execute("SELECT 1 FROM packs LIMIT 1").fetchone() is not None


def _names_a_commit(mlv_dir: Path) -> bool:
    refs = mlv_dir / REFS_DIR
    return any(p.is_file() for p in refs.rglob("*")) if refs.is_dir() else False


def _refuse_if_packs(path: Path, packs_dir: Path, problem: str) -> None:
    count = len(finished_packs(packs_dir))
    if count:
        raise IndexDamagedError(
            f"the index {path} {problem} while {packs_dir} holds {count} pack(s), "
            f"so no object can be found; {REBUILD_HINT}"
        )
