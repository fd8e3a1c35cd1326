"""``mlv fsck --remote``: check a remote whole, its packs byte for byte and what its refs reach.

1. the marker is there and is one this mlv reads;
2. every ``.idx`` decodes, names its pack, and gives the ``.pack``'s size;
3. every remote ref names an object the remote holds, and everything it reaches is
   there (kinds from the pack indexes; history and manifests received into the
   local store, verified, to be read; chunks never downloaded for this);
4. every pack is downloaded whole (to ``.mlv/tmp``), its BLAKE3 checked against its
   id and each record its index names opened and verified.

Each problem is one line; nothing on the remote is changed.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlv.core.hashing import Hasher, id_from_bytes
from mlv.errors import FormatError, MlvError
from mlv.remote.fetch import Fetcher
from mlv.remote.gc import RemoteSource, remote_reach
from mlv.remote.layout import MARKER, PACKS, check_marker, index_key, pack_key, parse_pack_key
from mlv.remote.packindex import PackIndex, decode_index
from mlv.remote.receiving import check_record
from mlv.remote.remoteindex import RemoteLocation
from mlv.remote.remoterefs import read_refs
from mlv.remote.session import Remote
from mlv.repo import closure
from mlv.repo.records import RunRecords
from mlv.repo.refs import RefStore
from mlv.repo.results import NoProgress, Progress
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import PACK_HEADER, check_pack_header

_READ = 8 * 1024 * 1024


@dataclass
class RemoteFsckReport:
    remote: str
    url: str
    packs_checked: int = 0
    objects_checked: int = 0
    refs_checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "ok": self.ok}


def check_remote(
    remote: Remote,
    store: ObjectStore,
    refs: RefStore,
    records: RunRecords,
    scratch: Path,
    progress: Progress | None = None,
) -> RemoteFsckReport:
    """Check ``remote`` (the caller holds the local write lock: history is received)."""
    progress = progress or NoProgress()
    report = RemoteFsckReport(remote.name, remote.url)
    url = remote.url
    found = remote.storage.get(MARKER)
    if found is None:
        report.problems.append(f"remote {url} has no {MARKER}: it is not an mlv remote")
        return report
    try:
        check_marker(found, url)
    except MlvError as exc:
        report.problems.append(str(exc))
        return report
    indexes = _check_indexes(remote, report)
    _check_refs(remote, store, refs, records, report)
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        progress.start(sum(i.pack_size for i in indexes.values()), "checking packs")
        for pack_id, index in sorted(indexes.items()):
            _check_pack(remote, pack_id, index, scratch, report)
            progress.advance(index.pack_size)
    finally:
        progress.finish()
        shutil.rmtree(scratch, ignore_errors=True)
    return report


def _check_indexes(remote: Remote, report: RemoteFsckReport) -> dict[str, PackIndex]:
    storage = remote.storage
    listed: dict[str, dict[str, int]] = {}
    for key, size in storage.list(PACKS):
        parsed = parse_pack_key(key)
        if parsed is None:
            report.notes.append(f"{key} is not a pack or a pack index; mlv ignores it")
        else:
            listed.setdefault(parsed[0], {})[parsed[1]] = size
    good: dict[str, PackIndex] = {}
    for pack_id, sizes in sorted(listed.items()):
        if "idx" not in sizes:
            report.notes.append(
                f"pack {pack_id[:12]} has no index (a push stopped before writing it): "
                "nothing counts on it, and gc removes it"
            )
            continue
        data = storage.get(index_key(pack_id))
        if data is None:
            report.problems.append(f"index of pack {pack_id[:12]} vanished while being read")
            continue
        try:
            index = decode_index(data, f"{remote.url}/{index_key(pack_id)}")
        except MlvError as exc:
            report.problems.append(str(exc))
            continue
        if index.pack_id != pack_id:
            report.problems.append(
                f"index {index_key(pack_id)} names another pack ({index.pack_id[:12]})"
            )
        elif "pack" not in sizes:
            report.problems.append(f"index {index_key(pack_id)} has no pack: its objects are lost")
        elif sizes["pack"] != index.pack_size:
            report.problems.append(
                f"pack {pack_id[:12]} is {sizes['pack']} bytes but its index says {index.pack_size}"
            )
        else:
            good[pack_id] = index
    return good


def _check_refs(
    remote: Remote,
    store: ObjectStore,
    refs: RefStore,
    records: RunRecords,
    report: RemoteFsckReport,
) -> None:
    listing = read_refs(remote.storage)
    report.problems += listing.damaged
    try:
        Fetcher(remote, store, refs, records).receive_history()
    except MlvError as exc:
        report.problems.append(f"history could not be received whole: {exc}")
    source = RemoteSource(remote, store, remote_only=True)
    for name, ref in sorted(listing.refs.items()):
        report.refs_checked += 1
        missing: list[closure.Need] = []
        try:
            remote_reach(source, {name: ref}, missing.append)
        except MlvError as exc:
            report.problems.append(f"remote ref {name}: {exc}")
            continue
        for need in missing[:5]:
            report.problems.append(
                f"remote ref {name} reaches {need.role} {need.id} ({need.where}), "
                "which the remote does not hold"
            )
        if len(missing) > 5:
            report.problems.append(f"remote ref {name}: {len(missing) - 5} more missing object(s)")
    if source.only_condemned:
        report.notes.append(
            f"{len(source.only_condemned)} reachable object(s) are held in condemned packs "
            "alone: the next gc uploads them again before it deletes those packs"
        )


def _check_pack(
    remote: Remote, pack_id: str, index: PackIndex, scratch: Path, report: RemoteFsckReport
) -> None:
    path = scratch / f"{pack_id}.pack"
    try:
        size = remote.storage.get_to_file(pack_key(pack_id), path)
    except MlvError as exc:
        report.problems.append(str(exc))
        return
    if size is None:
        report.problems.append(f"pack {pack_id[:12]} vanished while being read")
        return
    report.packs_checked += 1
    try:
        with open(path, "rb") as f:
            hasher = Hasher()
            while block := f.read(_READ):
                hasher.update(block)
            if hasher.hexdigest() != pack_id:
                report.problems.append(
                    f"pack {pack_id[:12]} is damaged: its bytes do not hash to its id"
                )
            f.seek(0)
            try:
                check_pack_header(f.read(PACK_HEADER.size), pack_key(pack_id))
            except MlvError as exc:
                report.problems.append(str(exc))
            for entry in index.entries:
                object_id = id_from_bytes(entry.id_bytes)
                f.seek(entry.offset)
                raw = f.read(entry.length)
                report.objects_checked += 1
                location = RemoteLocation(pack_id, entry.offset, entry.length, entry.kind)
                try:
                    if len(raw) != entry.length:
                        raise FormatError("truncated")
                    check_record(object_id, location, raw, remote.url)
                except MlvError as exc:
                    report.problems.append(str(exc))
    finally:
        os.unlink(path)
