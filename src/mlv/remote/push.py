"""``mlv push``: send what a remote lacks, then move its refs by compare-and-swap.

The order is what keeps a shared remote whole (docs/design.md, "Remotes"):

1. read the remote refs to move, and refuse any move that is not a fast-forward
   (or, with ``force``, any whose remote value is not what we last fetched);
2. learn what the remote holds from its pack indexes (``RemoteIndex.sync``);
3. walk what the new commits reach, stopping at what the remote holds, and send
   it (``Sender``): content first, history last;
4. swap each ref from the value read in 1. A ref someone moved meanwhile is not
   touched: that push is told to fetch and merge.

A push killed anywhere leaves the remote as it was, plus packs that the next
push uses instead of sending again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from mlv.core.crashpoints import crash_point
from mlv.errors import InvalidArgumentError, MlvError, RemoteError
from mlv.remote.packing import Sender
from mlv.remote.remoteindex import read_condemned
from mlv.remote.remoterefs import RemoteRef, read_ref, refs_lease, swap_ref
from mlv.remote.session import Remote
from mlv.repo import closure
from mlv.repo.history import ReadCommit, is_ancestor
from mlv.repo.notes import REPRODUCTIONS
from mlv.repo.refnames import HEADS, REMOTES, TAGS
from mlv.repo.refs import RefStore
from mlv.repo.results import NoProgress, Progress
from mlv.store.objectstore import ObjectStore

NEW = "new"
FAST_FORWARD = "fast-forward"
FORCED = "forced"
UP_TO_DATE = "up-to-date"
REJECTED = "rejected"

FETCH_FIRST = (
    "the remote has commits that you do not have: run 'mlv pull' (or 'mlv fetch' "
    "and 'mlv merge'), then push again"
)


class PushRejectedError(MlvError):
    """A push that would lose someone's commits, or lost a race: nothing was moved."""

    exit_code = 1

    def __init__(self, message: str, result: PushResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class RefPush:
    ref: str  # the full name, the same on both sides: refs/heads/main
    local: str
    remote: str | None
    status: str = ""
    reason: str = ""


@dataclass
class PushResult:
    remote: str
    url: str
    refs: list[RefPush] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0
    packs: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> list[RefPush]:
        return [r for r in self.refs if r.status == REJECTED]

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "url": self.url,
            "refs": [asdict(r) for r in self.refs],
            "objects": self.objects,
            "bytes": self.bytes,
            "packs": self.packs,
            "warnings": self.warnings,
        }


def tracking_ref(remote: str, ref: str) -> str | None:
    """The remote-tracking ref that mirrors remote ``ref`` (branches only)."""
    if ref.startswith(HEADS):
        return f"{REMOTES}{remote}/{ref.removeprefix(HEADS)}"
    return None


def choose_refs(
    refs: RefStore, names: list[str], *, all_branches: bool, tags: bool
) -> dict[str, str]:
    """Full ref name -> local commit, for the names given (branches, then tags), all
    branches with ``all_branches``, every tag with ``tags``; the current branch when
    nothing is named."""
    chosen: dict[str, str] = {}
    for name in names:
        for full in (name, HEADS + name, TAGS + name):
            if full.startswith((HEADS, TAGS)):
                commit = refs.read(full)
                if commit is not None:
                    chosen[full] = commit
                    break
        else:
            raise InvalidArgumentError(f"no branch or tag named {name!r} to push")
    if all_branches:
        chosen.update({HEADS + b: c for b, c in refs.list(HEADS).items()})
    if tags:
        chosen.update({TAGS + t: c for t, c in refs.list(TAGS).items()})
    if not chosen and not all_branches and not tags:
        head = refs.head()
        if head.ref is None:
            raise InvalidArgumentError("HEAD is detached: name the branch to push")
        if head.commit is None:
            raise InvalidArgumentError(f"branch {head.branch!r} has no commit yet: nothing to push")
        chosen[head.ref] = head.commit
    return chosen


class Pusher:
    def __init__(
        self,
        remote: Remote,
        store: ObjectStore,
        refs: RefStore,
        read_commit: ReadCommit,
        scratch_dir: Any,
        progress: Progress | None = None,
        join_notes: Callable[[str], str] | None = None,
    ) -> None:
        self.remote = remote
        self.store = store
        self.refs = refs
        self.read_commit = read_commit
        self.scratch_dir = scratch_dir
        self.progress = progress or NoProgress()
        # Joins the remote's notes chain into ours and returns the joined entry: set
        # by the caller, who can fetch.
        self.join_notes = join_notes

    def push(self, chosen: dict[str, str], *, force: bool = False) -> PushResult:
        remote = self.remote
        result = PushResult(remote.name, remote.url)
        remote.check_marker(create=True)
        notes = self.refs.read(REPRODUCTIONS)
        if notes is not None and any(r.startswith(HEADS) for r in chosen):
            chosen = {**chosen, REPRODUCTIONS: notes}
        read = {ref: read_ref(remote.storage, ref) for ref in chosen}
        for ref, local in chosen.items():
            result.refs.append(self._judge(ref, local, read[ref], force))
        if result.rejected:
            first = result.rejected[0]
            raise PushRejectedError(f"push to {remote.url} refused: {first.reason}", result)
        moving = [r for r in result.refs if r.status != UP_TO_DATE]
        if not moving:
            return result
        remote.index.sync(remote.storage)
        self._send([r.local for r in moving], result)
        self._swap(moving, read, result)
        return result

    def _judge(self, ref: str, local: str, found: RemoteRef | None, force: bool) -> RefPush:
        entry = RefPush(ref, local, found.commit if found else None)
        if found is None:
            entry.status = NEW
        elif found.commit == local:
            entry.status = UP_TO_DATE
        elif ref == REPRODUCTIONS:
            entry.status = self._judge_notes(entry, found)
        elif ref.startswith(TAGS) and not force:
            entry.status, entry.reason = REJECTED, f"tag {ref} already exists on the remote"
        elif self._has_descendant(local, found.commit):
            entry.status = FAST_FORWARD
        elif not force:
            entry.status = REJECTED
            entry.reason = f"{ref} is not a fast-forward: {FETCH_FIRST}"
        else:
            entry.status = self._lease(ref, found, entry)
        return entry

    def _judge_notes(self, entry: RefPush, found: RemoteRef) -> str:
        """Reproductions only add up: a remote chain we lack is joined into ours."""
        if self._notes_contain(entry.local, found.commit):
            return FAST_FORWARD
        if self._notes_contain(found.commit, entry.local):
            entry.local = found.commit
            return UP_TO_DATE
        if self.join_notes is None:
            entry.reason = f"{REPRODUCTIONS} has entries you lack: {FETCH_FIRST}"
            return REJECTED
        entry.local = self.join_notes(found.commit)
        return FAST_FORWARD

    def _notes_contain(self, newer: str, older: str) -> bool:
        from mlv.repo import notes as notes_chain

        if not (self.store.has(older) and self.store.has(newer)):
            return False
        return any(notes_id == older for notes_id, _ in notes_chain.walk(self.store, newer))

    def _has_descendant(self, local: str, remote_commit: str) -> bool:
        return self.store.has(remote_commit) and is_ancestor(self.read_commit, remote_commit, local)

    def _lease(self, ref: str, found: RemoteRef, entry: RefPush) -> str:
        """``--force`` overrides only what we last saw, as git's ``--force-with-lease``."""
        tracking = tracking_ref(self.remote.name, ref)
        seen = self.refs.read(tracking) if tracking else None
        if ref.startswith(TAGS) or seen == found.commit:
            return FORCED
        entry.reason = (
            f"{ref} on the remote is at {found.commit[:12]}, not at "
            f"{(seen or 'nothing')[:12]} where you last fetched it: run 'mlv fetch', "
            "look at what would be lost, then push --force again"
        )
        return REJECTED

    def _send(self, tips: list[str], result: PushResult) -> None:
        """Send what ``tips`` reach that the remote lacks. Then, if a gc of the remote
        condemned packs meanwhile, what this push counted on there is sent again: a
        ref must never name what a gc is about to delete."""
        remote = self.remote
        starts = [self._start(ref_tip) for ref_tip in tips]
        condemned = read_condemned(remote.storage)
        remote.index.set_condemned(condemned)
        sent: set[str] = set()

        def done(ids: list[str]) -> set[str]:
            # What this push sent is walked into again: below it may lie what it skipped
            # because a pack now condemned held it.
            return remote.index.present(ids) - sent

        for _ in range(3):
            found = [
                (f.need.id, f.kind)
                for f in closure.walk(closure.StoreSource(self.store), starts, done=done)
                if f.need.id not in sent
            ]
            if not found:
                return
            sent.update(object_id for object_id, _ in found)
            scratch = self.scratch_dir / f"push-{os.urandom(6).hex()}"
            sender = Sender(remote.storage, self.store, remote.index, scratch, self.progress)
            try:
                report = sender.send(found, on_pack=lambda _: crash_point("push.after-pack"))
            finally:
                _remove_tree(scratch)
            result.objects += report.objects
            result.bytes += report.bytes
            result.packs += len(report.packs)
            now = read_condemned(remote.storage)
            if now <= condemned:
                return
            condemned = now
            remote.index.set_condemned(condemned)
        raise RemoteError(
            f"remote {remote.url}: a gc keeps condemning what this push sends; "
            "push again once it has finished"
        )

    def _start(self, tip: str) -> closure.Need:
        # A notes entry or a commit: the kind of object tells the walk how to read it.
        role = closure.NOTES if tip == self.refs.read(REPRODUCTIONS) else closure.COMMIT
        return closure.Need(tip, role, "pushed ref")

    def _swap(
        self, moving: list[RefPush], read: dict[str, RemoteRef | None], result: PushResult
    ) -> None:
        remote = self.remote
        conditional = remote.conditional_writes()
        if conditional is False:
            result.warnings.append(
                f"remote {remote.url} does not enforce conditional writes ('mlv remote test' "
                f"found so): refs were moved under a lease lock, which only protects pushes by mlv"
            )
        crash_point("push.before-refs")
        with refs_lease(remote.storage, "mlv push") if conditional is False else _nothing():
            for entry in moving:
                if conditional is False:
                    now = read_ref(remote.storage, entry.ref)
                    if (now.commit if now else None) != entry.remote:
                        entry.status, entry.reason = REJECTED, f"{entry.ref} moved: {FETCH_FIRST}"
                        continue
                    remote.storage.put(entry.ref, f"{entry.local}\n".encode())
                elif not swap_ref(remote.storage, entry.ref, entry.local, read[entry.ref]):
                    entry.status = REJECTED
                    entry.reason = f"someone pushed to {entry.ref} meanwhile: {FETCH_FIRST}"
                    continue
                tracking = tracking_ref(remote.name, entry.ref)
                if tracking:
                    self.refs.update(
                        tracking, entry.local, self.refs.read(tracking), message="push"
                    )
        if result.rejected:
            first = result.rejected[0]
            raise PushRejectedError(f"push to {remote.url} refused: {first.reason}", result)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _remove_tree(path: Any) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


__all__ = ["PushRejectedError", "PushResult", "Pusher", "RemoteError", "choose_refs"]
