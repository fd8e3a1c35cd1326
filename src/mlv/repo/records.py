"""Bookkeeping in ``index.db``: pending runs, the run cache, reproductions, profiles, code
ids, and the rows of the runs table.

All are derived: the run, commit, reproduction and profile objects in the store are
the truth, and these tables only find them quickly.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence

from mlv.errors import DatabaseAccessError, LockError
from mlv.store.sqlite import IN_BATCH, select_in

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending_runs (
    run_id TEXT PRIMARY KEY,
    outs TEXT NOT NULL,          -- JSON: output path -> id, to match against a commit's tree
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS run_cache (
    key TEXT PRIMARY KEY,        -- what a run depends on: command, inputs, params, env
    run_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reproductions (
    commit_id TEXT NOT NULL,
    id TEXT NOT NULL,
    time INTEGER NOT NULL,
    PRIMARY KEY (commit_id, id)
);
CREATE TABLE IF NOT EXISTS profiles (
    content_id TEXT PRIMARY KEY, -- a table file's id
    profile_id TEXT NOT NULL     -- the profile object of that content
);
CREATE TABLE IF NOT EXISTS code_ids (
    git_sha TEXT PRIMARY KEY,    -- a git blob id from the git index
    content_id TEXT NOT NULL     -- the mlv id of the same file content
);
CREATE TABLE IF NOT EXISTS run_rows (
    run_id TEXT PRIMARY KEY,     -- a run object's id
    version INTEGER NOT NULL,    -- the way the row was made from the run
    row TEXT NOT NULL            -- JSON: the run's values and outputs, as the runs table reads them
);
"""
# A cache that is written by readers waits for no writer: it is filled another time.
NO_WAIT_MS = 0


class RunRecords:
    """The derived tables; every method is one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.executescript(SCHEMA)

    # -- runs waiting for the next commit ---------------------------------------

    def add_pending(self, run_id: str, outs: dict[str, str]) -> None:
        with self.conn:
            (seq,) = self.conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM pending_runs"
            ).fetchone()
            self.conn.execute(
                "INSERT OR REPLACE INTO pending_runs(run_id, outs, seq) VALUES (?, ?, ?)",
                (run_id, json.dumps(outs, sort_keys=True), seq),
            )

    def pending(self) -> list[tuple[str, dict[str, str]]]:
        """Waiting runs, newest first."""
        rows = self.conn.execute("SELECT run_id, outs FROM pending_runs ORDER BY seq DESC")
        return [(run_id, json.loads(outs)) for run_id, outs in rows]

    def matching_pending(self, id_at: Callable[[str], str | None]) -> tuple[list[str], list[str]]:
        """The waiting runs whose every output is what a tree holds, newest first, and
        the older ones they supersede.

        ``id_at`` gives the id at a path in that tree (a file's id, a folder's tree
        id), or None. When two runs wrote the same path, the newer one produced it;
        an older run that wrote a path a chosen run claims will never be carried.
        """
        claimed: set[str] = set()
        chosen, superseded = [], []
        for run_id, outs in self.pending():
            if any(p in claimed for p in outs):
                superseded.append(run_id)
                continue
            if all(id_at(path) == object_id for path, object_id in outs.items()):
                chosen.append(run_id)
                claimed.update(outs)
        return chosen, superseded

    def drop_pending(self, run_ids: Iterable[str]) -> None:
        with self.conn:
            self.conn.executemany(
                "DELETE FROM pending_runs WHERE run_id = ?", ((r,) for r in run_ids)
            )

    # -- run cache ----------------------------------------------------------------

    def cached_run(self, key: str) -> str | None:
        row = self.conn.execute("SELECT run_id FROM run_cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def cache_run(self, key: str, run_id: str) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO run_cache(key, run_id) VALUES (?, ?)", (key, run_id)
            )

    # -- reproductions --------------------------------------------------------------

    def add_reproduction(self, commit_id: str, reproduction_id: str, time: int) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO reproductions(commit_id, id, time) VALUES (?, ?, ?)",
                (commit_id, reproduction_id, time),
            )

    def reproductions_of(self, commit_id: str) -> list[str]:
        """Ids of the reproductions of a commit, oldest first."""
        rows = self.conn.execute(
            "SELECT id FROM reproductions WHERE commit_id = ? ORDER BY time, rowid", (commit_id,)
        )
        return [r[0] for r in rows]

    # -- table profiles -------------------------------------------------------------

    def profiles_of(self, content_ids: Sequence[str]) -> dict[str, str]:
        """The profile id of each content that has one, by content id; a few queries."""
        select = "SELECT content_id, profile_id FROM profiles"
        return {c: p for c, p in select_in(self.conn, select, "content_id", content_ids)}

    def add_profiles(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Record (content id, profile id) pairs."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO profiles(content_id, profile_id) VALUES (?, ?)", pairs
            )

    # -- source files captured from git ----------------------------------------------

    def code_ids_of(self, git_shas: Sequence[str]) -> dict[str, str]:
        """The mlv content id of each git blob id seen before, by git blob id."""
        select = "SELECT git_sha, content_id FROM code_ids"
        return {g: c for g, c in select_in(self.conn, select, "git_sha", git_shas)}

    def add_code_ids(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Record (git blob id, mlv content id) pairs."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO code_ids(git_sha, content_id) VALUES (?, ?)", pairs
            )

    # -- rows of the runs table -------------------------------------------------------

    def run_rows(self, run_ids: Sequence[str], version: int) -> dict[str, str]:
        """The stored row (JSON text) of each run that has one made the ``version`` way."""
        found: dict[str, str] = {}
        select = "SELECT run_id, row FROM run_rows WHERE version = ? AND run_id IN"
        for start in range(0, len(run_ids), IN_BATCH):
            part = list(run_ids[start : start + IN_BATCH])
            marks = ",".join("?" * len(part))
            found.update(self.conn.execute(f"{select} ({marks})", [int(version), *part]))
        return found

    def add_run_rows(self, rows: Iterable[tuple[str, str]], version: int) -> bool:
        """Keep (run id, row JSON) pairs; False, and nothing kept, when another process is
        writing the index (the rows are made again next time: they only save reading)."""
        pairs = [(run_id, int(version), row) for run_id, row in rows]
        if not pairs:
            return True
        (timeout,) = self.conn.execute("PRAGMA busy_timeout").fetchone()
        self.conn.execute(f"PRAGMA busy_timeout={NO_WAIT_MS}")
        try:
            with self.conn:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO run_rows(run_id, version, row) VALUES (?, ?, ?)",
                    pairs,
                )
        except (sqlite3.OperationalError, LockError, DatabaseAccessError):
            return False
        finally:
            self.conn.execute(f"PRAGMA busy_timeout={int(timeout)}")
        return True
