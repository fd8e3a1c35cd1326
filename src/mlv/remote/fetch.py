"""``mlv fetch``: bring what a remote's refs reach, verified, then move the tracking refs.

1. Read the remote's refs, and learn what it holds from its pack indexes.
2. Receive every history object (commits, trees, runs, envs, profiles, notes) the
   local store lacks, in ranges of the packs that hold them. History is small,
   and taking it whole spares one round trip per commit of a long history.
3. Check each ref: walk what it reaches, locally now, and refuse the ref when an
   object is missing or is not what it claims (a tree naming ``..``, a commit
   that is a tree): its tracking ref does not move.
4. Unless the repository is partial (``--no-data``), receive the content those
   refs reach that is missing here: manifests, then their chunks; then check
   each whole file against its id.
5. Move ``refs/remotes/<remote>/<branch>``, add the tags we lack, and join the
   remote's chain of reproductions into ours. Prune tracking refs of branches
   the remote no longer has.

Nothing a fetch writes is reachable before step 5, so a fetch killed anywhere
leaves the repository as it was, plus objects the next fetch need not receive.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mlv.core.crashpoints import crash_point
from mlv.core.hashing import id_to_bytes
from mlv.core.paths import check_symlink_target
from mlv.errors import MlvError, RemoteError
from mlv.model.notes import Notes
from mlv.model.objects import Commit, FileManifest
from mlv.model.runs import Reproduction, Run
from mlv.model.tables import ProfileMap
from mlv.remote.receiving import Receiver, decompressor, fetch_objects
from mlv.remote.remoteindex import RemoteLocation, batches_of
from mlv.remote.remoterefs import RemoteRef, read_refs
from mlv.remote.session import Remote
from mlv.repo import closure
from mlv.repo import notes as notes_chain
from mlv.repo.blobs import check_file
from mlv.repo.history import reachable as reachable_commits
from mlv.repo.notes import REPRODUCTIONS
from mlv.repo.records import RunRecords
from mlv.repo.refnames import HEADS, REMOTES, TAGS
from mlv.repo.refs import RefStore
from mlv.repo.results import NoProgress, Progress
from mlv.store.objectstore import ObjectStore, open_record
from mlv.store.pack import KIND_MANIFEST, KIND_META

# Manifests held in memory at once while their chunks arrive.
MANIFEST_BATCH = 64 * 1024 * 1024


@dataclass
class RefChange:
    ref: str  # the local ref that moved: refs/remotes/origin/main, refs/tags/v1
    old: str | None
    new: str | None  # None: pruned


@dataclass
class FetchResult:
    remote: str
    url: str
    empty: bool = False
    changes: list[RefChange] = field(default_factory=list)
    remote_refs: dict[str, str] = field(default_factory=dict)
    refused_refs: list[str] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "url": self.url,
            "empty": self.empty,
            "changes": [vars(c) for c in self.changes],
            "remote_refs": self.remote_refs,
            "refused_refs": self.refused_refs,
            "objects": self.objects,
            "bytes": self.bytes,
            "warnings": self.warnings,
        }


class FetchRefusedError(RemoteError):
    """Some remote refs were refused (damaged, or reaching what is not sound); the sound
    ones were fetched. The message is the first reason."""

    def __init__(self, message: str, result: FetchResult) -> None:
        super().__init__(message)
        self.result = result


class Fetcher:
    def __init__(
        self,
        remote: Remote,
        store: ObjectStore,
        refs: RefStore,
        records: RunRecords,
        progress: Progress | None = None,
        *,
        run_cache_key: Callable[[Run], str] | None = None,
    ) -> None:
        self.remote = remote
        self.store = store
        self.refs = refs
        self.records = records
        self.progress = progress or NoProgress()
        self.run_cache_key = run_cache_key
        self._verified: set[str] = set()  # walked whole by an earlier ref of this fetch
        self._whole: tuple[bool, set[str]] | None = None

    # -- the whole fetch ---------------------------------------------------------------

    def fetch(self, *, content: bool = True) -> FetchResult:
        """Fetch every sound ref; raises ``FetchRefusedError`` (after moving the sound
        ones) when the remote holds refs that are damaged or reach what is not sound."""
        remote = self.remote
        result = FetchResult(remote.name, remote.url)
        if not remote.check_marker(create=False):
            result.empty = True
            return result
        listing = read_refs(remote.storage)
        refused = list(listing.damaged)
        self.receive_history(result)
        sound: dict[str, RemoteRef] = {}
        wanted_content: dict[str, closure.Need] = {}
        for name, ref in sorted(listing.refs.items()):
            problem = self.check_ref(ref, wanted_content, with_content=content)
            if problem is None:
                sound[name] = ref
            else:
                refused.append(problem)
        result.remote_refs = {name: ref.commit for name, ref in sound.items()}
        crash_point("fetch.after-history")
        if content:
            self.receive_content(list(wanted_content.values()), result)
        # A tag is a ref of ours: made only where its content is here, or can come.
        tags = content or self.store.content_source is not None
        # A ref refused is not a ref gone: its tracking ref stays where it was.
        keep = listing.names - sound.keys()
        result.refused_refs = sorted(keep)
        self._move_refs(sound, result, tags=tags, keep=keep)
        if refused:
            result.warnings += refused
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise FetchRefusedError(f"{refused[0]}{more}", result)
        return result

    def receive_history(self, result: FetchResult | None = None) -> None:
        """Every history object of the remote that the local store lacks."""
        remote = self.remote
        remote.index.sync(remote.storage)
        history = list(remote.index.iter_objects((KIND_META,)))
        missing = self._missing(history)
        report = fetch_objects(
            remote.storage, self.store, missing.items(), self.progress, "receiving history"
        )
        if result is not None:
            result.objects += report.objects
            result.bytes += report.bytes

    def _missing(self, found: Iterable[tuple[str, RemoteLocation]]) -> dict[str, RemoteLocation]:
        wanted = dict(found)
        present = self.store.index.present({id_to_bytes(i) for i in wanted})
        for id_bytes in present:
            wanted.pop(id_bytes.hex(), None)
        return wanted

    # -- checking what a ref reaches ---------------------------------------------------

    def check_ref(
        self, ref: RemoteRef, content: dict[str, closure.Need], *, with_content: bool = True
    ) -> str | None:
        """None when everything ``ref`` reaches is here and sound (its content needs
        are added to ``content``); else why the ref is refused, one line.

        Sound: every object there, each what its role says (a tree's names pass the
        checks of checkout), and every symlink's target one checkout would write."""
        role = closure.NOTES if ref.name == REPRODUCTIONS else closure.COMMIT
        start = closure.Need(ref.commit, role, f"remote ref {ref.name}")
        learned: list[closure.Found] = []
        whole = self._whole_here(with_content)
        walked: set[str] = set()
        mine: dict[str, closure.Need] = {}
        symlinks: list[closure.Need] = []

        def named(need: closure.Need) -> None:
            mine.setdefault(need.id, need)
            if need.role == closure.SYMLINK:
                symlinks.append(need)

        try:
            for found in closure.walk(
                closure.StoreSource(self.store),
                [start],
                done=lambda ids: {i for i in ids if i in whole or i in self._verified},
                content=False,
                on_content=named,
            ):
                learned.append(found)
                walked.add(found.need.id)
            self._check_symlinks(symlinks)
        except MlvError as exc:
            return f"remote ref {ref.name} refused: {exc}; it was not fetched"
        self._verified |= walked
        content.update(mine)
        self._learn(learned)
        return None

    def _check_symlinks(self, symlinks: list[closure.Need]) -> None:
        """Every symlink must point where checkout would write it: its target (a few
        bytes) comes now, even in a partial clone."""
        if not symlinks:
            return
        self.receive_content(list({n.id: n for n in symlinks}.values()))
        for need in symlinks:
            target = os.fsdecode(self.store.get(need.id))
            check_symlink_target(need.path, target)

    def _whole_here(self, with_content: bool) -> set[str]:
        """The commits whose closure this repository holds whole: those its branches and
        tags reach (and, for history alone, its remote-tracking branches too). Objects
        merely present prove nothing: a fetch cut short leaves history without its
        content, or part of it."""
        if self._whole is None or self._whole[0] != with_content:
            prefixes = (HEADS, TAGS) if with_content else (HEADS, TAGS, REMOTES)
            starts = [c for p in prefixes for c in self.refs.list(p, skip_damaged=True).values()]
            with contextlib.suppress(MlvError):
                head = self.refs.head().commit
                if head:
                    starts.append(head)
            read = lambda commit_id: Commit.from_bytes(self.store.get(commit_id))  # noqa: E731
            self._whole = (with_content, set(reachable_commits(read, starts)))
        return self._whole[1]

    def _learn(self, found: list[closure.Found]) -> None:
        """Fill the caches of index.db that ``mlv index rebuild`` derives, for what came."""
        profiles: list[tuple[str, str]] = []
        for item in found:
            need = item.need
            if need.role == closure.RUN and self.run_cache_key is not None:
                # A value canonical JSON refuses (NaN) has no key: that run answers none.
                with contextlib.suppress(MlvError, ValueError):
                    self.records.cache_run(
                        self.run_cache_key(Run.from_bytes(self.store.get(need.id))), need.id
                    )
            elif need.role == closure.PROFILES:
                profile_map = ProfileMap.from_bytes(self.store.get(need.id))
                profiles += sorted(profile_map.profiles.items())
            elif need.role == closure.REPRODUCTION:
                rep = Reproduction.from_bytes(self.store.get(need.id))
                self.records.add_reproduction(rep.commit, need.id, rep.time)
        if profiles:
            self.records.add_profiles(profiles)

    # -- content -----------------------------------------------------------------------

    def receive_content(
        self, needs: list[closure.Need], result: FetchResult | None = None, *, flush: bool = True
    ) -> None:
        """The content of ``needs`` (file and symlink ids) that the store lacks.

        A single-chunk file is checked by its id on arrival. A manifest cannot be: it is
        named by the file it lists. So manifests are held in memory while their chunks
        arrive, and each is stored only once the whole file hashes to its id. A manifest
        in the store is therefore always one whose file was checked, and a fetch cut
        short, or refused, leaves nothing a later one could take on trust.
        """
        remote = self.remote
        ids = list(dict.fromkeys(n.id for n in needs))
        have = {i.hex() for i in self.store.index.present({id_to_bytes(i) for i in ids})}
        wanted = [i for i in ids if i not in have and not self.store.has(i)]
        if not wanted:
            return
        located = remote.index.locate(wanted)
        lacking = [i for i in wanted if i not in located]
        if lacking:
            need = next(n for n in needs if n.id == lacking[0])
            raise RemoteError(
                f"remote {remote.url} lacks {len(lacking)} file(s) its history names, e.g. "
                f"{need.id} ({need.where}); run 'mlv fsck --remote {remote.name}'"
            )
        singles = {i: loc for i, loc in located.items() if loc.kind != KIND_MANIFEST}
        self._receive(singles, result, flush)
        manifests = {i: loc for i, loc in located.items() if loc.kind == KIND_MANIFEST}
        for batch in batches_of(manifests.items(), MANIFEST_BATCH):
            records = Receiver(remote.storage, self.store).read(batch)
            parsed = {
                i: FileManifest.from_bytes(_content_of(i, raw)) for i, (_, raw) in records.items()
            }
            chunk_ids = list(dict.fromkeys(c for m in parsed.values() for c, _ in m.chunks))
            chunks = remote.index.locate(chunk_ids)
            absent = [c for c in chunk_ids if c not in chunks and not self.store.has(c)]
            if absent:
                raise RemoteError(
                    f"remote {remote.url} lacks {len(absent)} chunk(s) of its files, e.g. "
                    f"{absent[0]}; run 'mlv fsck --remote {remote.name}'"
                )
            self._receive(chunks, result, flush)
            for manifest_id, manifest in parsed.items():
                _check_file(self.store, manifest_id, manifest, remote.url)
            self.store.put_records(
                [(id_to_bytes(i), kind, raw) for i, (kind, raw) in records.items()]
            )
        if flush:
            self.store.flush()

    def _receive(
        self, wanted: dict[str, RemoteLocation], result: FetchResult | None, flush: bool
    ) -> None:
        report = fetch_objects(
            self.remote.storage,
            self.store,
            wanted.items(),
            self.progress,
            "receiving",
            flush=flush,
        )
        self._count(report, result)

    def receive_files(self, ids: list[str]) -> None:
        """The files among ``ids`` that the remote holds (manifests with their chunks);
        ids it lacks are left for the reader to report as missing."""
        located = self.remote.index.locate(ids)
        known = [closure.Need(i, closure.FILE, "read") for i in ids if i in located]
        if known:
            self.receive_content(known, flush=False)

    @staticmethod
    def _count(report: Any, result: FetchResult | None) -> None:
        if result is not None:
            result.objects += report.objects
            result.bytes += report.bytes

    # -- refs --------------------------------------------------------------------------

    def _move_refs(
        self, sound: dict[str, RemoteRef], result: FetchResult, *, tags: bool, keep: set[str]
    ) -> None:
        name = self.remote.name
        prefix = f"{REMOTES}{name}/"
        branches = {
            r.removeprefix(HEADS): v.commit for r, v in sound.items() if r.startswith(HEADS)
        }
        for branch, commit in sorted(branches.items()):
            self._set(prefix + branch, commit, result)
        kept = {r.removeprefix(HEADS) for r in keep if r.startswith(HEADS)}
        gone = self.refs.remote_refs(name, skip_damaged=True).keys() - branches.keys() - kept
        for branch in sorted(gone):
            old = self.refs.read(prefix + branch)
            self.refs.delete(prefix + branch)
            result.changes.append(RefChange(prefix + branch, old, None))
        for ref, value in sorted(sound.items()):
            if not ref.startswith(TAGS) or not tags:
                continue
            mine = self.refs.read(ref)
            if mine is None:
                self._set(ref, value.commit, result)
            elif mine != value.commit:
                result.warnings.append(
                    f"tag {ref.removeprefix(TAGS)} differs on remote {name}; yours is kept"
                )
        notes = sound.get(REPRODUCTIONS)
        if notes is not None:
            joined = join_notes(self.store, self.refs, notes.commit)
            if joined is not None:
                result.changes.append(RefChange(REPRODUCTIONS, joined[0], joined[1]))

    def _set(self, ref: str, commit: str, result: FetchResult) -> None:
        old = self.refs.read(ref)
        if old != commit:
            self.refs.update(ref, commit, old, message=f"fetch from {self.remote.name}")
            result.changes.append(RefChange(ref, old, commit))


def _content_of(object_id: str, raw: bytes) -> bytes:
    # check_record has verified the record already: this only opens it again.
    return open_record(id_to_bytes(object_id), raw, decompressor())


def _check_file(store: ObjectStore, file_id: str, manifest: FileManifest, url: str) -> None:
    """The chunks a manifest lists must make the file it is named after."""
    if not check_file(store, file_id, manifest):
        # Chunks this store already held are read again each against its id: damage of
        # ours is said as ours (ChecksumMismatchError), not blamed on the remote.
        for chunk_id, _ in manifest.chunks:
            store.get(chunk_id)
        raise RemoteError(
            f"remote {url}: the file {file_id} is damaged: its chunks do not make the file "
            "its id names; nothing of it was kept: run 'mlv fsck --remote' to see the damage"
        )


def _note(content: dict[str, closure.Need], need: closure.Need) -> None:
    content.setdefault(need.id, need)


def join_notes(store: ObjectStore, refs: RefStore, theirs: str) -> tuple[str | None, str] | None:
    """Make our chain of reproductions hold the remote's too; (old, new) when it moved.

    Chains only add up: one that holds the other is taken; two that forked are
    joined by an entry with both as parents (the caller holds the write lock)."""
    ours = refs.read(REPRODUCTIONS)
    if ours == theirs or (ours is not None and _chain_holds(store, ours, theirs)):
        return None
    if ours is None or _chain_holds(store, theirs, ours):
        new = theirs
    else:
        entry = Notes(parents=(ours, theirs), records=())
        new = store.put_meta(entry.to_bytes(), KIND_META)
        store.flush()
    refs.update(REPRODUCTIONS, new, ours, message="fetch: join reproductions")
    return ours, new


def _chain_holds(store: ObjectStore, newer: str, older: str) -> bool:
    return any(notes_id == older for notes_id, _ in notes_chain.walk(store, newer))
