"""SQLite idioms of the index and staging area: many keys at once, failures as typed errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from mlv.errors import DatabaseAccessError, IndexDamagedError, LockError, MlvError

# Keys per query: well under SQLite's limit on bound parameters, few round trips.
IN_BATCH = 500

# SQLite's primary result codes (the low byte of an extended code) that are not damage.
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_NOMEM, _SQLITE_READONLY = 3, 5, 6, 7, 8
_SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 10, 13, 14
_ACCESS_CODES = {_SQLITE_PERM, _SQLITE_NOMEM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CANTOPEN}
REBUILD_HINT = "run 'mlv index rebuild' to make it again from the packs"

# Rows fetched per step when a cursor is iterated: the translation costs nothing per row.
_FETCH_ROWS = 1024


def select_in(
    conn: sqlite3.Connection, select: str, column: str, keys: Sequence[Any]
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``select`` whose ``column`` is one of ``keys``, a few queries in all."""
    for start in range(0, len(keys), IN_BATCH):
        part = keys[start : start + IN_BATCH]
        marks = ",".join("?" * len(part))
        yield from conn.execute(f"{select} WHERE {column} IN ({marks})", part)


def typed_error(exc: sqlite3.DatabaseError, path: Path | str) -> MlvError | sqlite3.DatabaseError:
    """The mlv error a failure of the database at ``path`` stands for.

    Misuse of the API (``ProgrammingError``, ``IntegrityError``) is a bug, not a state of
    the disk, and is returned unchanged.
    """
    if isinstance(exc, (sqlite3.ProgrammingError, sqlite3.IntegrityError)):
        return exc
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return LockError(f"{path} is locked by another process ({exc}); try again later")
    if code == _SQLITE_FULL:
        return DatabaseAccessError(f"cannot write {path}: the disk is full; free space and retry")
    if code in _ACCESS_CODES:
        return DatabaseAccessError(
            f"cannot use {path} ({exc}); check the disk and the file's permissions"
        )
    # Corrupt pages, "file is not a database", a malformed schema, a missing table.
    return IndexDamagedError(f"the index {path} is damaged ({exc}); {REBUILD_HINT}")


def _reraise(exc: sqlite3.DatabaseError, path: Path | str) -> NoReturn:
    typed = typed_error(exc, path)
    if typed is exc:
        raise exc
    raise typed from exc


class GuardedCursor(sqlite3.Cursor):
    """A cursor that raises a failure of the database as a typed error (``typed_error``)."""

    connection: GuardedConnection

    def execute(self, sql: str, parameters: Any = (), /) -> GuardedCursor:
        try:
            return super().execute(sql, parameters)  # type: ignore[return-value]
        except sqlite3.DatabaseError as exc:
            _reraise(exc, self.connection.path)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> GuardedCursor:
        try:
            return super().executemany(sql, seq_of_parameters)  # type: ignore[return-value]
        except sqlite3.DatabaseError as exc:
            _reraise(exc, self.connection.path)

    def executescript(self, sql_script: str, /) -> GuardedCursor:
        try:
            return super().executescript(sql_script)  # type: ignore[return-value]
        except sqlite3.DatabaseError as exc:
            _reraise(exc, self.connection.path)

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as exc:
            _reraise(exc, self.connection.path)

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        try:
            return super().fetchmany(size)
        except sqlite3.DatabaseError as exc:
            _reraise(exc, self.connection.path)

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as exc:
            _reraise(exc, self.connection.path)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        # Rows come in batches: a damaged page met half-way through a scan is typed too.
        while rows := self.fetchmany(_FETCH_ROWS):
            yield from rows


class GuardedConnection(sqlite3.Connection):
    """A connection on which every failure of the database is one of mlv's typed errors.

    Every statement mlv runs goes through here, so a damaged index met in the middle of
    any command becomes one line that says what to run, never a ``DatabaseError``.
    """

    path: str

    def cursor(self, factory: Any = GuardedCursor) -> GuardedCursor:  # type: ignore[override]
        return super().cursor(factory)  # type: ignore[no-any-return]

    def execute(self, sql: str, parameters: Any = (), /) -> GuardedCursor:  # type: ignore[override]
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> GuardedCursor:  # type: ignore[override]
        return self.cursor().executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> GuardedCursor:  # type: ignore[override]
        return self.cursor().executescript(sql_script)

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.DatabaseError as exc:
            _reraise(exc, self.path)

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return super().__exit__(*exc_info)
        except sqlite3.DatabaseError as exc:
            _reraise(exc, self.path)


def connect_guarded(path: Path, timeout: float) -> GuardedConnection:
    """Open ``path`` (created if missing) as a ``GuardedConnection``."""
    try:
        conn = sqlite3.connect(
            path, timeout=timeout, check_same_thread=False, factory=GuardedConnection
        )
    except sqlite3.DatabaseError as exc:
        _reraise(exc, path)
    conn.path = str(path)
    return conn  # type: ignore[return-value]
