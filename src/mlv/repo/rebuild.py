"""``mlv index rebuild``: a new ``index.db`` made from the packs, the old one kept aside.

The packs are the truth: every record carries its id, kind and lengths, so the
object index can always be made again. The derived tables are made again from the
objects the refs reach (``mlv.repo.reachable``): the run cache from the runs of
reachable commits, the profiles from their profile maps (and the table entries of
format-1 trees), the reproductions from ``refs/notes/reproductions``. What only the
old index knew, the pending runs, is working state, not derived: it is salvaged from
the old index where that can be read.

A repository of format 1, not yet migrated, is rebuilt as mlv 0.2 rebuilt it: its
reproductions are every reproduction object the packs hold, since its notes chain
does not name them yet; ``mlv migrate`` then puts them on the chain.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlv.core.paths import fsync_path
from mlv.errors import MlvError, NotARepositoryError
from mlv.model.objects import Commit, Tree, object_type
from mlv.model.runs import Reproduction, Run
from mlv.model.tables import Profile, ProfileMap
from mlv.repo import reachable
from mlv.repo.config import Config
from mlv.repo.database import open_database
from mlv.repo.layout import MIGRATES_FROM, Layout, find_root
from mlv.repo.locking import DEFAULT_LOCK_TIMEOUT, WriteLock
from mlv.repo.records import RunRecords
from mlv.repo.refs import RefStore
from mlv.repo.results import Problem, Progress
from mlv.repo.staging import UNTRUSTED_MTIME, Staged, StagingArea
from mlv.repo.trees import TreeReader
from mlv.store.index import ObjectIndex
from mlv.store.objectstore import ObjectStore, open_record
from mlv.store.pack import (
    KIND_META,
    PACK_HEADER,
    RECORD_HEADER,
    check_pack_header,
    decode_header,
    finished_packs,
    sweep_tmp_packs,
)

DAMAGED_SUFFIX = ".damaged-"  # index.db.damaged-20250101T120000: the old index, kept
BUILDING_SUFFIX = ".rebuilding"  # the new index until it is complete
SQLITE_SIDE_FILES = ("", "-wal", "-shm")

NOT_REBUILT_CODE_IDS = (
    "code_ids (git blob id -> content id) starts empty: the next commit in a git "
    "repository reads its source files once more"
)
NOT_REBUILT_STAGING = (
    "the staging area is HEAD's tree: changes staged but not committed are unstaged "
    "(the files are untouched; run 'mlv add' again)"
)
NOT_REBUILT_PENDING = (
    "runs recorded but not yet committed could not be read from the old index: status "
    "no longer lists them and the next commit will not carry them; record them again "
    "with 'mlv repro' or 'mlv run'"
)


@dataclass
class RebuildReport:
    """What ``rebuild_index`` did; ``damaged`` lists the records it had to skip."""

    moved_to: str | None  # where the old index.db now lies; None when there was none
    packs: int
    objects: int
    damaged: list[Problem] = field(default_factory=list)
    tmp_packs_removed: int = 0
    tmp_bytes_removed: int = 0
    staged_tree: str | None = None  # the tree the staging area was set to
    rebuilt: dict[str, int] = field(default_factory=dict)  # table -> rows
    not_rebuilt: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


@dataclass
class _Found:
    """What the scan of the packs learned beyond the object index."""

    runs: dict[str, tuple[int, str | None, dict[str, str]]] = field(default_factory=dict)
    reachable_runs: set[str] = field(default_factory=set)
    reproductions: list[tuple[int, str, str]] = field(default_factory=list)
    # Every reproduction object in the packs: the reproductions of a format-1 repository.
    packed_reproductions: list[Reproduction] = field(default_factory=list)
    # content id -> the profile ids named for it: profile maps first, then the table
    # entries of format-1 trees. The first that reads as a profile is kept.
    map_profiles: dict[str, list[str]] = field(default_factory=dict)
    tree_profiles: dict[str, list[str]] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)


def rebuild_index(
    path: Path,
    progress: Progress,
    *,
    run_cache_key: Callable[[Run], str] | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_lock_wait: Callable[[str], None] | None = None,
) -> RebuildReport:
    """Move ``index.db`` aside and make a new one from the finished packs.

    ``run_cache_key`` gives a run's run-cache key; without it the run cache starts
    empty. Holds the repository lock throughout.
    """
    root = find_root(path)
    if root is None:
        raise NotARepositoryError(
            f"not an mlv repository (or any parent up to /): {path.resolve()}; run 'mlv init' first"
        )
    layout = Layout(root)
    with WriteLock(layout.lock, lock_timeout, on_lock_wait):
        # A format this mlv does not know (3) is refused before anything moves; format 1
        # is rebuilt as such, so that a later migrate still finds its reproductions.
        format_1 = Config.load(layout.config, migrating=True).format in MIGRATES_FROM
        removed, removed_bytes = sweep_tmp_packs(layout.packs)
        building = layout.index_db.with_name(layout.index_db.name + BUILDING_SUFFIX)
        # A rebuild killed earlier left its new index unfinished, and the old one aside:
        # that one still holds the pending runs, which a rerun must not lose.
        killed_earlier = _left_by_killed_rebuild(layout.index_db, building)
        _remove_sqlite_files(building)
        moved_to = _move_aside(layout.index_db) or killed_earlier
        try:
            conn = open_database(building, expect_index=False)
            try:
                # The file is fsynced once, whole, before it takes index.db's place.
                conn.execute("PRAGMA synchronous=OFF")
                report = _build(conn, layout, moved_to, progress, run_cache_key, format_1)
            finally:
                conn.close()
            fsync_path(building)
        except BaseException:
            # Leave things as they were found: the old index back in its place.
            _remove_sqlite_files(building)
            if moved_to is not None:
                _move_back(moved_to, layout.index_db)
            raise
        os.replace(building, layout.index_db)
        fsync_path(layout.mlv)
    report.tmp_packs_removed, report.tmp_bytes_removed = removed, removed_bytes
    return report


def _build(
    conn: sqlite3.Connection,
    layout: Layout,
    moved_to: Path | None,
    progress: Progress,
    run_cache_key: Callable[[Run], str] | None,
    format_1: bool,
) -> RebuildReport:
    index = ObjectIndex(conn)
    staging = StagingArea(conn)
    records = RunRecords(conn)
    packs = finished_packs(layout.packs)
    report = RebuildReport(str(moved_to) if moved_to else None, 0, 0)
    found = _Found()
    progress.start(sum(_size(p) for p in packs), "re-indexing packs")
    try:
        for pack in packs:
            entries = _scan_pack(pack, report.damaged, found, progress, run_cache_key)
            if entries:
                with conn:
                    index.add_pack(pack.name, entries)
                report.packs += 1
    finally:
        progress.finish()
    report.objects = index.count()
    store = ObjectStore(layout.packs, conn)
    try:
        _walk_reachable(store, layout, found, report, format_1)
        _choose_profiles(store, found, report)
        _salvage_pending(records, moved_to, found, report)
        _fill_derived(records, found, run_cache_key, report)
        report.not_rebuilt.append(NOT_REBUILT_CODE_IDS)
        _stage_head(staging, store, layout, report)
    finally:
        store.close()
    return report


def _walk_reachable(
    store: ObjectStore, layout: Layout, found: _Found, report: RebuildReport, format_1: bool
) -> None:
    """Learn what the refs reach: the reproductions on their notes chain (in format 1,
    every one the packs hold), the runs of every reachable commit, and the profiles
    their profile maps name."""
    refs = RefStore(layout)
    unreadable = reachable.Unreadable()
    reps = reachable.reproductions(store, refs, unreadable)
    if format_1:
        on_chain = {rep.id for rep in reps}
        reps += [rep for rep in found.packed_reproductions if rep.id not in on_chain]
    found.reproductions.extend((rep.time, rep.id, rep.commit) for rep in reps)
    starts = [*reachable.ref_starts(refs).values(), *(rep.commit for rep in reps)]
    for _, commit in reachable.commits(store, starts, unreadable):
        found.reachable_runs.update(commit.runs)
        if commit.profiles is None:
            continue
        try:
            named = ProfileMap.from_bytes(store.get(commit.profiles)).profiles
        except MlvError as exc:
            unreadable.add(commit.profiles, "profile map of a reachable commit", f"skipped: {exc}")
            continue
        for content_id, profile_id in named.items():
            found.map_profiles.setdefault(content_id, []).append(profile_id)
    report.damaged.extend(Problem(*problem) for problem in unreadable.problems)


def _choose_profiles(store: ObjectStore, found: _Found, report: RebuildReport) -> None:
    """Keep, for each content, the first profile named for it that reads as a profile.

    A map can name what is not a profile (damage, or a crafted commit on some branch):
    trusted blindly, it would answer ``mlv stats`` for that content on every branch.
    """
    readable: dict[str, bool] = {}
    # What a reachable commit names is damage to report; a stray format-1 tree's is not.
    from_maps = {p for named in found.map_profiles.values() for p in named}

    def reads(profile_id: str) -> bool:
        if profile_id not in readable:
            try:
                Profile.from_bytes(store.get(profile_id))
                readable[profile_id] = True
            except MlvError as exc:
                readable[profile_id] = False
                if profile_id in from_maps:
                    report.damaged.append(
                        Problem(profile_id, "profile named by a profile map", f"skipped: {exc}")
                    )
        return readable[profile_id]

    for content_id in found.map_profiles.keys() | found.tree_profiles.keys():
        named = [*found.map_profiles.get(content_id, ()), *found.tree_profiles.get(content_id, ())]
        chosen = next((p for p in dict.fromkeys(named) if reads(p)), None)
        if chosen is not None:
            found.profiles[content_id] = chosen


def _scan_pack(
    pack: Path,
    damaged: list[Problem],
    found: _Found,
    progress: Progress,
    run_cache_key: Callable[[Run], str] | None,
) -> list[tuple[bytes, int, int, int]]:
    """The (id, offset, length, kind) of every sound record of ``pack``.

    Each record is verified as a read would verify it; a damaged one is skipped and
    reported. A record header that does not parse ends the scan of that pack: the
    lengths after it cannot be trusted.
    """
    import zstandard

    decompressor = zstandard.ZstdDecompressor()
    entries = []
    with open(pack, "rb") as f:
        try:
            check_pack_header(f.read(PACK_HEADER.size), pack.name)
        except MlvError as exc:
            damaged.append(Problem("", pack.name, f"{exc}; none of its records was indexed"))
            progress.advance(_size(pack))
            return []
        offset = PACK_HEADER.size
        while True:
            raw = f.read(RECORD_HEADER.size)
            if not raw:
                break
            try:
                header = decode_header(raw)
            except MlvError as exc:
                damaged.append(_unreadable_from(pack, offset, str(exc)))
                break
            payload = f.read(header.stored_length)
            if len(payload) < header.stored_length:
                damaged.append(_unreadable_from(pack, offset, "the pack ends inside it"))
                break
            length = RECORD_HEADER.size + header.stored_length
            object_id = header.id_bytes.hex()
            try:
                data = open_record(header.id_bytes, raw + payload, decompressor)
            except MlvError as exc:
                damaged.append(Problem(object_id, pack.name, f"skipped: {exc}"))
            else:
                entries.append((header.id_bytes, offset, length, header.kind))
                if header.kind == KIND_META:
                    _learn(object_id, data, found, run_cache_key)
            offset += length
            progress.advance(length)
    return entries


def _unreadable_from(pack: Path, offset: int, why: str) -> Problem:
    return Problem(
        "",
        pack.name,
        f"the record at offset {offset} cannot be read ({why}); "
        "it and the records after it were not indexed",
    )


def _learn(
    object_id: str, data: bytes, found: _Found, run_cache_key: Callable[[Run], str] | None
) -> None:
    """Note what a metadata object adds to the derived tables."""
    kind = object_type(data)
    try:
        if kind == "run":
            run = Run.from_bytes(data)
            try:
                key = run_cache_key(run) if run_cache_key else None
            except ValueError:  # a value canonical JSON refuses (NaN): no key to answer
                key = None
            found.runs[object_id] = (run.started, key, {p: a.id for p, a in run.outs.items()})
        elif kind == "tree" and b'"profile"' in data:
            for entry in Tree.from_bytes(data).entries:
                if entry.profile:
                    found.tree_profiles.setdefault(entry.id, []).append(entry.profile)
        elif kind == "reproduction":
            found.packed_reproductions.append(Reproduction.from_bytes(data))
    except MlvError:
        pass  # sound bytes that are not a valid object: fsck names them where they are used


def _fill_derived(
    records: RunRecords,
    found: _Found,
    run_cache_key: Callable[[Run], str] | None,
    report: RebuildReport,
) -> None:
    # The newest run with a key answers it, as when the runs were recorded one by one.
    # Only runs a commit reaches, or pending ones: the outputs of any other run may be
    # gone, and a cache entry must never skip a stage whose outputs cannot be restored.
    cached = 0
    for run_id, (_, key, _) in sorted(found.runs.items(), key=lambda item: item[1][0]):
        if key is not None and run_id in found.reachable_runs:
            records.cache_run(key, run_id)
            cached += 1
    if run_cache_key is None:
        report.not_rebuilt.append("run_cache starts empty: the next repro runs every stage")
    # Chain order (oldest first) breaks ties of time, as when they were recorded.
    for rep_time, rep_id, commit_id in sorted(found.reproductions, key=lambda r: r[0]):
        records.add_reproduction(commit_id, rep_id, rep_time)
    records.add_profiles(sorted(found.profiles.items()))
    report.rebuilt.update(
        run_cache=cached, reproductions=len(found.reproductions), profiles=len(found.profiles)
    )


def _salvage_pending(
    records: RunRecords, old: Path | None, found: _Found, report: RebuildReport
) -> None:
    """Runs recorded but not committed are known to the old index alone: take those of
    its rows that still read, for runs whose objects the packs hold."""
    run_ids = _old_pending(old)
    if run_ids is None:
        report.not_rebuilt.append(NOT_REBUILT_PENDING)
        report.rebuilt["pending_runs"] = 0
        return
    kept = [r for r in run_ids if r in found.runs]
    for run_id in kept:
        records.add_pending(run_id, found.runs[run_id][2])
    found.reachable_runs.update(kept)
    report.rebuilt["pending_runs"] = len(kept)


def _old_pending(old: Path | None) -> list[str] | None:
    """The pending run ids of the old index, oldest first; None when they cannot be read."""
    if old is None:
        return None
    try:
        conn = sqlite3.connect(f"{old.as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT run_id FROM pending_runs ORDER BY seq").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return [r[0] for r in rows if isinstance(r[0], str)]


def _stage_head(
    staging: StagingArea, store: ObjectStore, layout: Layout, report: RebuildReport
) -> None:
    """Set the staging area to HEAD's tree, with no stat cache: the next status hashes
    every file once, and sees exactly what differs from HEAD."""
    report.not_rebuilt.append(NOT_REBUILT_STAGING)
    try:
        head = RefStore(layout).head().commit
        if head is None:
            staging.apply(tree_id=None)
            return
        commit = Commit.from_bytes(store.get(head))
        flat = TreeReader(store).flatten(commit.tree)
    except MlvError as exc:
        report.damaged.append(Problem("", "HEAD", f"the staging area is left empty: {exc}"))
        return
    staging.apply(
        (
            (p, Staged(e.kind, e.id, e.size, e.executable, UNTRUSTED_MTIME, 0))
            for p, e in flat.items()
        ),
        tree_id=commit.tree,
    )
    report.staged_tree = commit.tree
    report.rebuilt["staging"] = len(flat)


def _move_aside(index_db: Path) -> Path | None:
    """Rename index.db and its WAL files to ``index.db.damaged-<time>``; the new name of
    index.db, or None when there was none. The WAL goes too: left beside a new index.db,
    SQLite would apply it to the wrong file."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = index_db.with_name(f"{index_db.name}{DAMAGED_SUFFIX}{stamp}")
    n = 1
    while any(Path(f"{target}{side}").exists() for side in SQLITE_SIDE_FILES):
        n += 1
        target = index_db.with_name(f"{index_db.name}{DAMAGED_SUFFIX}{stamp}-{n}")
    moved = None
    for side in SQLITE_SIDE_FILES:
        source = Path(f"{index_db}{side}")
        if source.exists() or source.is_symlink():
            os.replace(source, f"{target}{side}")
            if not side:
                moved = target
    return moved


def _left_by_killed_rebuild(index_db: Path, building: Path) -> Path | None:
    """The old index a killed rebuild set aside: the newest ``index.db.damaged-*``, when
    there is no ``index.db`` but an unfinished ``index.db.rebuilding``."""
    if index_db.exists() or index_db.is_symlink():
        return None
    if not any(Path(f"{building}{side}").exists() for side in SQLITE_SIDE_FILES):
        return None
    prefix = index_db.name + DAMAGED_SUFFIX
    aside = []
    for path in index_db.parent.glob(prefix + "*"):
        stamp, _, n = path.name[len(prefix) :].partition("-")
        if len(stamp) == len("YYYYmmddTHHMMSS") and (n == "" or n.isdigit()):
            aside.append((stamp, int(n or 1), path))
    return max(aside)[2] if aside else None


def _move_back(moved: Path, index_db: Path) -> None:
    for side in SQLITE_SIDE_FILES:
        source = Path(f"{moved}{side}")
        if source.exists():
            os.replace(source, f"{index_db}{side}")


def _remove_sqlite_files(path: Path) -> None:
    for side in SQLITE_SIDE_FILES:
        Path(f"{path}{side}").unlink(missing_ok=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
