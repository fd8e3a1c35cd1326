"""``mlv gc --remote``: delete a remote's packs of what no remote ref reaches, in two phases.

A pusher decides what the remote holds from its pack indexes, then writes its
ref minutes later: a pack deleted in between would leave the ref naming missing
objects. So nothing is deleted when it is found useless; it is *condemned*
(``gc/condemned.json``, docs/format.md "Remote layout"), and deleted by a later gc
once the grace period (24 h by default) has passed. Pushes never count on a
condemned pack (``RemoteIndex.present``), and a push that finds packs condemned
while it ran sends what it counted on there again.

One run, under the lease ``locks/gc.json``:

1. sync the remote's index; read its refs; receive its history into the local
   store; compute R, everything any remote ref reaches (content included);
2. **sweep**: each pack condemned more than the grace period ago goes: first any
   object of R that only condemned packs hold is uploaded in a new pack, then
   its ``.idx`` is deleted, then its ``.pack``, then it leaves the list;
3. **mark**: each indexed pack older than the grace period holding records not
   in R has its live records uploaded in a new pack, then is condemned. A
   ``.pack`` with no ``.idx`` (a push killed between the two) older than the
   grace period is deleted, and an ``.idx`` whose ``.pack`` is gone.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlv.core.hashing import id_from_bytes, id_to_bytes
from mlv.errors import FormatError, InvalidArgumentError, LockError, MlvError, RemoteError
from mlv.model.canonical import dumps, loads
from mlv.model.objects import object_type
from mlv.remote.fetch import Fetcher
from mlv.remote.layout import CONDEMNED, GC_LEASE, PACKS, index_key, pack_key, parse_pack_key
from mlv.remote.packing import REMOTE_PACK_TARGET, build_pack
from mlv.remote.receiving import check_record, fetch_objects, plan_spans
from mlv.remote.remoteindex import RemoteIndex, RemoteLocation, batches_of
from mlv.remote.remoterefs import RemoteRef, read_refs
from mlv.remote.session import Remote
from mlv.remote.storage import Storage
from mlv.repo import closure
from mlv.repo.notes import REPRODUCTIONS
from mlv.repo.records import RunRecords
from mlv.repo.refs import RefStore
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_CHUNK, KIND_MANIFEST, KIND_META
from mlv.store.sqlite import IN_BATCH

DEFAULT_GRACE = 24 * 3600.0
CONDEMNED_FORMAT = 1
# A gc's lease outlives any one step of it; it is renewed as the gc goes on, so a
# gc killed holds the remote for at most this long.
GC_LEASE_SECONDS = 3600.0
CAS_TRIES = 10
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds of ``30m``, ``24h``, ``7d`` (also ``s`` and ``w``; a bare number is seconds)."""
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _UNITS else "s"
    number = value[:-1] if value[-1:] in _UNITS else value
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise InvalidArgumentError(
            f"cannot read the duration {text!r}: write a number and a unit, such as 30m, 24h or 7d"
        )
    return seconds


# -- what the remote's refs reach ---------------------------------------------------------


class RemoteSource:
    """A walk's source over a remote: kinds from the local store and then the remote's
    index (or the remote's index alone, with ``remote_only``); contents read locally,
    manifests received first when the store lacks them."""

    def __init__(self, remote: Remote, store: ObjectStore, *, remote_only: bool = False) -> None:
        self.remote, self.store, self.remote_only = remote, store, remote_only
        self.only_condemned: set[str] = set()  # ids the remote holds in condemned packs alone

    def kinds(self, ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        if not self.remote_only:
            local = self.store.index.lookup_many([id_to_bytes(i) for i in ids])
            found = {id_from_bytes(i): loc.kind for i, loc in local.items()}
        rest = [i for i in ids if i not in found]
        located = self.remote.index.locate(rest) if rest else {}
        condemned = read_condemned_cached(self.remote.index)
        for object_id, location in located.items():
            found[object_id] = location.kind
            if location.pack_id in condemned:
                self.only_condemned.add(object_id)
        # Manifests are read to list their chunks: received in one go, now.
        wanted = {
            i: loc for i, loc in located.items() if loc.kind != KIND_CHUNK and not self.store.has(i)
        }
        if wanted:
            fetch_objects(self.remote.storage, self.store, wanted.items(), label="receiving")
        return found

    def get(self, object_id: str) -> bytes:
        return self.store.get(object_id)


def read_condemned_cached(index: RemoteIndex) -> set[str]:
    """The packs the remote's index (as last synced) marks condemned."""
    return {row[0] for row in index.conn.execute("SELECT pack_id FROM packs WHERE condemned = 1")}


def ref_start(ref: RemoteRef) -> closure.Need:
    role = closure.NOTES if ref.name == REPRODUCTIONS else closure.COMMIT
    return closure.Need(ref.commit, role, f"remote ref {ref.name}")


def remote_reach(
    source: RemoteSource, refs: dict[str, RemoteRef], on_missing: Callable[[closure.Need], None]
) -> set[str]:
    """Every id any of ``refs`` reaches (content included) that ``source`` holds."""
    return {
        found.need.id
        for found in closure.walk(
            source, [ref_start(r) for _, r in sorted(refs.items())], on_missing=on_missing
        )
    }


# -- the lease and the condemned list -------------------------------------------------------


class GcLease:
    """``locks/gc.json``: one gc of a remote at a time, by compare-and-swap."""

    def __init__(self, storage: Storage, who: str) -> None:
        self.storage, self.who = storage, who
        self.nonce = os.urandom(8).hex()
        self.token: str | None = None
        self._taken = 0.0

    def _doc(self) -> bytes:
        return json.dumps(
            {
                "holder": self.who,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "nonce": self.nonce,
                "expires": time.time() + GC_LEASE_SECONDS,
            }
        ).encode()

    def acquire(self) -> None:
        found = self.storage.get_with_token(GC_LEASE)
        if found is None:
            self.token = self.storage.create(GC_LEASE, self._doc())
        else:
            data, token = found
            doc = _lease_doc(data)
            if doc is not None and float(doc.get("expires", 0)) > time.time():
                raise LockError(
                    f"remote {self.storage.url}: another gc holds {GC_LEASE} "
                    f"({doc.get('holder', '?')} on {doc.get('host', '?')}, until "
                    f"{time.strftime('%H:%M', time.localtime(float(doc['expires'])))}); "
                    "try again later"
                )
            self.token = self.storage.replace(GC_LEASE, self._doc(), token)
        if self.token is None:
            raise LockError(
                f"remote {self.storage.url}: another gc took {GC_LEASE} just now; try again later"
            )
        self._taken = time.monotonic()

    def renew(self) -> None:
        """Extend the lease once half of it has gone; a lease lost meanwhile stops the gc."""
        if self.token is None or time.monotonic() - self._taken < GC_LEASE_SECONDS / 2:
            return
        token = self.storage.replace(GC_LEASE, self._doc(), self.token)
        if token is None:
            raise LockError(f"remote {self.storage.url}: this gc lost its lease {GC_LEASE}")
        self.token, self._taken = token, time.monotonic()

    def release(self) -> None:
        found = self.storage.get_with_token(GC_LEASE)
        if found is not None and found[1] == self.token:
            self.storage.delete(GC_LEASE)
        self.token = None


def _lease_doc(data: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(data)
        float(doc["expires"])
        return doc if isinstance(doc, dict) else None
    except (ValueError, KeyError, TypeError):
        return None  # a damaged lease holds nobody


def read_condemned_times(storage: Storage) -> tuple[dict[str, float], str | None]:
    """``gc/condemned.json`` as pack id -> when condemned, and its token (None: absent)."""
    found = storage.get_with_token(CONDEMNED)
    if found is None:
        return {}, None
    data, token = found
    try:
        packs = loads(data.strip())["packs"]
        if not isinstance(packs, dict):
            raise TypeError
        return {str(p): float(t) for p, t in packs.items()}, token
    except (FormatError, KeyError, TypeError, ValueError, AttributeError):
        # Written again whole by this gc: a damaged list condemns nothing.
        return {}, token


def condemned_bytes(packs: dict[str, float]) -> bytes:
    doc = {"format": CONDEMNED_FORMAT, "packs": {p: int(t) for p, t in sorted(packs.items())}}
    return dumps(doc) + b"\n"


def update_condemned(
    storage: Storage, *, add: dict[str, float] | None = None, drop: set[str] | None = None
) -> dict[str, float]:
    """Add and drop packs of ``gc/condemned.json`` by compare-and-swap, read again on a
    lost race; the list as written."""
    for _ in range(CAS_TRIES):
        packs, token = read_condemned_times(storage)
        for pack_id, when in (add or {}).items():
            packs.setdefault(pack_id, when)
        for pack_id in drop or set():
            packs.pop(pack_id, None)
        data = condemned_bytes(packs)
        if token is None:
            if storage.create(CONDEMNED, data) is not None:
                return packs
        elif storage.replace(CONDEMNED, data, token) is not None:
            return packs
    raise RemoteError(f"remote {storage.url}: {CONDEMNED} keeps changing; run gc again")


# -- the report -------------------------------------------------------------------------------


@dataclass
class RemoteGcReport:
    remote: str
    url: str
    dry_run: bool = False
    grace: float = DEFAULT_GRACE
    reachable: int = 0
    packs_deleted: list[str] = field(default_factory=list)
    packs_condemned: list[str] = field(default_factory=list)
    packs_uploaded: list[str] = field(default_factory=list)
    objects_rescued: int = 0
    objects_copied: int = 0
    objects_removed: int = 0
    leftovers_deleted: list[str] = field(default_factory=list)  # keys
    bytes_freed: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))

    def lines(self) -> list[str]:
        would = "would be " if self.dry_run else ""
        out = [f"remote {self.remote} ({self.url}): {self.reachable} objects reachable"]
        out += [f"{would}deleted: pack {p}" for p in self.packs_deleted]
        out += [f"{would}condemned: pack {p}" for p in self.packs_condemned]
        out += [
            f"{would}deleted: {k} (left by an interrupted write)" for k in self.leftovers_deleted
        ]
        out.append(
            f"packs {would}deleted: {len(self.packs_deleted)}, {would}condemned: "
            f"{len(self.packs_condemned)}, uploaded: {len(self.packs_uploaded)}; objects "
            f"{would}removed: {self.objects_removed}, copied: {self.objects_copied}, "
            f"rescued: {self.objects_rescued}; {self.bytes_freed} bytes {would}freed"
        )
        return out + [f"note: {n}" for n in self.notes]


# -- the collector ---------------------------------------------------------------------------


class RemoteCollector:
    """One gc of one remote (the caller holds the local write lock)."""

    def __init__(
        self,
        remote: Remote,
        store: ObjectStore,
        refs: RefStore,
        records: RunRecords,
        scratch: Path,
        *,
        grace: float = DEFAULT_GRACE,
        dry_run: bool = False,
        now: Callable[[], float] = time.time,
    ) -> None:
        if grace < 0:
            raise InvalidArgumentError("the grace period cannot be negative")
        self.remote, self.store, self.refs, self.records = remote, store, refs, records
        self.scratch = scratch
        self.grace, self.dry_run, self.now = grace, dry_run, now
        self.report = RemoteGcReport(remote.name, remote.url, dry_run=dry_run, grace=grace)
        self.lease: GcLease | None = None

    @property
    def storage(self) -> Storage:
        return self.remote.storage

    def run(self) -> RemoteGcReport:
        if not self.remote.check_marker(create=False):
            self.report.notes.append("the remote is empty")
            return self.report
        if not self.dry_run:
            self.lease = GcLease(self.storage, os.environ.get("USER", "") or "mlv")
            self.lease.acquire()
        try:
            live = self._reach()
            condemned, _ = read_condemned_times(self.storage)
            self._sweep(condemned, live)
            self._mark(live)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
            if self.lease is not None:
                self.lease.release()
        return self.report

    # -- R ---------------------------------------------------------------------------

    def _reach(self) -> set[str]:
        """R: what any remote ref reaches, and what any pack younger than the grace
        period reaches (a push in flight may count on it before its ref is written)."""
        listing = read_refs(self.storage)
        if listing.damaged:
            raise RemoteError(
                f"gc of remote {self.remote.url} refused: {listing.damaged[0]}; nothing was "
                "changed: repair or delete that ref first"
            )
        fetcher = Fetcher(self.remote, self.store, self.refs, self.records)
        fetcher.receive_history()  # syncs the index too
        starts = [ref_start(r) for _, r in sorted(listing.refs.items())]
        starts += self._young_starts()
        missing: list[closure.Need] = []
        live = {
            found.need.id
            for found in closure.walk(
                RemoteSource(self.remote, self.store), starts, on_missing=missing.append
            )
        }
        if missing:
            self.report.notes.append(
                f"{len(missing)} object(s) named on the remote are missing from it, e.g. "
                f"{missing[0].id} ({missing[0].where}); run 'mlv fsck --remote {self.remote.name}'"
            )
        self.report.reachable = len(live)
        return live

    def _young_starts(self) -> list[closure.Need]:
        cutoff = self.now() - self.grace
        sizes = self.remote.index.pack_ids()
        starts: list[closure.Need] = []
        for entry in self.storage.entries(PACKS):
            parsed = parse_pack_key(entry.key)
            if parsed is None or parsed[1] != "pack" or parsed[0] not in sizes:
                continue
            if entry.modified <= cutoff:
                continue
            where = f"pack {parsed[0][:12]}, younger than the grace period"
            for object_id, location in self.remote.index.pack_entries(parsed[0]):
                role = _role_of(self.store, object_id, location.kind)
                if role is not None:
                    starts.append(closure.Need(object_id, role, where))
        return starts

    # -- sweep -----------------------------------------------------------------------

    def _sweep(self, condemned: dict[str, float], live: set[str]) -> None:
        due = sorted(p for p, when in condemned.items() if when <= self.now() - self.grace)
        if not due:
            return
        sizes = self.remote.index.pack_ids()
        due_set = set(due)
        held = _holders(self.remote.index, self._pack_ids_of(due))
        entries = {p: self.remote.index.pack_entries(p) for p in due if p in sizes}
        # R's objects that only packs about to go hold: uploaded again first.
        rescue: dict[str, RemoteLocation] = {}
        for pack_id in due:
            for object_id, location in entries.get(pack_id, []):
                others = held.get(object_id, set()) - set(condemned)
                if object_id in live and not others and object_id not in rescue:
                    rescue[object_id] = location
                elif object_id not in live:
                    self.report.objects_removed += 1
        if rescue:
            self.report.objects_rescued += len(rescue)
            if not self.dry_run:
                self._upload(rescue)
        listed = self._listed()
        for pack_id in due:
            self.report.packs_deleted.append(pack_id)
            self.report.bytes_freed += sum(listed.get(pack_id, {}).values())
            if self.dry_run:
                continue
            self._renew()
            self.storage.delete(index_key(pack_id))
            self.storage.delete(pack_key(pack_id))
        if not self.dry_run:
            update_condemned(self.storage, drop=due_set)
            self.remote.index.sync(self.storage)

    # -- mark ------------------------------------------------------------------------

    def _mark(self, live: set[str]) -> None:
        index = self.remote.index
        condemned, _ = read_condemned_times(self.storage)
        if self.dry_run:
            condemned = {p: t for p, t in condemned.items() if p not in self.report.packs_deleted}
        entries = self._entries()
        cutoff = self.now() - self.grace
        sizes = index.pack_ids()
        chosen: list[str] = []
        for pack_id in sorted(sizes):
            if pack_id in condemned or pack_id in self.report.packs_deleted:
                continue
            modified = entries.get(pack_key(pack_id))
            if modified is None or modified.modified > cutoff:
                continue
            if any(object_id not in live for object_id, _ in index.pack_entries(pack_id)):
                chosen.append(pack_id)
        staying = set(sizes) - set(condemned) - set(chosen) - set(self.report.packs_deleted)
        # Every object of R that no staying pack holds is uploaded again: the live
        # records of the packs condemned now, and any that earlier condemned packs
        # alone hold, so that an uncondemned object never names one only they hold.
        held = _holders(index, sorted(live))
        copy = index.locate([i for i, packs in held.items() if not packs & staying])
        self.report.objects_copied += len(copy)
        if copy and not self.dry_run:
            self._upload(copy)
        self.report.packs_condemned += chosen
        if chosen and not self.dry_run:
            update_condemned(self.storage, add={p: self.now() for p in chosen})
            index.set_condemned(set(read_condemned_times(self.storage)[0]))
        self._leftovers(entries, set(sizes), cutoff)

    def _leftovers(self, entries: dict[str, Any], indexed: set[str], cutoff: float) -> None:
        by_pack: dict[str, dict[str, Any]] = {}
        for key, entry in entries.items():
            parsed = parse_pack_key(key)
            if parsed is not None:
                by_pack.setdefault(parsed[0], {})[parsed[1]] = entry
        for pack_id, found in sorted(by_pack.items()):
            if pack_id in indexed or pack_id in self.report.packs_deleted:
                continue
            if "pack" in found and "idx" not in found and found["pack"].modified <= cutoff:
                self._delete_leftover(pack_key(pack_id), found["pack"].size)
            elif "idx" in found and "pack" not in found:
                self._delete_leftover(index_key(pack_id), found["idx"].size)
            elif "pack" in found and "idx" in found:
                self.report.notes.append(
                    f"pack {pack_id[:12]} has an index mlv cannot use; it is left alone: "
                    f"run 'mlv fsck --remote {self.remote.name}'"
                )

        # Packs whose push was killed while writing them (a folder remote writes in place).
        for entry in self.storage.sweep_uploads(PACKS, cutoff, dry_run=self.dry_run):
            self.report.leftovers_deleted.append(entry.key)
            self.report.bytes_freed += entry.size

    def _delete_leftover(self, key: str, size: int) -> None:
        self.report.leftovers_deleted.append(key)
        self.report.bytes_freed += size
        if not self.dry_run:
            self.storage.delete(key)

    # -- helpers ---------------------------------------------------------------------

    def _renew(self) -> None:
        if self.lease is not None:
            self.lease.renew()

    def _listed(self) -> dict[str, dict[str, int]]:
        listed: dict[str, dict[str, int]] = {}
        for key, size in self.storage.list(PACKS):
            parsed = parse_pack_key(key)
            if parsed is not None:
                listed.setdefault(parsed[0], {})[parsed[1]] = size
        return listed

    def _entries(self) -> dict[str, Any]:
        return {entry.key: entry for entry in self.storage.entries(PACKS)}

    def _pack_ids_of(self, packs: list[str]) -> list[str]:
        ids: list[str] = []
        for pack_id in packs:
            ids += [object_id for object_id, _ in self.remote.index.pack_entries(pack_id)]
        return ids

    def _upload(self, wanted: dict[str, RemoteLocation]) -> None:
        """Copy the records at ``wanted`` into new packs on the remote, verified on the way:
        content first, history last (an indexed object has what it names there)."""
        groups = [
            {i: loc for i, loc in wanted.items() if loc.kind == KIND_CHUNK},
            {i: loc for i, loc in wanted.items() if loc.kind == KIND_MANIFEST},
            {i: loc for i, loc in wanted.items() if loc.kind == KIND_META},
        ]
        for group in groups:
            for part in _cut(group):
                self._renew()
                self._upload_one(part)

    def _upload_one(self, wanted: dict[str, RemoteLocation]) -> None:
        self.scratch.mkdir(parents=True, exist_ok=True)
        built = build_pack(self.storage, self.scratch, self._live_records(wanted))
        self.remote.index.add_pack(
            built.pack_id,
            built.size,
            ((e.id_bytes, e.offset, e.length, e.kind) for e in built.entries),
        )
        self.report.packs_uploaded.append(built.pack_id)

    def _live_records(
        self, wanted: dict[str, RemoteLocation]
    ) -> Iterator[tuple[bytes, int, bytes]]:
        for span in plan_spans(wanted):
            data = self.storage.get_range(pack_key(span.pack_id), span.start, span.length)
            for object_id, location in span.records:
                begin = location.offset - span.start
                raw = data[begin : begin + location.length]
                check_record(object_id, location, raw, self.storage.url)
                yield id_to_bytes(object_id), location.kind, raw


def _role_of(store: ObjectStore, object_id: str, kind: int) -> str | None:
    """The role an object of a pack plays, read from the object itself."""
    if kind == KIND_CHUNK:
        return closure.CHUNK
    if kind == KIND_MANIFEST:
        return closure.FILE
    try:
        found = object_type(store.get(object_id))
    except MlvError:
        return None
    return found if found in _META_ROLES else None


_META_ROLES = frozenset(
    {
        closure.COMMIT,
        closure.TREE,
        closure.RUN,
        closure.ENV,
        closure.REPRODUCTION,
        closure.NOTES,
        closure.PROFILES,
        closure.PROFILE,
    }
)


def _cut(group: dict[str, RemoteLocation]) -> Iterator[dict[str, RemoteLocation]]:
    ordered = sorted(group.items(), key=lambda x: (x[1].pack_id, x[1].offset))
    return batches_of(ordered, REMOTE_PACK_TARGET)


def _holders(index: RemoteIndex, ids: list[str]) -> dict[str, set[str]]:
    """Every pack the remote's index says holds each of ``ids``."""
    held: dict[str, set[str]] = {}
    keys = sorted({id_to_bytes(i) for i in ids})
    for start in range(0, len(keys), IN_BATCH):
        part = keys[start : start + IN_BATCH]
        marks = ",".join("?" * len(part))
        for id_bytes, pack_id in index.conn.execute(
            f"SELECT o.id, p.pack_id FROM objects o JOIN packs p USING (pack_no)"
            f" WHERE o.id IN ({marks})",
            part,
        ):
            held.setdefault(id_from_bytes(id_bytes), set()).add(pack_id)
    return held


def collect_remote(
    remote: Remote,
    store: ObjectStore,
    refs: RefStore,
    records: RunRecords,
    scratch: Path,
    *,
    grace: float = DEFAULT_GRACE,
    dry_run: bool = False,
) -> RemoteGcReport:
    """Run one gc of ``remote`` (the caller holds the local write lock)."""
    return RemoteCollector(
        remote, store, refs, records, scratch, grace=grace, dry_run=dry_run
    ).run()
