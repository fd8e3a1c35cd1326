"""One SQLite idiom shared by the index and the staging area: selecting many keys at once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

# Keys per query: well under SQLite's limit on bound parameters, few round trips.
IN_BATCH = 500


def select_in(
    conn: sqlite3.Connection, select: str, column: str, keys: Sequence[Any]
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``select`` whose ``column`` is one of ``keys``, a few queries in all."""
    for start in range(0, len(keys), IN_BATCH):
        part = keys[start : start + IN_BATCH]
        marks = ",".join("?" * len(part))
        yield from conn.execute(f"{select} WHERE {column} IN ({marks})", part)
