"""What a remote holds, as this repository last saw it: its packs' indexes, in SQLite.

``.mlv/remotes/<name>/packs.db`` is a cache of the remote's ``packs/*.idx`` files:
which objects the remote holds, in which pack, at which offset. A push asks it
which objects the remote lacks; a fetch asks it where to read what it lacks
itself. ``sync`` brings it up to date with one listing of ``packs/`` and a read
of each index it has not seen (indexes never change once written). Being a
cache, a damaged or missing file is rebuilt from the remote, never an error.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlv.core.hashing import id_from_bytes, id_to_bytes
from mlv.errors import FormatError, MlvError, RemoteError
from mlv.model.canonical import loads
from mlv.remote.layout import CONDEMNED, PACKS, index_key, parse_pack_key
from mlv.remote.packindex import PackIndex, decode_index
from mlv.remote.storage import Storage
from mlv.store.sqlite import IN_BATCH, connect_guarded

SCHEMA = """
CREATE TABLE IF NOT EXISTS packs (
    pack_no   INTEGER PRIMARY KEY,
    pack_id   TEXT NOT NULL UNIQUE,
    size      INTEGER NOT NULL,
    condemned INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS objects (
    id      BLOB NOT NULL,
    pack_no INTEGER NOT NULL,
    offset  INTEGER NOT NULL,
    length  INTEGER NOT NULL,
    kind    INTEGER NOT NULL,
    PRIMARY KEY (id, pack_no)
) WITHOUT ROWID;
"""
INDEX_READERS = 8


@dataclass(frozen=True, slots=True)
class RemoteLocation:
    """Where a record lies on the remote."""

    pack_id: str
    offset: int
    length: int
    kind: int


@dataclass
class SyncReport:
    packs: int = 0
    new_indexes: int = 0
    skipped: list[str] = field(default_factory=list)  # why some indexes were not taken


class RemoteIndex:
    """The cache of one remote's pack indexes, at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = self._open()
        except MlvError:
            # A cache: what was there is read again from the remote.
            _remove_database(path)
            self.conn = self._open()

    def _open(self) -> sqlite3.Connection:
        conn = connect_guarded(self.path, timeout=60.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        conn.execute("SELECT count(*) FROM packs").fetchone()
        return conn

    def close(self) -> None:
        self.conn.close()

    # -- bringing it up to date ------------------------------------------------------

    def sync(self, storage: Storage) -> SyncReport:
        """Read what the remote's ``packs/`` holds now: new indexes in, gone packs out.

        A pack counts only when both its ``.pack`` and its ``.idx`` are listed, the
        index is whole and names that pack, and the sizes agree: a push killed
        between the two leaves a pack that no one counts, and gc removes later.
        """
        listed: dict[str, dict[str, int]] = {}
        for key, size in storage.list(PACKS):
            parsed = parse_pack_key(key)
            if parsed is not None:
                listed.setdefault(parsed[0], {})[parsed[1]] = size
        complete = {pid: sizes for pid, sizes in listed.items() if {"pack", "idx"} <= sizes.keys()}
        known = dict(self.conn.execute("SELECT pack_id, pack_no FROM packs"))
        gone = [known[pid] for pid in known.keys() - complete.keys()]
        report = SyncReport(packs=len(complete))
        with self.conn:
            for pack_no in gone:
                self.conn.execute("DELETE FROM objects WHERE pack_no = ?", (pack_no,))
                self.conn.execute("DELETE FROM packs WHERE pack_no = ?", (pack_no,))
        new = sorted(complete.keys() - known.keys())
        with ThreadPoolExecutor(INDEX_READERS) as pool:
            for pack_id, result in zip(
                new, pool.map(lambda pid: _read_index(storage, pid), new), strict=True
            ):
                if isinstance(result, str):
                    report.skipped.append(result)
                    continue
                if result.pack_size != complete[pack_id]["pack"]:
                    report.skipped.append(
                        f"pack {pack_id[:12]} is {complete[pack_id]['pack']} bytes but its "
                        f"index says {result.pack_size}"
                    )
                    continue
                self.add_pack(
                    pack_id,
                    result.pack_size,
                    ((e.id_bytes, e.offset, e.length, e.kind) for e in result.entries),
                )
                report.new_indexes += 1
        self.set_condemned(read_condemned(storage))
        return report

    def add_pack(
        self, pack_id: str, size: int, entries: Iterable[tuple[bytes, int, int, int]]
    ) -> None:
        """Record a pack the remote holds, with its (id, offset, length, kind) entries."""
        with self.conn:
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO packs(pack_id, size) VALUES (?, ?)", (pack_id, size)
            )
            if not cur.rowcount:
                return
            pack_no = cur.lastrowid
            self.conn.executemany(
                "INSERT OR IGNORE INTO objects(id, pack_no, offset, length, kind)"
                " VALUES (?, ?, ?, ?, ?)",
                ((i, pack_no, off, length, kind) for i, off, length, kind in entries),
            )

    def set_condemned(self, pack_ids: set[str]) -> None:
        with self.conn:
            self.conn.execute("UPDATE packs SET condemned = 0")
            self.conn.executemany(
                "UPDATE packs SET condemned = 1 WHERE pack_id = ?", ((p,) for p in pack_ids)
            )

    # -- asking it -------------------------------------------------------------------

    def present(self, ids: list[str]) -> set[str]:
        """The ids among ``ids`` that the remote holds in a pack gc has not condemned:
        a push may count on those being there when its ref is written."""
        rows = self._by_ids(
            "SELECT o.id FROM objects o JOIN packs p USING (pack_no)"
            " WHERE p.condemned = 0 AND o.id IN ({marks})",
            ids,
        )
        return {id_from_bytes(row[0]) for row in rows}

    def locate(self, ids: list[str]) -> dict[str, RemoteLocation]:
        """Where the remote holds each of ``ids`` it holds; a pack not condemned first."""
        rows = self._by_ids(
            "SELECT o.id, p.pack_id, o.offset, o.length, o.kind, p.condemned"
            " FROM objects o JOIN packs p USING (pack_no) WHERE o.id IN ({marks})",
            ids,
        )
        found: dict[str, tuple[int, RemoteLocation]] = {}
        for id_bytes, pack_id, offset, length, kind, condemned in rows:
            object_id = id_from_bytes(id_bytes)
            best = found.get(object_id)
            if best is None or condemned < best[0]:
                found[object_id] = (condemned, RemoteLocation(pack_id, offset, length, kind))
        return {object_id: location for object_id, (_, location) in found.items()}

    def _by_ids(self, sql: str, ids: list[str]) -> Iterator[tuple[Any, ...]]:
        keys = [id_to_bytes(i) for i in ids]
        for start in range(0, len(keys), IN_BATCH):
            part = keys[start : start + IN_BATCH]
            yield from self.conn.execute(sql.format(marks=",".join("?" * len(part))), part)

    def iter_objects(self, kinds: tuple[int, ...]) -> Iterator[tuple[str, RemoteLocation]]:
        """Every object of ``kinds`` the remote holds, one location each."""
        marks = ",".join("?" * len(kinds))
        seen: set[bytes] = set()
        for id_bytes, pack_id, offset, length, kind in self.conn.execute(
            "SELECT o.id, p.pack_id, o.offset, o.length, o.kind FROM objects o"
            f" JOIN packs p USING (pack_no) WHERE o.kind IN ({marks})"
            " ORDER BY p.condemned, p.pack_id, o.offset",
            kinds,
        ):
            if id_bytes not in seen:
                seen.add(id_bytes)
                yield id_from_bytes(id_bytes), RemoteLocation(pack_id, offset, length, kind)

    def pack_ids(self) -> dict[str, int]:
        """The packs the remote holds, with their sizes."""
        return dict(self.conn.execute("SELECT pack_id, size FROM packs"))

    def pack_entries(self, pack_id: str) -> list[tuple[str, RemoteLocation]]:
        return [
            (id_from_bytes(i), RemoteLocation(pack_id, off, length, kind))
            for i, off, length, kind in self.conn.execute(
                "SELECT o.id, o.offset, o.length, o.kind FROM objects o JOIN packs p"
                " USING (pack_no) WHERE p.pack_id = ? ORDER BY o.offset",
                (pack_id,),
            )
        ]


def batches_of(
    locations: Iterable[tuple[str, RemoteLocation]], limit: int
) -> Iterator[dict[str, RemoteLocation]]:
    """``locations`` in groups of about ``limit`` bytes of records, in the order given."""
    batch: dict[str, RemoteLocation] = {}
    size = 0
    for object_id, location in locations:
        batch[object_id] = location
        size += location.length
        if size >= limit:
            yield batch
            batch, size = {}, 0
    if batch:
        yield batch


def read_condemned(storage: Storage) -> set[str]:
    """The packs a gc of the remote has condemned (``gc/condemned.json``)."""
    data = storage.get(CONDEMNED)
    if data is None:
        return set()
    try:
        doc = loads(data.strip())
        packs = doc["packs"]
        if not isinstance(packs, dict):
            raise TypeError
        return {str(p) for p in packs}
    except (FormatError, KeyError, TypeError, AttributeError):
        raise RemoteError(
            f"remote {storage.url}: {CONDEMNED} is damaged; run 'mlv gc --remote' to write it again"
        ) from None


def _read_index(storage: Storage, pack_id: str) -> PackIndex | str:
    key = index_key(pack_id)
    data = storage.get(key)
    if data is None:
        return f"index {key} vanished while being read"
    try:
        index = decode_index(data, f"{storage.url}/{key}")
    except (FormatError, MlvError) as exc:
        return str(exc)
    if index.pack_id != pack_id:
        return f"index {key} names another pack ({index.pack_id[:12]})"
    return index


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(path) + suffix).unlink()
