"""``mlv migrate``: what a repository written by mlv 0.2 (format 1) needs to be current.

Idempotent and crash-safe: each step writes objects first and moves a ref last, and
a step already done finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlv.errors import NotARepositoryError
from mlv.repo import notes
from mlv.repo.config import Config
from mlv.repo.database import open_database
from mlv.repo.layout import Layout, find_root
from mlv.repo.locking import DEFAULT_LOCK_TIMEOUT, WriteLock
from mlv.repo.records import RunRecords
from mlv.repo.refs import RefStore
from mlv.store.objectstore import ObjectStore


@dataclass
class MigrateReport:
    reproductions_linked: int  # reproductions the notes chain did not name before


def migrate(path: Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> MigrateReport:
    """Put the reproductions only mlv 0.2's index lists on ``refs/notes/reproductions``."""
    root = find_root(path)
    if root is None:
        raise NotARepositoryError(
            f"not an mlv repository (or any parent up to /): {path.resolve()}; run 'mlv init' first"
        )
    layout = Layout(root)
    Config.load(layout.config)
    with WriteLock(layout.lock, lock_timeout):
        conn = open_database(layout.index_db)
        store = ObjectStore(layout.packs, conn)
        try:
            refs = RefStore(layout)
            RunRecords(conn)  # its tables, in an index that lacks one
            linked = set(notes.all_records(store, refs, notes.REPRODUCTIONS))
            rows = conn.execute("SELECT id FROM reproductions ORDER BY time, rowid").fetchall()
            # Only objects the packs hold can be named: a ref must never reach a gap.
            missing = [r for (r,) in rows if r not in linked and store.has(r)]
            if missing:
                notes.append(store, refs, notes.REPRODUCTIONS, missing, "migrate: format 1")
        finally:
            store.close()
            conn.close()
    return MigrateReport(len(missing))
