"""Opening ``index.db``: the object index, the staging area and small repository facts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

BUSY_TIMEOUT_MS = 60_000


def open_database(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the repository database in WAL mode.

    WAL lets readers run while one process writes. ``synchronous=FULL`` makes each
    committed transaction durable before the call returns: a ref (fsynced) must
    never survive a power loss that the index rows it depends on did not.
    """
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn
