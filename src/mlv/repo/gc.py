"""``mlv gc``: drop from the local packs every record nothing a user has can reach.

What is kept (the *roots*): HEAD, every ref (branches, tags, notes, remote-tracking
branches), every id any reflog names, the staging area (its files and the tree it
last equalled), pending runs, and the ids the bookkeeping tables of ``index.db``
name (run cache, reproductions, profiles, code ids), with everything they reach
(``closure.walk``). Under the write lock, each finished pack holding an
unreachable record is rewritten in this order, so that a kill anywhere loses
nothing reachable (docs/format.md, "Write-ordering invariants"):

1. its live records are copied, as stored, into a new pack, sealed;
2. in one SQLite transaction the old pack's rows go and the new pack's come;
3. the old pack file is unlinked.

Killed before 2, the new pack is an unindexed duplicate (valid; fsck notes it and
the next gc removes it); after 2, the old file is one that no row names, which
the next gc removes.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlv.core.hashing import id_from_bytes, id_to_bytes
from mlv.core.paths import fsync_path
from mlv.errors import MlvError
from mlv.model.notes import Notes
from mlv.model.objects import Commit
from mlv.repo import closure
from mlv.repo.layout import QUERY_SCRATCH_PREFIX, SPILL_SCRATCH_PREFIX
from mlv.repo.locking import WriteLock
from mlv.repo.records import RunRecords
from mlv.repo.refs import HEADS, NOTES, REMOTES, TAGS, RefStore
from mlv.repo.results import NoProgress, Progress
from mlv.repo.staging import StagingArea
from mlv.repo.worktree import KIND_SYMLINK
from mlv.store.objectstore import PACK_TARGET_SIZE, ObjectStore
from mlv.store.pack import Location, PackWriter, finished_packs, sweep_tmp_packs

# Leftovers younger than this may belong to a writer still at work (a lazy read of a
# partial clone writes without the write lock): they are left for a later gc.
LEFTOVER_AGE = 3600.0
PUSH_SCRATCH = "push-*"
# What a killed ``mlv query`` leaves: DuckDB's spill folder (``mlv.tables.query``); and
# a killed table diff's partitions (``mlv.tables.spill``).
QUERY_SCRATCH = f"{QUERY_SCRATCH_PREFIX}*"
SPILL_SCRATCH = f"{SPILL_SCRATCH_PREFIX}*"


class GcRefusedError(MlvError):
    """gc found something it cannot decide about (damaged refs): nothing was changed."""

    exit_code = 1


@dataclass
class GcReport:
    """What a local gc removed (or, with ``dry_run``, would remove)."""

    dry_run: bool = False
    packs_rewritten: int = 0
    packs_removed: int = 0
    objects_removed: int = 0
    objects_kept: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    tmp_packs_removed: int = 0
    unindexed_packs_removed: int = 0
    scratch_removed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return max(self.bytes_before - self.bytes_after, 0)

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "bytes_freed": self.bytes_freed}

    def lines(self) -> list[str]:
        """The report for a terminal, one fact a line."""
        out = ["dry run: nothing was changed; gc would do this"] if self.dry_run else []
        out += [
            f"packs rewritten: {self.packs_rewritten}",
            f"packs removed: {self.packs_removed}",
            f"objects removed: {self.objects_removed} (kept {self.objects_kept})",
            f"leftovers removed: {self.tmp_packs_removed} temporary pack(s), "
            f"{self.unindexed_packs_removed} unindexed pack(s), "
            f"{self.scratch_removed} push folder(s)",
            f"packs/: {self.bytes_before} -> {self.bytes_after} bytes, {self.bytes_freed} freed",
        ]
        return out + [f"note: {n}" for n in self.notes]


@dataclass
class GcParts:
    """The repository parts a local gc uses."""

    store: ObjectStore
    refs: RefStore
    staging: StagingArea
    records: RunRecords
    lock: WriteLock
    tmp: Path


def collect(
    parts: GcParts,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    leftover_age: float = LEFTOVER_AGE,
) -> GcReport:
    """Remove what no root reaches from the local packs, under the write lock."""
    progress = progress or NoProgress()
    store = parts.store
    with parts.lock:
        store.flush()
        report = GcReport(dry_run=dry_run, bytes_before=_packs_size(store.packs_dir))
        live = reachable(parts, report)
        by_pack = _rows_by_pack(store)
        dead_packs = {
            pack: rows for pack, rows in by_pack.items() if any(i not in live for i, _ in rows)
        }
        progress.start(len(dead_packs), "collecting garbage")
        try:
            for group in _groups(dead_packs, live):
                _rewrite(store, group, live, report, dry_run)
                progress.advance(len(group))
        finally:
            progress.finish()
        report.objects_kept = len(live)
        leftovers = _remove_leftovers(parts, set(by_pack), report, dry_run, leftover_age)
        if dry_run:
            report.bytes_after = report.bytes_before - _dead_bytes(dead_packs, live) - leftovers
        else:
            report.bytes_after = _packs_size(store.packs_dir)
    return report


# -- what is kept -----------------------------------------------------------------------


def roots(parts: GcParts, report: GcReport) -> list[closure.Need]:
    """Every start of the walk of what gc keeps, each with its role."""
    refs, store = parts.refs, parts.store
    damage = refs.damage()
    if damage:
        where, what = damage[0]
        raise GcRefusedError(
            f"gc refused: {where} cannot be read ({what}), so what it names is unknown; "
            "repair it (see 'mlv fsck') and run gc again"
        )
    starts: list[closure.Need] = []
    head = refs.head()
    if head.commit:
        starts.append(closure.Need(head.commit, closure.COMMIT, "HEAD"))
    for prefix in (HEADS, TAGS, REMOTES):
        for short, commit_id in refs.list(prefix).items():
            starts.append(closure.Need(commit_id, closure.COMMIT, prefix + short))
    for short, notes_id in refs.list(NOTES).items():
        starts.append(closure.Need(notes_id, closure.NOTES, NOTES + short))
    skipped = 0
    for object_id in sorted(refs.reflog_ids()):
        role = _reflog_role(store, object_id)
        if role is None:
            skipped += 1
        else:
            starts.append(closure.Need(object_id, role, "a reflog"))
    if skipped:
        report.notes.append(f"{skipped} id(s) named by reflogs are not in the store")
    for path, kind, object_id, _size, _exec in parts.staging.iter_entries():
        role = closure.SYMLINK if kind == KIND_SYMLINK else closure.FILE
        starts.append(closure.Need(object_id, role, f"staged {path!r}"))
    staged_tree = parts.staging.known_tree()
    if staged_tree:
        starts.append(closure.Need(staged_tree, closure.TREE, "the staged tree"))
    for run_id, _outs in parts.records.pending():
        starts.append(closure.Need(run_id, closure.RUN, "a pending run"))
    # The bookkeeping tables are caches, but what they name is taken as given by the
    # commands that read them (a cached run is reused, a known profile not made again):
    # kept, when the store holds it.
    conn = parts.records.conn
    cached = [
        ("SELECT run_id FROM run_cache", closure.RUN, "the run cache"),
        ("SELECT id FROM reproductions", closure.REPRODUCTION, "the reproductions cache"),
        ("SELECT profile_id FROM profiles", closure.PROFILE, "the profiles cache"),
        ("SELECT content_id FROM code_ids", closure.FILE, "the code ids cache"),
    ]
    for sql, role, where in cached:
        ids = sorted({row[0] for row in conn.execute(sql)})
        present = store.index.present({id_to_bytes(i) for i in ids})
        starts += [closure.Need(i, role, where) for i in ids if id_to_bytes(i) in present]
    return starts


def _reflog_role(store: ObjectStore, object_id: str) -> str | None:
    """A reflog names commits, or notes entries (``refs/notes/``): which, by reading it."""
    if not store.has(object_id):
        return None
    data = store.get(object_id)
    for role, parse in ((closure.COMMIT, Commit.from_bytes), (closure.NOTES, Notes.from_bytes)):
        try:
            parse(data)
            return role
        except (MlvError, ValueError, TypeError, KeyError):
            continue
    return None


def reachable(parts: GcParts, report: GcReport) -> set[bytes]:
    """The ids (as bytes) of every object the roots reach that the store holds."""
    missing: list[closure.Need] = []
    live: set[bytes] = set()
    for found in closure.walk(
        closure.StoreSource(parts.store),
        roots(parts, report),
        content=True,
        on_missing=missing.append,
    ):
        live.add(id_to_bytes(found.need.id))
    if missing:
        content = sum(1 for n in missing if n.role in closure.CONTENT)
        if parts.store.content_source is not None and content:
            report.notes.append(
                f"{content} file(s) not fetched (a partial clone): they stay on the remote"
            )
        other = len(missing) - (content if parts.store.content_source is not None else 0)
        if other:
            report.notes.append(
                f"{other} reachable object(s) are missing, e.g. {missing[0].id} "
                f"({missing[0].where}); run 'mlv fsck'"
            )
    return live


# -- rewriting packs --------------------------------------------------------------------


def _rows_by_pack(store: ObjectStore) -> dict[str, list[tuple[bytes, Location]]]:
    by_pack: dict[str, list[tuple[bytes, Location]]] = {}
    for id_bytes, location in store.index.iter_all():
        by_pack.setdefault(location.pack, []).append((id_bytes, location))
    return by_pack


def _groups(
    dead_packs: dict[str, list[tuple[bytes, Location]]], live: set[bytes]
) -> Iterator[list[tuple[str, list[tuple[bytes, Location]]]]]:
    """Packs to rewrite together into one new pack, cut near the store's pack size."""
    group: list[tuple[str, list[tuple[bytes, Location]]]] = []
    size = 0
    for pack, rows in sorted(dead_packs.items()):
        group.append((pack, rows))
        size += sum(loc.length for i, loc in rows if i in live)
        if size >= PACK_TARGET_SIZE:
            yield group
            group, size = [], 0
    if group:
        yield group


def _rewrite(
    store: ObjectStore,
    group: list[tuple[str, list[tuple[bytes, Location]]]],
    live: set[bytes],
    report: GcReport,
    dry_run: bool,
) -> None:
    kept = [(i, loc) for _, rows in group for i, loc in rows if i in live]
    dropped = sum(1 for _, rows in group for i, _ in rows if i not in live)
    report.objects_removed += dropped
    for _, rows in group:
        if any(i in live for i, _ in rows):
            report.packs_rewritten += 1
        else:
            report.packs_removed += 1
    if dry_run:
        return
    new_name, entries = _copy_live(store, kept) if kept else (None, [])
    old_names = [pack for pack, _ in group]
    with store.conn:
        if new_name is not None:
            # The new pack's row first, so that it takes a pack number no row had.
            store.index.add_pack(new_name, [])
        numbers = [
            row[0]
            for name in old_names
            for row in store.conn.execute("SELECT pack_no FROM packs WHERE name = ?", (name,))
        ]
        for pack_no in numbers:
            store.conn.execute("DELETE FROM objects WHERE pack_no = ?", (pack_no,))
            store.conn.execute("DELETE FROM packs WHERE pack_no = ?", (pack_no,))
        if new_name is not None:
            store.index.add_pack(new_name, entries)
    for name in old_names:
        store.forget_pack(name)
        (store.packs_dir / name).unlink(missing_ok=True)
    fsync_path(store.packs_dir)


def _copy_live(
    store: ObjectStore, kept: list[tuple[bytes, Location]]
) -> tuple[str, list[tuple[bytes, int, int, int]]]:
    """The live records copied, as stored and verified, into a new sealed pack."""
    writer = PackWriter(store.packs_dir)
    entries: list[tuple[bytes, int, int, int]] = []
    try:
        for start in range(0, len(kept), 256):
            batch = kept[start : start + 256]
            records = [store.read_record(id_from_bytes(i)) for i, _ in batch]
            offsets = writer.append_many([(record,) for _, record in records])
            for (id_bytes, _), (kind, record), offset in zip(batch, records, offsets, strict=True):
                entries.append((id_bytes, offset, len(record), kind))
        writer.finish()
    except BaseException:
        writer.abandon()
        raise
    return writer.name, entries


def _dead_bytes(dead_packs: dict[str, list[tuple[bytes, Location]]], live: set[bytes]) -> int:
    return sum(loc.length for rows in dead_packs.values() for i, loc in rows if i not in live)


# -- leftovers --------------------------------------------------------------------------


def _remove_leftovers(
    parts: GcParts, indexed: set[str], report: GcReport, dry_run: bool, age: float
) -> int:
    """Remove what interrupted writes left; the bytes of the packs among it."""
    store = parts.store
    would = 0
    cutoff = time.time() - age
    if dry_run:
        from mlv.store.pack import orphaned_tmp_packs

        orphans = orphaned_tmp_packs(store.packs_dir)
        report.tmp_packs_removed = len(orphans)
        would += sum(size for _, size in orphans)
    else:
        report.tmp_packs_removed, _ = sweep_tmp_packs(store.packs_dir)
    named = set(store.index.pack_names()) | indexed
    for path in finished_packs(store.packs_dir):
        if path.name in named:
            continue
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if st.st_mtime > cutoff:
            continue
        report.unindexed_packs_removed += 1
        would += st.st_size
        if not dry_run:
            store.forget_pack(path.name)
            path.unlink(missing_ok=True)
    old = [*_old_folders(parts.tmp, PUSH_SCRATCH, cutoff)]
    old += _old_folders(parts.tmp, QUERY_SCRATCH, cutoff)
    old += _old_folders(parts.tmp, SPILL_SCRATCH, cutoff)
    for folder in old:
        report.scratch_removed += 1
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
    return would


def _old_folders(root: Path, pattern: str, cutoff: float) -> Iterable[Path]:
    if not root.is_dir():
        return []
    found = []
    for path in root.glob(pattern):
        try:
            if path.is_dir() and not path.is_symlink() and path.stat().st_mtime <= cutoff:
                found.append(path)
        except OSError:
            continue
    return found


def _packs_size(packs_dir: Path) -> int:
    total = 0
    for entry in os.scandir(packs_dir):
        try:
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
    return total
