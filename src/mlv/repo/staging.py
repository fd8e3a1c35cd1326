"""The staging area: what the next commit will hold, and the stat cache that spares re-reads."""

from __future__ import annotations

import heapq
import sqlite3
import time
from array import array
from collections.abc import Collection, Iterable, Iterator
from typing import NamedTuple

from mlv.repo.trees import Entry, EntryRow
from mlv.repo.worktree import KIND_FILE, KIND_SYMLINK, FileStat, StatRow
from mlv.store.sqlite import select_in

SCHEMA = """
CREATE TABLE IF NOT EXISTS staging (
    path     TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    id       TEXT NOT NULL,
    size     INTEGER NOT NULL,
    exec     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ino      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# A stat recorded for a file modified this close to the moment it was read could
# hide a later edit within the same timestamp tick, so it is not trusted: the
# next status re-reads that file. File systems with whole-second timestamps
# (every mtime a multiple of 1 s) get a window to match.
RACY_WINDOW_NS = 50_000_000
COARSE_RACY_WINDOW_NS = 2_000_000_000
UNTRUSTED_MTIME = -1


def trusted_mtime(mtime_ns: int, now_ns: int | None = None) -> int:
    """``mtime_ns`` if it is safe to cache, else ``UNTRUSTED_MTIME``."""
    now = time.time_ns() if now_ns is None else now_ns
    window = COARSE_RACY_WINDOW_NS if mtime_ns % 1_000_000_000 == 0 else RACY_WINDOW_NS
    return UNTRUSTED_MTIME if mtime_ns > now - window else mtime_ns


# Key in ``meta``: the tree id the staging area was last known to equal.
CLEAN_TREE_KEY = "staged_tree"


class Staged(NamedTuple):
    """One staged file or symlink; ``mtime_ns``/``ino`` are its stat cache."""

    kind: str
    id: str
    size: int
    executable: bool
    mtime_ns: int
    ino: int

    def same_content(self, other: Staged) -> bool:
        return (self.kind, self.id, self.executable) == (other.kind, other.id, other.executable)


class StagedRows:
    """Entries about to be staged, held compactly (the id as 32 bytes, numbers in
    arrays) until the staging transaction: ``add`` of a million files holds them all."""

    _KINDS = (KIND_FILE, KIND_SYMLINK)

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._ids = bytearray()
        self._flags = bytearray()  # bit 0: a symlink; bit 1: executable
        self._numbers = array("q")  # size, mtime_ns, ino per entry

    def append(self, path: str, staged: Staged) -> None:
        self.paths.append(path)
        self._ids += bytes.fromhex(staged.id)
        self._flags.append((staged.kind == KIND_SYMLINK) | (bool(staged.executable) << 1))
        self._numbers.extend((staged.size, staged.mtime_ns, staged.ino))

    def __len__(self) -> int:
        return len(self.paths)

    def rows(self) -> Iterator[tuple[str, Staged]]:
        """The entries as (path, Staged), built one at a time."""
        ids, numbers, kinds = self._ids, self._numbers, self._KINDS
        for i, path in enumerate(self.paths):
            flags = self._flags[i]
            object_id = ids[32 * i : 32 * i + 32].hex()
            size, mtime_ns, ino = numbers[3 * i : 3 * i + 3]
            yield path, Staged(kinds[flags & 1], object_id, size, bool(flags & 2), mtime_ns, ino)


class StagingArea:
    """Rows of the ``staging`` table, keyed by POSIX path relative to the root."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.executescript(SCHEMA)

    def load(self) -> dict[str, Staged]:
        rows = self.conn.execute(
            "SELECT path, kind, id, size, exec, mtime_ns, ino FROM staging"
        ).fetchall()
        make = Staged._make
        return {row[0]: make(row[1:]) for row in rows}

    def iter_paths(self) -> Iterator[str]:
        """Every staged path, in path order, read as it goes rather than all at once."""
        for (path,) in self.conn.execute("SELECT path FROM staging ORDER BY path"):
            yield path

    def iter_entries(self) -> Iterator[EntryRow]:
        """Every staged (path, kind, id, size, executable), in path order, as it is read:
        what ``write_sorted_tree`` takes."""
        yield from self.conn.execute("SELECT path, kind, id, size, exec FROM staging ORDER BY path")

    def iter_staged(self) -> Iterator[tuple[str, Entry]]:
        """Every staged (path, entry), in path order, as it is read."""
        make = Entry._make
        for row in self.conn.execute(
            "SELECT path, kind, id, size, exec FROM staging ORDER BY path"
        ):
            yield row[0], make((row[1], row[2], row[3], bool(row[4])))

    def iter_rows(
        self, folders: Iterable[str] | None = None, page: int = 10_000
    ) -> Iterator[tuple[str, Staged]]:
        """The staged (path, entry) rows at or under ``folders`` (all without), in path
        order, read ``page`` rows at a time by key.

        No cursor stays open between pages, so the caller may change the stage as it
        goes, at paths before the last one it was given.
        """
        clauses = _under_clauses([""] if folders is None else folders)
        streams = [self._pages(where, args, page) for where, args in clauses]
        if len(streams) == 1:
            return streams[0]
        # Paths under "a" and under "a.b" interleave ("a.b/x" < "a/x"): merge, not chain.
        return heapq.merge(*streams, key=lambda row: row[0])

    def _pages(self, where: str, args: tuple[str, ...], page: int) -> Iterator[tuple[str, Staged]]:
        select = "SELECT path, kind, id, size, exec, mtime_ns, ino FROM staging"
        make = Staged._make
        rows = self.conn.execute(
            f"{select} WHERE {where} ORDER BY path LIMIT ?", (*args, page)
        ).fetchall()
        while rows:
            for row in rows:
                yield row[0], make(row[1:])
            if len(rows) < page:
                return
            rows = self.conn.execute(
                f"{select} WHERE ({where}) AND path > ? ORDER BY path LIMIT ?",
                (*args, rows[-1][0], page),
            ).fetchall()

    def load_stat_cache(self) -> dict[str, StatRow]:
        """Every staged path's stat row, without ids: what a status scan compares against."""
        rows = self.conn.execute(
            "SELECT path, mtime_ns, size, ino, kind, exec FROM staging"
        ).fetchall()
        return {row[0]: row for row in rows}

    def stat_rows_in(self, folder: str) -> dict[str, StatRow]:
        """The stat rows of the files staged directly in ``folder`` ("" for the root)."""
        select = "SELECT path, mtime_ns, size, ino, kind, exec FROM staging"
        if not folder:
            rows = self.conn.execute(f"{select} WHERE instr(path, '/') = 0")
        else:
            # Paths inside "a/b" sort between "a/b/" and "a/b0": '0' follows '/'.
            rows = self.conn.execute(
                f"{select} WHERE path > ? AND path < ? AND instr(substr(path, ?), '/') = 0",
                (folder + "/", folder + "0", len(folder) + 2),
            )
        return {row[0]: row for row in rows}

    def stat_rows_of(self, paths: list[str]) -> dict[str, StatRow]:
        """The stat rows of those of ``paths`` that are staged."""
        select = "SELECT path, mtime_ns, size, ino, kind, exec FROM staging"
        return {row[0]: row for row in select_in(self.conn, select, "path", paths)}

    def count_under(self, folders: Iterable[str]) -> int:
        """How many paths are staged at or under ``folders`` ("" for all), each counted once."""
        total = 0
        for where, args in _under_clauses(folders):
            total += self.conn.execute(
                f"SELECT count(*) FROM staging WHERE {where}", args
            ).fetchone()[0]
        return total

    def paths_under(self, folders: Iterable[str]) -> Iterator[str]:
        """The staged paths at or under ``folders``, read as they go."""
        for where, args in _under_clauses(folders):
            for (path,) in self.conn.execute(f"SELECT path FROM staging WHERE {where}", args):
                yield path

    def top_levels(self) -> list[str]:
        """The first components of the staged paths, sorted: an index seek or two
        each, so a stage of a million files under a few folders costs a few queries."""
        found: set[str] = set()
        row = self.conn.execute("SELECT min(path) FROM staging").fetchone()
        while row is not None and row[0] is not None:
            top, below, _ = row[0].partition("/")
            found.add(top)
            if below:  # past everything below ``top`` at once: "a/…" lies before "a0"
                row = self.conn.execute(
                    "SELECT min(path) FROM staging WHERE path >= ?", (top + "0",)
                ).fetchone()
            else:  # past the file only: "a.txt" sorts between "a" and "a/…"
                row = self.conn.execute(
                    "SELECT min(path) FROM staging WHERE path > ?", (row[0],)
                ).fetchone()
        return sorted(found)

    def load_paths(self, paths: Iterable[str]) -> dict[str, Staged]:
        """The staged entries of ``paths`` (those that are staged), in a few queries."""
        select = "SELECT path, kind, id, size, exec, mtime_ns, ino FROM staging"
        return {
            row[0]: Staged._make(row[1:])
            for row in select_in(self.conn, select, "path", list(paths))
        }

    def load_under(self, folder: str) -> dict[str, Staged]:
        """The staged entries inside ``folder`` (a path relative to the root, "" for all)."""
        if not folder:
            return self.load()
        # Paths inside "a/b" sort between "a/b/" and "a/b0": '0' follows '/'.
        rows = self.conn.execute(
            "SELECT path, kind, id, size, exec, mtime_ns, ino FROM staging"
            " WHERE path > ? AND path < ?",
            (folder + "/", folder + "0"),
        ).fetchall()
        return {row[0]: Staged._make(row[1:]) for row in rows}

    def apply(
        self,
        upserts: Iterable[tuple[str, Staged]] = (),
        deletes: Iterable[str] = (),
        tree_id: str | None = None,
    ) -> None:
        """Change the staging area in one transaction.

        ``tree_id`` records the tree the result is known to equal (after a commit
        or checkout); any other change forgets it.
        """
        with self.conn:
            self.conn.executemany("DELETE FROM staging WHERE path = ?", ((p,) for p in deletes))
            self.conn.executemany(
                "INSERT OR REPLACE INTO staging(path, kind, id, size, exec, mtime_ns, ino)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((p, *s) for p, s in upserts),
            )
            if tree_id is None:
                self.conn.execute("DELETE FROM meta WHERE key = ?", (CLEAN_TREE_KEY,))
            else:
                self.conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                    (CLEAN_TREE_KEY, tree_id),
                )

    def refresh_stats(self, stats: Iterable[tuple[str, str, int, int]]) -> None:
        """Record fresh (path, id, mtime_ns, ino) for files found unchanged by content.

        Only rows still holding that id are touched, so a concurrent ``add`` wins.
        """
        with self.conn:
            self.conn.executemany(
                "UPDATE staging SET mtime_ns = ?, ino = ? WHERE path = ? AND id = ?",
                ((m, i, p, object_id) for p, object_id, m, i in stats),
            )

    def known_tree(self) -> str | None:
        row = self.conn.execute(
            "SELECT value FROM meta WHERE key = ?", (CLEAN_TREE_KEY,)
        ).fetchone()
        return None if row is None else row[0]


def _under_clauses(folders: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
    """SQL conditions that select the paths at or under each folder, none nested in another."""
    wanted = sorted({f.strip("/") if f not in (".",) else "" for f in folders})
    if "" in wanted:
        return [("1", ())]
    kept: list[str] = []
    for folder in wanted:
        if not any(folder.startswith(k + "/") for k in kept):
            kept.append(folder)
    return [("(path = ? OR (path > ? AND path < ?))", (f, f + "/", f + "0")) for f in kept]


def displaced_by(new_paths: Iterable[str], staged: Collection[str]) -> set[str]:
    """The staged paths that staging ``new_paths`` pushes out, as in git: a file at a
    folder above a new path, and whatever lies below a new path.

    A stage must never hold both ``p`` and ``p/…``: no tree could be written for it.
    Only paths not staged yet can displace anything (the stage was consistent), so
    re-adding known files costs one set lookup each.
    """
    fresh = [p for p in new_paths if p not in staged]
    if not fresh or not staged:
        return set()
    out = {parent for p in fresh for parent in folders_above(p) if parent in staged}
    folders: set[str] = set()
    for path in staged:
        folders.update(folders_above(path))
    below = [p for p in fresh if p in folders]
    if below:
        prefixes = tuple(p + "/" for p in below)
        out.update(path for path in staged if path.startswith(prefixes))
    return out


def folders_above(path: str) -> list[str]:
    """The folders above ``path``, outermost first: "a/b/c" -> ["a", "a/b"]."""
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def stat_matches(staged: Staged | None, info: FileStat) -> bool:
    """Whether the stat cache vouches that the file on disk still has the staged content."""
    return (
        staged is not None
        and staged.mtime_ns == info.mtime_ns
        and staged.size == info.size
        and staged.ino == info.ino
        and staged.kind == info.kind
        and staged.executable == info.executable
    )


def staged_from(object_id: str, info: FileStat) -> Staged:
    """The staged entry of a file read at ``info`` with id ``object_id``."""
    return Staged(
        info.kind, object_id, info.size, info.executable, trusted_mtime(info.mtime_ns), info.ino
    )


def as_entry(staged: Staged) -> Entry:
    """A staged file as a tree entry."""
    return Entry(staged.kind, staged.id, staged.size, bool(staged.executable))
