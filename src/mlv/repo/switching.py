"""Moving between versions: checkout, restore, switching branch and merge."""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from mlv.core.crashpoints import crash_point
from mlv.errors import (
    FormatError,
    MergeConflictError,
    NotFoundError,
    UncommittedChangesError,
)
from mlv.model.objects import KIND_DIR, Person
from mlv.repo import history
from mlv.repo.base import Objects, Revisions, WorkTree
from mlv.repo.branches import Branches
from mlv.repo.checkout import Materialiser
from mlv.repo.diff import same
from mlv.repo.locking import WriteLock
from mlv.repo.merge import three_way
from mlv.repo.pathrows import PathRow, in_batches, merge_rows
from mlv.repo.refs import HEADS, Head, RefStore, check_ref_name
from mlv.repo.results import (
    CheckoutResult,
    MergeResult,
    NoProgress,
    Progress,
)
from mlv.repo.staging import (
    Staged,
    StagingArea,
    as_entry,
    displaced_by,
    folders_above,
    staged_from,
)
from mlv.repo.tracking import Tracking
from mlv.repo.trees import Entry, Flat
from mlv.repo.worktree import lstat_file, under
from mlv.store.objectstore import ObjectStore


@dataclass
class Switching:
    """Moving the working tree: checkout, restore, switch and merge.

    A merge commits through ``tracking``, so that the commit it makes passes the
    same extension points as any other.
    """

    worktree: WorkTree
    objects: Objects
    revisions: Revisions
    store: ObjectStore
    staging: StagingArea
    refs: RefStore
    write_lock: WriteLock
    tracking: Tracking
    branches: Branches

    def checkout(
        self,
        rev: str,
        paths: Iterable[str | os.PathLike[str]] | None = None,
        *,
        force: bool = False,
        progress: Progress | None = None,
    ) -> CheckoutResult:
        """Make the working tree match ``rev``; with ``paths``, restore only those paths.

        Without paths HEAD moves to ``rev`` (onto the branch when ``rev`` is a branch
        name). Files with uncommitted changes are never overwritten or deleted
        unless ``force``.
        """
        progress = progress or NoProgress()
        with self.write_lock:
            commit_id = self.revisions.resolve(rev)
            commit = self.objects.read_commit(commit_id)
            if paths is not None:
                rels = [self.worktree.relpath(p) for p in paths]
                for rel in rels:
                    if not self._tree_has_files(commit.tree, rel):
                        raise NotFoundError(f"path {rel or '.'} does not exist in {rev}")
                head_tree = self._head_tree_id()
                trees = self.objects.trees

                def restored() -> Iterator[PathRow]:
                    return merge_rows(
                        trees.iter_sorted(commit.tree, rels),
                        None if head_tree == commit.tree else trees.iter_sorted(head_tree, rels),
                        self._staged_at(rels),
                    )

                return self._materialise(restored, force=force, progress=progress, commit=commit_id)
            result = self._move_to(commit_id, force, progress)
            crash_point("checkout.before-head")
            head = self._head_for_checkout()
            if rev in ("HEAD", "@"):
                branch = head.branch  # as git does: HEAD stays where it is
            else:
                branch = rev if self.refs.read(HEADS + rev) == commit_id else None
                if branch:
                    self.refs.set_head_ref(HEADS + branch)
                else:
                    self.refs.set_head_detached(commit_id, message=f"checkout: moving to {rev}")
            result.branch = branch
            return result

    def _move_to(self, commit_id: str, force: bool, progress: Progress) -> CheckoutResult:
        """Make the working tree and stage hold ``commit_id``'s tree; refs are the caller's.

        Without ``force``, local changes to paths the move does not touch are carried
        along, as git does. With it, tracked files are made exactly the target's;
        files staged but never committed are left on disk, no longer staged.
        """
        tree = self.objects.read_commit(commit_id).tree
        head_tree = self._head_tree_id()
        trees = self.objects.trees

        def moved() -> Iterator[PathRow]:
            return merge_rows(
                trees.iter_sorted(tree),
                None if head_tree == tree else trees.iter_sorted(head_tree),
                self.staging.iter_rows(),
            )

        result = self._materialise(
            moved,
            force=force,
            progress=progress,
            commit=commit_id,
            removing=True,
            unstage_uncommitted=force,
            carry=not force,
        )
        if not result.carried:
            self.staging.apply(tree_id=tree)
        return result

    def _materialise(
        self,
        rows: Callable[[], Iterator[PathRow]],
        *,
        force: bool,
        progress: Progress,
        commit: str,
        removing: bool = False,
        unstage_uncommitted: bool = False,
        carry: bool = False,
    ) -> CheckoutResult:
        """Write the target over the working tree and stage it, guarding uncommitted work.

        ``rows`` gives the target, HEAD and the stage side by side, in path order; it
        is called again where a second pass is needed. With ``removing``, a staged
        path the target lacks is removed; with ``unstage_uncommitted`` too, one HEAD
        lacks as well is only unstaged, and stays on disk. With ``carry`` (moving
        between commits), a path whose content is the same in HEAD and in the target
        is left alone, local changes and all, as git does; so are new files staged
        but never committed.

        The work goes a batch of paths at a time (``in_batches``), so memory does
        not grow with the number of files. Every batch is planned and checked
        before any is written: a checkout refused for uncommitted work or for an
        unsafe path changes nothing. A checkout of one batch is planned once; of
        more, planned again as each batch is written. One that fails part-way (a
        damaged object, a full disk) undoes its current batch and leaves the
        batches before it written and staged: running it again finishes it.
        """
        materialiser = self.worktree.materialiser(self.store)
        way = _Way(removing, unstage_uncommitted, carry)
        batches = in_batches(rows())
        first = next(batches, [])
        plans: Iterable[_Plan]
        if next(batches, None) is None:
            plan = self._plan(first, way)
            _refuse_risks(len(plan.at_risk), plan.at_risk[:1], force)
            total = plan.size
            plans = [plan]
            del plan
        else:
            total = self._check_batches(in_batches(rows()), way, materialiser, force)
            plans = (self._plan(batch, way) for batch in in_batches(rows()))
        del first, batches
        known = self.staging.known_tree()
        head_id = self._head_for_checkout().commit
        # Restoring HEAD's own content keeps the stage equal to HEAD: status stays cheap.
        still_head = (
            known is not None
            and head_id is not None
            and known == self.objects.read_commit(head_id).tree
        )
        result = CheckoutResult(commit)
        progress.start(total, "checking out")
        for plan in plans:
            # Found only if a file changed since the first pass looked.
            _refuse_risks(len(plan.at_risk), plan.at_risk[:1], force)
            written = materialiser.apply(plan.writes, plan.removals, progress.advance)
            crash_point("checkout.before-stage")
            still_head = self._stage_batch(plan, written) and still_head
            result.written.extend(sorted(plan.writes))
            result.removed.extend(plan.removals)
            result.carried.extend(plan.carried)
            del plan, written  # before the next batch is planned: one batch at a time
        progress.finish()
        if still_head:
            self.staging.apply(tree_id=known)
        return result

    def _check_batches(
        self, batches: Iterator[list[PathRow]], way: _Way, materialiser: Materialiser, force: bool
    ) -> int:
        """Plan and check every batch, writing nothing: refuse a checkout that would lose
        uncommitted work or meets an unsafe path. Returns the bytes to write."""
        risks, total = 0, 0
        example: list[str] = []
        for batch in batches:
            plan = self._plan(batch, way)
            materialiser.validate(plan.writes, plan.removals)
            risks += len(plan.at_risk)
            example = example or plan.at_risk[:1]
            total += plan.size
            del batch, plan  # before the next batch is read
        _refuse_risks(risks, example, force)
        return total

    def _plan(self, batch: list[PathRow], way: _Way) -> _Plan:
        """What a batch of paths needs: which to write, remove and unstage, and which
        of those would lose uncommitted work."""
        target = {r.path: r.target for r in batch if r.target is not None}
        head = {r.path: r.head for r in batch if r.head is not None}
        staged = {r.path: r.staged for r in batch if r.staged is not None}
        removals: list[str] = []
        unstage: list[str] = []
        if way.removing:
            removals = [r.path for r in batch if r.target is None and r.staged is not None]
        if way.unstage_uncommitted:
            unstage = [p for p in removals if p not in head]
            removals = [p for p in removals if p in head]
        carried: list[str] = []
        if way.carry:
            carried = [p for p, want in target.items() if p in head and same(head[p], want)]
            carried += [p for p in removals if p not in head]
            kept = set(carried)
            target = {p: e for p, e in target.items() if p not in kept}
            removals = [p for p in removals if p not in kept]
        on_disk = self.worktree.content_on_disk(
            self.worktree.stat_paths([*target, *removals]), staged
        )
        writes: dict[str, Entry] = {}
        at_risk: list[str] = []
        for path, want in target.items():
            have = on_disk.get(path)
            if have is not None and same(have, want):
                continue
            writes[path] = want
            if have is not None and not _committed(head.get(path), have):
                at_risk.append(path)
        for path in removals:
            have = on_disk.get(path)
            if have is not None and not _committed(head.get(path), have):
                at_risk.append(path)
        at_risk.sort()
        # What the stage still holds that differs from HEAD: staged work carried along.
        carried = sorted(
            p
            for p in carried
            if p not in head or p not in staged or not same(head[p], as_entry(staged[p]))
        )
        return _Plan(target, head, staged, writes, removals, unstage, at_risk, carried)

    def _stage_batch(self, plan: _Plan, written: dict[str, Staged]) -> bool:
        """Stage what a batch wrote, in one transaction; whether the stage still holds
        only HEAD's content there."""
        # Files that were already right on disk keep their (possibly fresh) stat.
        upserts = dict(written)
        for path, want in plan.target.items():
            if path not in upserts:
                old = plan.staged.get(path)
                if old is not None and same(as_entry(old), want):
                    continue
                info = lstat_file(self.worktree.root / path)
                if info is not None:
                    upserts[path] = staged_from(want.id, info)
        head = plan.head
        # A file written where a folder was staged (or the reverse) pushes the old
        # entries out of the stage; on disk, validate saw to it that they are gone.
        unstaged = displaced_by(upserts, plan.staged) - set(plan.removals)
        self.staging.apply(upserts.items(), [*plan.removals, *unstaged, *plan.unstage])
        return (
            not unstaged
            and not plan.unstage
            and all(p in head and same(head[p], as_entry(s)) for p, s in upserts.items())
            and not any(p in head for p in plan.removals)
        )

    def _staged_at(self, rels: list[str]) -> Iterator[tuple[str, Staged]]:
        """The staged rows at or under ``rels``, and those at folders above them: a
        file staged where a folder is restored is pushed out of the stage."""
        above = {parent for rel in rels for parent in folders_above(rel) if not under(parent, rels)}
        rows = sorted(self.staging.load_paths(above).items())
        return heapq.merge(self.staging.iter_rows(rels), rows, key=lambda row: row[0])

    def _tree_has_files(self, tree: str, rel: str) -> bool:
        """Whether the tree holds a file or symlink at or under ``rel``."""
        if rel in ("", "."):
            found: str | None = tree
        else:
            entry = self.objects.entry_at(tree, rel)
            if entry is None or entry.kind != KIND_DIR:
                return entry is not None
            found = entry.id
        return next(iter(self.objects.trees.iter_sorted(found)), None) is not None

    def _head_for_checkout(self) -> Head:
        """HEAD, or no commit at all when HEAD is damaged: a checkout is how a user puts
        HEAD right, so it must not stop on it. Nothing then counts as committed, and
        every file it would replace is guarded as uncommitted work (``--force`` goes on)."""
        try:
            return self.refs.head()
        except FormatError:
            return Head(None, None)

    def _head_tree_id(self) -> str | None:
        commit_id = self._head_for_checkout().commit
        return self.objects.read_commit(commit_id).tree if commit_id else None

    def restore(
        self, paths: Iterable[str | os.PathLike[str]], *, progress: Progress | None = None
    ) -> CheckoutResult:
        """Discard working tree changes to tracked paths: put back the staged content."""
        progress = progress or NoProgress()
        with self.write_lock:
            rels = [self.worktree.relpath(p) for p in paths]
            for rel in rels:
                if not self.staging.count_under([rel]):
                    raise NotFoundError(f"path {rel or '.'} is not tracked; see 'mlv status'")
            head_tree = self._head_tree_id()

            def restored() -> Iterator[PathRow]:
                # One read of the stage for both views: merge_rows takes them in step.
                staged, wanted = itertools.tee(self._staged_at(rels))
                target = ((p, as_entry(s)) for p, s in wanted if under(p, rels))
                return merge_rows(target, self.objects.trees.iter_sorted(head_tree, rels), staged)

            return self._materialise(restored, force=True, progress=progress, commit="")

    # -- branches and tags ------------------------------------------------------

    def switch(self, branch: str, *, create: bool = False, force: bool = False) -> CheckoutResult:
        """Move to another branch (creating it from HEAD with ``create``)."""
        with self.write_lock:
            if create:
                if self.refs.head().commit is None:
                    check_ref_name(branch)
                    self.refs.set_head_ref(HEADS + branch)
                    return CheckoutResult("", branch=branch)
                commit_id = self.branches.create_branch(branch)
                # The new branch is HEAD's commit: the working tree and stage stay as they are.
                self.refs.set_head_ref(HEADS + branch)
                return CheckoutResult(commit_id, branch=branch)
            elif self.refs.read(HEADS + branch) is None:
                check_ref_name(branch)  # no advice to create a branch no one can name
                raise NotFoundError(
                    f"no branch named {branch!r}; create it with 'mlv switch -c {branch}'"
                )
            return self.checkout(branch, force=force)

    # -- merging ----------------------------------------------------------------

    def merge(
        self,
        rev: str,
        *,
        prefer: str | None = None,
        message: str | None = None,
        author: Person | None = None,
    ) -> MergeResult:
        """Merge ``rev`` into the current branch: fast-forward, or a three-way file merge.

        On conflict nothing is changed and ``MergeConflictError`` lists the paths,
        unless ``prefer`` (``"ours"`` or ``"theirs"``) settles them.
        """
        with self.write_lock:
            head = self.refs.head()
            if head.commit is None:
                raise NotFoundError("HEAD has no commit yet: nothing to merge into")
            theirs_id = self.revisions.resolve(rev)
            read = self.objects.read_commit
            if history.is_ancestor(read, theirs_id, head.commit):
                return MergeResult("up-to-date", head.commit)
            status = self.tracking.status()
            if status.staged or status.modified or status.deleted:
                raise UncommittedChangesError(
                    "the working tree has uncommitted changes; commit them before merging"
                )
            if history.is_ancestor(read, head.commit, theirs_id):
                self._move_to(theirs_id, False, NoProgress())
                self.refs.update_head(theirs_id, message=f"merge {rev}: fast-forward")
                return MergeResult("fast-forward", theirs_id)
            base_id = history.merge_base(read, head.commit, theirs_id)
            base = self.objects.flatten(read(base_id).tree) if base_id else {}
            ours = self.objects.flatten(read(head.commit).tree)
            theirs = self.objects.flatten(read(theirs_id).tree)
            outcome = three_way(base, ours, theirs, prefer)
            if outcome.conflicts:
                raise MergeConflictError(outcome.conflicts)
            merged = sorted(outcome.merged.items())
            head_files = sorted(ours.items())

            def rows() -> Iterator[PathRow]:
                return merge_rows(merged, head_files, self.staging.iter_rows())

            self._materialise(rows, force=False, progress=NoProgress(), commit="", removing=True)
            # Every conflict ``prefer`` settled: add/add and modify/delete too.
            resolved = three_way(base, ours, theirs).conflicts if prefer else []
            what = f"branch '{rev}'" if self.refs.read(HEADS + rev) else rev
            into = head.branch or "HEAD"
            commit_id = self.tracking.commit(
                message or f"Merge {what} into {into}",
                author=author,
                allow_empty=True,
                extra_parents=[theirs_id],
            )
            return MergeResult("merge", commit_id, resolved)


@dataclass(frozen=True)
class _Way:
    """How a checkout treats the paths it is given (``Switching._materialise``)."""

    removing: bool
    unstage_uncommitted: bool
    carry: bool


class _Plan(NamedTuple):
    """One batch of a checkout, planned: what to write, remove and stage."""

    target: Flat  # what the batch must end up holding (less what is carried along)
    head: Flat
    staged: dict[str, Staged]
    writes: Flat
    removals: list[str]
    unstage: list[str]
    at_risk: list[str]  # sorted
    carried: list[str]  # staged changes carried along, sorted

    @property
    def size(self) -> int:
        return sum(e.size for e in self.writes.values())


def _refuse_risks(count: int, example: list[str], force: bool) -> None:
    if count and not force:
        raise UncommittedChangesError(
            f"{count} file(s) with uncommitted changes would be overwritten, "
            f"e.g. {example[0]}; commit them first or use --force"
        )


def _committed(in_head: Entry | None, have: Entry) -> bool:
    """Whether content found on disk is what HEAD commits at that path.

    Content that is only staged does not count: checkout replaces the stage, after
    which nothing would reach it.
    """
    return in_head is not None and same(in_head, have)
