"""Tracking content: add, rm, status and commit."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlv.core.crashpoints import crash_point
from mlv.errors import (
    FileChangedError,
    InvalidArgumentError,
    NotFoundError,
    NothingToCommitError,
    UncommittedChangesError,
)
from mlv.model.objects import Commit, Person
from mlv.repo.base import Objects, Revisions, WorkTree, describe_error
from mlv.repo.blobs import save_files
from mlv.repo.diff import Change, diff_sorted, same, same_files
from mlv.repo.extensions import AddEvent, CommitEvent, Extensions
from mlv.repo.ignore import IgnoreRules
from mlv.repo.locking import WriteLock
from mlv.repo.records import RunRecords
from mlv.repo.refs import RefStore
from mlv.repo.results import (
    AddResult,
    NoProgress,
    Progress,
    Status,
)
from mlv.repo.staging import (
    Staged,
    StagedRows,
    StagingArea,
    as_entry,
    staged_from,
    stat_matches,
    trusted_mtime,
)
from mlv.repo.trees import EMPTY_TREE_ID, check_names, write_sorted_tree
from mlv.repo.worktree import FileList, FileStat, FolderStatCache, Scan, under
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_META

# Files stored per round of the hashing threads by ``add``: enough to keep them busy,
# few enough that what a round holds stays small.
ADD_CHUNK_FILES = 8192


@dataclass
class Tracking:
    """Staging and committing: add, rm, status, commit."""

    worktree: WorkTree
    objects: Objects
    revisions: Revisions
    store: ObjectStore
    staging: StagingArea
    records: RunRecords
    refs: RefStore
    write_lock: WriteLock
    extensions: Extensions

    def add(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        progress: Progress | None = None,
        strict: bool | None = None,
    ) -> AddResult:
        progress = progress or NoProgress()
        with self.write_lock:
            event = AddEvent([self.worktree.relpath(p) for p in paths], strict, progress)
            warnings = self.extensions.before_add.fire(event)
            result = self._stage(event.paths, progress)
            result.warnings.extend(warnings)
            event.result = result
            result.warnings.extend(self.extensions.after_add.fire(event))
        return result

    def _stage(self, rels: list[str], progress: Progress) -> AddResult:
        """Store new content under ``rels`` and stage it, with deletions; the caller
        holds the write lock.

        Memory is kept to a few compact values per file read: the working tree is
        walked and the stat cache read folder by folder, files are stored in chunks,
        and what is staged is held in arrays until the one staging transaction.
        """
        root = self.worktree.root
        result = AddResult()
        self._existing_or_tracked(rels)
        cache = FolderStatCache(self.staging.stat_rows_in, self.staging.stat_rows_of)
        # Files whose stat matches the cache are never read, nor yielded.
        walk = Scan(root, rels, IgnoreRules.load(root), cache)
        todo = FileList()
        for rel, info, row in walk:
            todo.append(rel, info, row is not None)
        result.warnings.extend(walk.warnings)
        result.unchanged = walk.unchanged
        deletions = {p for p in cache.missing if not under(p, walk.unreadable)}
        if self.staging.count_under(rels) != cache.loaded_rows + walk.outright_staged:
            # Some tracked paths lie in folders the walk never read: gone, or ignored.
            unvisited = cache.unvisited(self.staging.paths_under(rels), walk.outright)
            deletions.update(p for p in unvisited if not under(p, walk.unreadable))
        deletions -= self.not_fetched(deletions)
        progress.start(sum(todo.sizes), "adding")
        problems: dict[str, str] = {}
        staged = StagedRows()
        for items, known in todo.chunks(ADD_CHUNK_FILES):
            # Per chunk, the rows staged before, to tell added from modified.
            before_rows = self.staging.load_paths(known) if known else {}
            saved = self.worktree.parallel(
                items, lambda batch, advance: self._save_batch(batch, advance, problems), progress
            )
            for (path, _info), done in zip(items, saved, strict=True):
                if done is None:
                    continue  # could not be read: it keeps whatever it had staged
                object_id, info = done
                entry = staged_from(object_id, info)
                before = before_rows.get(path)
                if before is None:
                    result.added.append(path)
                elif not before.same_content(entry):
                    result.modified.append(path)
                else:
                    result.unchanged += 1  # read again (its stat had moved), same content
                result.bytes_read += info.size
                staged.append(path, entry)
        del todo
        self.store.flush()
        crash_point("add.after-pack")
        result.warnings.extend(problems[p] for p in sorted(problems))
        # A file where a folder was pushes the old entry out (what lay below a path that
        # is now a file is among the deletions already: its folder is gone).
        deletions.update(self._displaced(result.added))
        if staged or deletions:
            changed = result.added or result.modified or deletions
            known_tree = self.staging.known_tree() if not changed else None
            self.staging.apply(staged.rows(), sorted(deletions), tree_id=known_tree)
        result.removed = sorted(deletions)
        progress.finish()
        result.added.sort()
        result.modified.sort()
        return result

    def _displaced(self, fresh: list[str]) -> list[str]:
        """The staged files at a folder above a newly staged path: a stage must never hold
        both ``p`` and ``p/…``. Only new paths can displace anything, so this asks about
        the folders holding them, not about each file."""
        folders: set[str] = set()
        for path in fresh:
            folder = path.rpartition("/")[0]
            while folder and folder not in folders:
                folders.add(folder)
                folder = folder.rpartition("/")[0]
        return sorted(self.staging.stat_rows_of(sorted(folders))) if folders else []

    def _save_batch(
        self,
        batch: list[tuple[str, FileStat]],
        advance: Callable[[int], None],
        problems: dict[str, str],
    ) -> list[tuple[str, FileStat] | None]:
        """Store a batch of files; one that cannot be read is left out, with why in
        ``problems``, so that it does not stop the rest."""
        root = self.worktree.root
        items = [(p, info.kind) for p, info in batch]
        try:
            return list(save_files(self.store, root, items, advance))
        except (OSError, FileChangedError):
            pass  # rare: find which files failed, one at a time
        saved: list[tuple[str, FileStat] | None] = []
        for path, kind in items:
            try:
                saved.extend(save_files(self.store, root, [(path, kind)], advance))
            except (OSError, FileChangedError) as exc:
                problems[path] = f"skipped {path}: {describe_error(exc)}"
                saved.append(None)
        return saved

    def _existing_or_tracked(self, rels: list[str]) -> None:
        for rel in rels:
            if not os.path.lexists(self.worktree.root / rel) and not self.staging.count_under(
                [rel]
            ):
                raise NotFoundError(f"path {rel or '.'} matches no file; check the spelling")

    def rm(
        self, paths: Iterable[str | os.PathLike[str]], *, cached: bool = False, force: bool = False
    ) -> list[str]:
        with self.write_lock:
            staged = self.staging.load()
            rels = [self.worktree.relpath(p) for p in paths]
            targets = sorted(p for p in staged if under(p, rels))
            for rel in rels:
                if not any(under(p, [rel]) for p in targets):
                    raise NotFoundError(f"path {rel or '.'} is not tracked; see 'mlv status'")
            if not cached and not force:
                dirty = self.dirty_paths(targets, staged)
                head = self.revisions.head_flat(targets)
                dirty += [
                    p for p in targets if p not in head or not same(head[p], as_entry(staged[p]))
                ]
                if dirty:
                    raise UncommittedChangesError(
                        f"{len(set(dirty))} file(s) have changes that are not committed, "
                        f"e.g. {sorted(set(dirty))[0]}; commit them, or use --cached or --force"
                    )
            if not cached:
                self.worktree.materialiser(self.store).apply({}, targets)
            self.staging.apply(deletes=targets)
            return targets

    def status(self) -> Status:
        root = self.worktree.root
        head = self.refs.head()
        head_tree = self.objects.read_commit(head.commit).tree if head.commit else None
        if head_tree is not None and self.staging.known_tree() == head_tree:
            staged_changes: list[Change] = []
        else:
            # Both sides streamed in path order: neither is held whole.
            staged_changes = diff_sorted(
                self.objects.trees.iter_sorted(head_tree), self.staging.iter_staged()
            )
        cache = FolderStatCache(self.staging.stat_rows_in, self.staging.stat_rows_of)
        walk = Scan(root, self.staging.top_levels(), IgnoreRules.load(root), cache)
        changed: dict[str, FileStat] = {}
        untracked: list[str] = []
        for rel, info, row in walk:
            if row is None:
                untracked.append(rel)
            else:
                changed[rel] = info
        unreadable: dict[str, str] = {}
        modified, refresh = self._compare_with_stage(
            changed, self.staging.load_paths(changed), unreadable
        )
        if refresh:
            self.staging.refresh_stats(refresh)
        deleted = list(cache.missing)
        if self.staging.count_under([""]) != cache.loaded_rows + walk.outright_staged:
            deleted += cache.unvisited(self.staging.iter_paths(), walk.outright)
        not_fetched = self.not_fetched(deleted)
        deleted = sorted(p for p in deleted if p not in not_fetched)
        return Status(
            branch=head.branch,
            head=head.commit,
            staged=staged_changes,
            modified=modified,
            deleted=deleted,
            untracked=sorted(untracked),
            warnings=walk.warnings + sorted(unreadable.values()),
            pending_runs=[run_id for run_id, _ in self.records.pending()],
            not_fetched=len(not_fetched),
        )

    def not_fetched(self, missing: Iterable[str]) -> set[str]:
        """Of tracked paths absent from the working tree, those a partial clone never
        received: not deleted, only not here. Elsewhere, none."""
        if self.store.content_source is None:
            return set()
        staged = self.staging.load_paths(missing)
        ids = {s.id for s in staged.values()}
        here = {i.hex() for i in self.store.index.present({bytes.fromhex(i) for i in ids})}
        return {p for p, s in staged.items() if s.id not in here}

    def _compare_with_stage(
        self,
        files: dict[str, FileStat],
        staged: dict[str, Staged],
        problems: dict[str, str] | None = None,
    ) -> tuple[list[str], list[tuple[str, str, int, int]]]:
        """Modified paths, and fresh stats for files whose content proved unchanged.

        A file that cannot be read counts as modified (mlv cannot vouch for it), and
        why goes to ``problems``.
        """
        problems = {} if problems is None else problems
        suspects = [
            (path, info)
            for path, info in files.items()
            if (s := staged.get(path)) is not None and not stat_matches(s, info)
        ]
        modified: list[str] = []
        refresh: list[tuple[str, str, int, int]] = []
        hashed = self.worktree.hash_files(suspects, problems)
        for (path, _info), result in zip(suspects, hashed, strict=True):
            if result is None:
                modified.append(path)
                continue
            object_id, info = result
            before = staged[path]
            if before.same_content(staged_from(object_id, info)):
                mtime = trusted_mtime(info.mtime_ns)
                if mtime != -1:
                    refresh.append((path, object_id, mtime, info.ino))
            else:
                modified.append(path)
        return sorted(modified), refresh

    def dirty_paths(self, paths: Iterable[str], staged: dict[str, Staged]) -> list[str]:
        """Tracked paths whose working tree file differs from the stage (deleted ones aside)."""
        modified, _ = self._compare_with_stage(self.worktree.stat_paths(paths), staged)
        return modified

    def commit(
        self,
        message: str,
        *,
        author: Person | None = None,
        allow_empty: bool = False,
        when: datetime | None = None,
        extra_parents: Iterable[str] = (),
        code: dict[str, Any] | None = None,
        strict: bool | None = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> str:
        from mlv.repo.identity import default_author

        if not message.strip():
            raise InvalidArgumentError("a commit needs a message: use -m MESSAGE")
        event = CommitEvent(
            message, author or default_author(self.worktree.root), strict, code=code
        )
        moment = when or datetime.now().astimezone()
        extra_parents = list(extra_parents)
        with self.write_lock:
            _tell(self.extensions.before_commit.fire(event), on_warning)
            head = self.refs.head()
            parent_tree = self.objects.read_commit(head.commit).tree if head.commit else None
            # A stage already known to equal a stored tree needs no rows read at all.
            tree_id = self.staging.known_tree() or self._write_stage()
            parents = ([head.commit] if head.commit else []) + extra_parents
            if (
                not allow_empty
                and not extra_parents
                and (
                    tree_id == parent_tree
                    or (parent_tree is None and tree_id == EMPTY_TREE_ID)
                    # A format-1 tree names table profiles: the same files, another id.
                    or (
                        parent_tree is not None
                        and same_files(self.objects.trees, parent_tree, tree_id)
                    )
                )
            ):
                raise NothingToCommitError(
                    "nothing to commit: stage changes with 'mlv add', or use --allow-empty"
                )
            offset = moment.utcoffset()
            runs, superseded = self.records.matching_pending(
                lambda path: self._id_in_tree(tree_id, path)
            )
            if head.commit:
                # A commit killed after its ref moved left its runs queued: they are
                # the parent's already, and no second commit may carry them.
                carried = set(self.objects.read_commit(head.commit).runs)
                superseded += [r for r in runs if r in carried]
                runs = [r for r in runs if r not in carried]
            event.tree, event.parents = tree_id, tuple(parents)
            _tell(self.extensions.commit_objects.fire(event), on_warning)
            commit = Commit(
                tree=tree_id,
                parents=tuple(parents),
                author=event.author,
                time=int(moment.timestamp()),
                tz_offset=int(offset.total_seconds() // 60) if offset else 0,
                message=message if message.endswith("\n") else message + "\n",
                runs=tuple(runs),
                code=dict(event.code or {}),
                profiles=event.profiles,
            )
            commit_id = self.store.put_meta(commit.to_bytes(), KIND_META)
            crash_point("commit.before-flush")
            self.store.flush()
            self._check_written(commit_id)
            # Last: the ref moves only to a commit written, flushed and read back whole.
            crash_point("commit.before-ref")
            self.refs.update_head(commit_id, str(event.author), f"commit: {commit.summary}")
            crash_point("commit.after-ref")
            self.staging.apply(tree_id=tree_id)
            crash_point("commit.after-stage")
            self.records.drop_pending([*runs, *superseded])
            event.commit_id = commit_id
            _tell(self.extensions.after_commit.fire(event), on_warning)
            return commit_id

    def _check_written(self, commit_id: str) -> None:
        """Read a new commit and its root tree back from the store, verified and parsed.

        The files and folders below were written by ``add`` and ``write_tree``, which
        checked every name; what is read here is what nothing else has checked.
        """
        commit = Commit.from_bytes(self.store.get(commit_id))
        self.objects.tree(commit.tree)

    def _write_stage(self) -> str:
        # Streamed in path order, folder by folder: a stage of a million files is never
        # held whole. Names are checked in a first pass, before any tree is stored.
        check_names(self.staging.iter_paths())
        return write_sorted_tree(self.store, self.staging.iter_entries())

    def _id_in_tree(self, tree_id: str, path: str) -> str | None:
        entry = self.objects.entry_at(tree_id, path)
        return None if entry is None else entry.id


def _tell(warnings: list[str], on_warning: Callable[[str], None] | None) -> None:
    if on_warning is not None:
        for line in warnings:
            on_warning(line)
