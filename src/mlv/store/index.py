"""The object index: an SQLite table from object id to pack, offset and length."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

from mlv.store.pack import Location
from mlv.store.sqlite import select_in

SCHEMA = """
CREATE TABLE IF NOT EXISTS packs (
    pack_no INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS objects (
    id      BLOB PRIMARY KEY,
    pack_no INTEGER NOT NULL REFERENCES packs(pack_no),
    offset  INTEGER NOT NULL,
    length  INTEGER NOT NULL,
    kind    INTEGER NOT NULL
) WITHOUT ROWID;
"""


class ObjectIndex:
    """Reads and writes the ``packs`` and ``objects`` tables of ``index.db``.

    The caller owns the connection and its transactions.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.executescript(SCHEMA)
        self._pack_names: dict[int, str] = {}

    def lookup(self, id_bytes: bytes) -> Location | None:
        row = self.conn.execute(
            "SELECT pack_no, offset, length, kind FROM objects WHERE id = ?", (id_bytes,)
        ).fetchone()
        if row is None:
            return None
        return Location(self._pack_name(row[0]), row[1], row[2], row[3])

    def contains(self, id_bytes: bytes) -> bool:
        return (
            self.conn.execute("SELECT 1 FROM objects WHERE id = ?", (id_bytes,)).fetchone()
            is not None
        )

    def present(self, ids: set[bytes]) -> set[bytes]:
        """The subset of ``ids`` that the index holds."""
        return {row[0] for row in select_in(self.conn, "SELECT id FROM objects", "id", list(ids))}

    def lookup_many(self, ids: list[bytes]) -> dict[bytes, Location]:
        """Locations of the ``ids`` the index holds, in a few queries."""
        rows = select_in(
            self.conn, "SELECT id, pack_no, offset, length, kind FROM objects", "id", ids
        )
        return {
            id_bytes: Location(self._pack_name(pack_no), offset, length, kind)
            for id_bytes, pack_no, offset, length, kind in rows
        }

    def add_pack(self, name: str, entries: Iterable[tuple[bytes, int, int, int]]) -> None:
        """Record a finished pack and its (id, offset, length, kind) entries."""
        cur = self.conn.execute("INSERT OR IGNORE INTO packs(name) VALUES (?)", (name,))
        pack_no = cur.lastrowid
        if not cur.rowcount:
            pack_no = self.conn.execute(
                "SELECT pack_no FROM packs WHERE name = ?", (name,)
            ).fetchone()[0]
        # An id already indexed elsewhere keeps its first location: both copies are valid.
        self.conn.executemany(
            "INSERT OR IGNORE INTO objects(id, pack_no, offset, length, kind)"
            " VALUES (?, ?, ?, ?, ?)",
            ((i, pack_no, off, length, kind) for i, off, length, kind in entries),
        )

    def iter_all(self) -> Iterator[tuple[bytes, Location]]:
        names = dict(self.conn.execute("SELECT pack_no, name FROM packs"))
        for id_bytes, pack_no, offset, length, kind in self.conn.execute(
            "SELECT id, pack_no, offset, length, kind FROM objects ORDER BY pack_no, offset"
        ):
            yield id_bytes, Location(names[pack_no], offset, length, kind)

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM objects").fetchone()[0]

    def pack_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM packs ORDER BY pack_no")]

    def _pack_name(self, pack_no: int) -> str:
        name = self._pack_names.get(pack_no)
        if name is None:
            name = self.conn.execute(
                "SELECT name FROM packs WHERE pack_no = ?", (pack_no,)
            ).fetchone()[0]
            self._pack_names[pack_no] = name
        return name
