"""``mlv migrate``: what a repository written by mlv 0.2 (format 1) needs to be current.

Idempotent and crash-safe: each step writes objects first and moves a ref last, a
step already done finds nothing left to do, and ``core.format`` is raised last of
all, so a migration killed half-way is finished by running it again.

Format 1 to 2: the reproductions only the old index lists go on the notes chain.
Stored objects keep their bytes and ids (so every commit id a user or an
``mlv.lock`` names stays valid): a format-1 tree's table entries still name their
profiles, which format 2 reads but never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlv.core.hashing import is_object_id
from mlv.core.paths import is_temporary_name
from mlv.errors import MlvError, NotARepositoryError
from mlv.model.runs import Reproduction
from mlv.repo import notes, reachable
from mlv.repo.config import Config, write_format
from mlv.repo.database import open_database
from mlv.repo.layout import REPOSITORY_FORMAT, Layout, find_root
from mlv.repo.locking import DEFAULT_LOCK_TIMEOUT, WriteLock
from mlv.repo.records import RunRecords
from mlv.repo.refs import RefStore
from mlv.store.objectstore import ObjectStore


@dataclass
class MigrateReport:
    reproductions_linked: int  # reproductions the notes chain did not name before
    format_before: int
    format_after: int


def migrate(path: Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> MigrateReport:
    """Convert the repository at ``path`` to the current format (nothing to do when it
    has it): the reproductions only mlv 0.2's index lists go on
    ``refs/notes/reproductions``, then ``core.format`` is raised."""
    root = find_root(path)
    if root is None:
        raise NotARepositoryError(
            f"not an mlv repository (or any parent up to /): {path.resolve()}; run 'mlv init' first"
        )
    layout = Layout(root)
    with WriteLock(layout.lock, lock_timeout):
        _remove_config_temporaries(layout)
        config = Config.load(layout.config, migrating=True)
        if config.format == REPOSITORY_FORMAT:
            # Raised last, so every step is done: nothing is read, and a lost index or
            # a damaged chain is for 'mlv index rebuild' and 'mlv fsck' to tell.
            return MigrateReport(0, config.format, config.format)
        conn = open_database(layout.index_db)
        store = ObjectStore(layout.packs, conn)
        try:
            refs = RefStore(layout)
            RunRecords(conn)  # its tables, in an index that lacks one
            # Read up to a break: a broken chain must not keep the repository from being
            # converted (every command but migrate refuses it, fsck too); the new entry
            # goes on top, and fsck then reports the break.
            linked = {r.id for r in reachable.reproductions(store, refs, reachable.Unreadable())}
            rows = conn.execute("SELECT id FROM reproductions ORDER BY time, rowid").fetchall()
            # Only reproductions the packs hold can be named: a ref must never reach a
            # gap, nor an object that is not what the chain says it is.
            missing = [
                r
                for r in dict.fromkeys(r for (r,) in rows)
                if r not in linked and _is_reproduction(store, r)
            ]
            if missing:
                notes.append(store, refs, notes.REPRODUCTIONS, missing, "migrate: format 1")
        finally:
            store.close()
            conn.close()
        # Only the version changes: comments and other keys of the file stay.
        write_format(layout.config, REPOSITORY_FORMAT)
    return MigrateReport(len(missing), config.format, REPOSITORY_FORMAT)


def _remove_config_temporaries(layout: Layout) -> None:
    """Delete what a migrate killed while it wrote config.toml left beside it (no other
    command writes that file, and this one holds the write lock)."""
    prefix = "." + layout.config.name + ".mlv-"
    for path in layout.mlv.glob(prefix + "*.tmp"):
        if is_temporary_name(path.name):
            path.unlink(missing_ok=True)


def _is_reproduction(store: ObjectStore, object_id: object) -> bool:
    # The rows of an old index are not trusted: any value may lie in a damaged one.
    if not isinstance(object_id, str) or not is_object_id(object_id) or not store.has(object_id):
        return False
    try:
        Reproduction.from_bytes(store.get(object_id))
    except MlvError:
        return False
    return True
