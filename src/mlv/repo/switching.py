"""Moving between versions: checkout, restore, branches, tags and merge."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from mlv.core.crashpoints import crash_point
from mlv.errors import (
    FormatError,
    InvalidArgumentError,
    MergeConflictError,
    NotFoundError,
    UncommittedChangesError,
)
from mlv.model.objects import Person
from mlv.repo import history
from mlv.repo.base import Objects, Revisions, WorkTree
from mlv.repo.diff import same
from mlv.repo.locking import WriteLock
from mlv.repo.merge import three_way
from mlv.repo.refs import HEADS, TAGS, Head, RefStore, check_ref_name
from mlv.repo.results import (
    CheckoutResult,
    MergeResult,
    NoProgress,
    Progress,
)
from mlv.repo.staging import Staged, StagingArea, as_entry, displaced_by, staged_from
from mlv.repo.tracking import Tracking
from mlv.repo.trees import Entry, Flat
from mlv.repo.worktree import lstat_file, under
from mlv.store.objectstore import ObjectStore


@dataclass
class Switching:
    """Moving the working tree: checkout, restore, branches, tags and merge.

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
            staged = self.staging.load()
            if paths is not None:
                rels = [self.worktree.relpath(p) for p in paths]
                target = self.objects.flatten(commit.tree, rels)
                for rel in rels:
                    if not any(under(p, [rel]) for p in target):
                        raise NotFoundError(f"path {rel or '.'} does not exist in {rev}")
                result = self._materialise(target, staged, [], force, progress, commit_id)
                return result
            result = self._move_to(commit_id, staged, force, progress)
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

    def _move_to(
        self, commit_id: str, staged: dict[str, Staged], force: bool, progress: Progress
    ) -> CheckoutResult:
        """Make the working tree and stage hold ``commit_id``'s tree; refs are the caller's.

        Without ``force``, local changes to paths the move does not touch are carried
        along, as git does. With it, tracked files are made exactly the target's;
        files staged but never committed are left on disk, no longer staged.
        """
        tree = self.objects.read_commit(commit_id).tree
        target = self.objects.flatten(tree)
        removals = sorted(p for p in staged if p not in target)
        unstage: list[str] = []
        if force:
            head = self._head_tree_for_checkout()
            unstage = [p for p in removals if p not in head]
            removals = [p for p in removals if p in head]
        result = self._materialise(
            target, staged, removals, force, progress, commit_id, carry=not force
        )
        if unstage:
            self.staging.apply(deletes=unstage)
        if not result.carried:
            self.staging.apply(tree_id=tree)
        return result

    def _materialise(
        self,
        target: Flat,
        staged: dict[str, Staged],
        removals: list[str],
        force: bool,
        progress: Progress,
        commit_id: str,
        carry: bool = False,
    ) -> CheckoutResult:
        """Write ``target`` over the working tree and stage it, guarding uncommitted work.

        With ``carry`` (moving between commits), a path whose content is the same in
        HEAD and in the target is left alone, local changes and all, as git does; so
        are new files staged but never committed.
        """
        head = self._head_tree_for_checkout()
        carried: list[str] = []
        if carry:
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
        if at_risk and not force:
            at_risk.sort()
            raise UncommittedChangesError(
                f"{len(at_risk)} file(s) with uncommitted changes would be overwritten, "
                f"e.g. {at_risk[0]}; commit them first or use --force"
            )
        progress.start(sum(e.size for e in writes.values()), "checking out")
        written = self.worktree.materialiser(self.store).apply(writes, removals, progress.advance)
        crash_point("checkout.before-stage")
        progress.finish()
        # Files that were already right on disk keep their (possibly fresh) stat.
        upserts = dict(written)
        for path, want in target.items():
            if path not in upserts:
                old = staged.get(path)
                if old is not None and same(as_entry(old), want):
                    continue
                info = lstat_file(self.worktree.root / path)
                if info is not None:
                    upserts[path] = staged_from(want.id, info)
        # Restoring HEAD's own content keeps the stage equal to HEAD: status stays cheap.
        known = self.staging.known_tree()
        head_id = self._head_for_checkout().commit
        still_head = (
            known is not None
            and head_id is not None
            and known == self.objects.read_commit(head_id).tree
            and all(p in head and same(head[p], as_entry(s)) for p, s in upserts.items())
            and not any(p in head for p in removals)
        )
        # A file written where a folder was staged (or the reverse) pushes the old
        # entries out of the stage; on disk, validate saw to it that they are gone.
        unstaged = displaced_by(upserts, staged) - set(removals)
        self.staging.apply(
            upserts.items(),
            [*removals, *unstaged],
            tree_id=known if still_head and not unstaged else None,
        )
        result = CheckoutResult(commit_id, sorted(writes), removals)
        # What the stage still holds that differs from HEAD: staged work carried along.
        result.carried = sorted(
            p
            for p in carried
            if p not in head or p not in staged or not same(head[p], as_entry(staged[p]))
        )
        return result

    def _head_for_checkout(self) -> Head:
        """HEAD, or no commit at all when HEAD is damaged: a checkout is how a user puts
        HEAD right, so it must not stop on it. Nothing then counts as committed, and
        every file it would replace is guarded as uncommitted work (``--force`` goes on)."""
        try:
            return self.refs.head()
        except FormatError:
            return Head(None, None)

    def _head_tree_for_checkout(self) -> Flat:
        commit_id = self._head_for_checkout().commit
        return self.objects.flatten(self.objects.read_commit(commit_id).tree if commit_id else None)

    def restore(
        self, paths: Iterable[str | os.PathLike[str]], *, progress: Progress | None = None
    ) -> CheckoutResult:
        """Discard working tree changes to tracked paths: put back the staged content."""
        progress = progress or NoProgress()
        with self.write_lock:
            staged = self.staging.load()
            rels = [self.worktree.relpath(p) for p in paths]
            target = {p: as_entry(s) for p, s in staged.items() if under(p, rels)}
            for rel in rels:
                if not any(under(p, [rel]) for p in target):
                    raise NotFoundError(f"path {rel or '.'} is not tracked; see 'mlv status'")
            return self._materialise(target, staged, [], True, progress, "")

    # -- branches and tags ------------------------------------------------------

    def branches(self) -> dict[str, str]:
        return self.refs.list(HEADS)

    def current_branch(self) -> str | None:
        return self.refs.head().branch

    def create_branch(self, name: str, rev: str = "HEAD") -> str:
        check_ref_name(name)
        with self.write_lock:
            if self.refs.read(HEADS + name):
                raise InvalidArgumentError(f"branch {name!r} already exists")
            commit_id = self.revisions.resolve(rev)
            self.refs.update(HEADS + name, commit_id, None, message=f"branch: from {rev}")
            return commit_id

    def delete_branch(self, name: str, *, force: bool = False) -> str:
        with self.write_lock:
            commit_id = self.refs.read(HEADS + name)
            if commit_id is None:
                raise NotFoundError(f"no branch named {name!r}; see 'mlv branch'")
            if self.current_branch() == name:
                raise InvalidArgumentError(f"cannot delete {name!r}: it is the current branch")
            head = self.refs.head().commit
            if not force and (
                head is None or not history.is_ancestor(self.objects.read_commit, commit_id, head)
            ):
                raise UncommittedChangesError(
                    f"branch {name!r} is not merged into HEAD; use --force to delete it anyway"
                )
            self.refs.delete(HEADS + name)
            return commit_id

    def switch(self, branch: str, *, create: bool = False, force: bool = False) -> CheckoutResult:
        """Move to another branch (creating it from HEAD with ``create``)."""
        with self.write_lock:
            if create:
                if self.refs.head().commit is None:
                    check_ref_name(branch)
                    self.refs.set_head_ref(HEADS + branch)
                    return CheckoutResult("", branch=branch)
                commit_id = self.create_branch(branch)
                # The new branch is HEAD's commit: the working tree and stage stay as they are.
                self.refs.set_head_ref(HEADS + branch)
                return CheckoutResult(commit_id, branch=branch)
            elif self.refs.read(HEADS + branch) is None:
                check_ref_name(branch)  # no advice to create a branch no one can name
                raise NotFoundError(
                    f"no branch named {branch!r}; create it with 'mlv switch -c {branch}'"
                )
            return self.checkout(branch, force=force)

    def tags(self) -> dict[str, str]:
        return self.refs.list(TAGS)

    def create_tag(self, name: str, rev: str = "HEAD", *, force: bool = False) -> str:
        check_ref_name(name, "tag")
        with self.write_lock:
            old = self.refs.read(TAGS + name)
            if old and not force:
                raise InvalidArgumentError(f"tag {name!r} already exists; use --force to move it")
            commit_id = self.revisions.resolve(rev)
            self.refs.update(TAGS + name, commit_id, old, message=f"tag: {rev}")
            return commit_id

    def delete_tag(self, name: str) -> str:
        with self.write_lock:
            commit_id = self.refs.read(TAGS + name)
            if commit_id is None:
                raise NotFoundError(f"no tag named {name!r}; see 'mlv tag'")
            self.refs.delete(TAGS + name)
            return commit_id

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
                self._move_to(theirs_id, self.staging.load(), False, NoProgress())
                self.refs.update_head(theirs_id, message=f"merge {rev}: fast-forward")
                return MergeResult("fast-forward", theirs_id)
            base_id = history.merge_base(read, head.commit, theirs_id)
            base = self.objects.flatten(read(base_id).tree) if base_id else {}
            ours = self.objects.flatten(read(head.commit).tree)
            theirs = self.objects.flatten(read(theirs_id).tree)
            outcome = three_way(base, ours, theirs, prefer)
            if outcome.conflicts:
                raise MergeConflictError(outcome.conflicts)
            staged = self.staging.load()
            removals = sorted(p for p in staged if p not in outcome.merged)
            self._materialise(outcome.merged, staged, removals, False, NoProgress(), "")
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


def _committed(in_head: Entry | None, have: Entry) -> bool:
    """Whether content found on disk is what HEAD commits at that path.

    Content that is only staged does not count: checkout replaces the stage, after
    which nothing would reach it.
    """
    return in_head is not None and same(in_head, have)
