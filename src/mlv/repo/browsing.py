"""Reading history: log, show, diff and file content at a revision."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from mlv.errors import (
    InvalidArgumentError,
    NotFoundError,
)
from mlv.model.objects import KIND_DIR, KIND_SYMLINK, Commit, TreeEntry
from mlv.repo import history
from mlv.repo.base import Objects, Revisions, WorkTree
from mlv.repo.contentfile import ContentFile, ReadStats
from mlv.repo.diff import Change, diff_flat, diff_trees, iter_tree_changes
from mlv.repo.ignore import IgnoreRules
from mlv.repo.protocols import ObjectReader, RevisionResolver
from mlv.repo.refs import HEADS, REMOTES, TAGS, RefStore
from mlv.repo.results import (
    CommitDetails,
    LogEntry,
)
from mlv.repo.staging import StagingArea
from mlv.repo.trees import Flat
from mlv.repo.worktree import scan, tracked_roots


def file_entry(objects: ObjectReader, revisions: RevisionResolver, rev: str, rel: str) -> TreeEntry:
    """The tree entry of the file at repository path ``rel`` in ``rev``."""
    commit = objects.read_commit(revisions.resolve(rev))
    entry = objects.entry_at(commit.tree, rel)
    if entry is None:
        raise NotFoundError(f"path {rel} does not exist in {rev}")
    if entry.kind == KIND_DIR:
        raise InvalidArgumentError(f"{rel} is a folder in {rev}; name a file")
    return entry


def regular_file_entry(
    objects: ObjectReader, revisions: RevisionResolver, rev: str, rel: str
) -> TreeEntry:
    """``file_entry``, refusing a symbolic link: what is read as data (a table, a
    ranged read) is the file a link points to, which the caller must name."""
    entry = file_entry(objects, revisions, rev, rel)
    if entry.kind == KIND_SYMLINK:
        raise InvalidArgumentError(f"{rel} is a symbolic link in {rev}; name the file it points to")
    return entry


def file_at(
    objects: ObjectReader, revisions: RevisionResolver, rev: str, rel: str
) -> Iterator[bytes]:
    """The content of the file at repository path ``rel`` in ``rev``, streamed and
    verified against its id."""
    return objects.iter_content(file_entry(objects, revisions, rev, rel).id)


@dataclass
class Browsing:
    """Reading history: log, show, diff, and files as they were."""

    worktree: WorkTree
    objects: Objects
    revisions: Revisions
    refs: RefStore
    staging: StagingArea

    def ref_names(self) -> dict[str, list[str]]:
        """Commit id -> the branch, tag and remote-tracking names pointing at it (for
        decorating logs: ``origin/main``)."""
        names: dict[str, list[str]] = {}
        head = self.refs.head()
        if head.commit and head.ref is None:
            names.setdefault(head.commit, []).append("HEAD")
        # A damaged ref must not hide history: it is left out here and reported by fsck.
        for short, commit_id in self.refs.list(HEADS, skip_damaged=True).items():
            label = f"HEAD -> {short}" if head.branch == short else short
            names.setdefault(commit_id, []).append(label)
        for short, commit_id in self.refs.list(TAGS, skip_damaged=True).items():
            names.setdefault(commit_id, []).append(f"tag: {short}")
        for short, commit_id in self.refs.list(REMOTES, skip_damaged=True).items():
            names.setdefault(commit_id, []).append(short)
        return names

    def log(
        self,
        revs: Iterable[str] | None = None,
        *,
        max_count: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        author: str | None = None,
        paths: Iterable[str | os.PathLike[str]] | None = None,
        all_refs: bool = False,
    ) -> list[LogEntry]:
        """Commits reachable from ``revs`` (default HEAD), children before parents."""
        if max_count == 0:
            return []
        if all_refs:
            starts = list(self.refs.list(HEADS).values()) + list(self.refs.list(TAGS).values())
            head = self.refs.head().commit
            starts += [head] if head else []
        else:
            rev_list = list(revs or [])
            if not rev_list and self.refs.head().commit is None:
                return []
            starts = [self.revisions.resolve(r) for r in rev_list or ["HEAD"]]
        commits = history.reachable(self.objects.read_commit, starts)
        rel_paths = [self.worktree.relpath(p) for p in paths] if paths else None
        names = self.ref_names()
        entries = []
        needle = author.lower() if author else None
        for commit_id in history.topo_order(commits):
            commit = commits[commit_id]
            if since and commit.time < since.timestamp():
                continue
            if until and commit.time > until.timestamp():
                continue
            if needle and needle not in str(commit.author).lower():
                continue
            if rel_paths is not None and not self._touches(commit, rel_paths):
                continue
            entries.append(LogEntry(commit_id, commit, names.get(commit_id, [])))
            if max_count is not None and len(entries) >= max_count:
                break
        return entries

    def _touches(self, commit: Commit, paths: list[str]) -> bool:
        parent = self.objects.read_commit(commit.parents[0]).tree if commit.parents else None
        return bool(diff_trees(self.objects.trees, parent, commit.tree, paths))

    def show(self, rev: str = "HEAD") -> CommitDetails:
        """A commit and the files it changed against its first parent."""
        commit_id = self.revisions.resolve(rev)
        commit = self.objects.read_commit(commit_id)
        parent = self.objects.read_commit(commit.parents[0]).tree if commit.parents else None
        changes = diff_trees(self.objects.trees, parent, commit.tree)
        entry = LogEntry(commit_id, commit, self.ref_names().get(commit_id, []))
        return CommitDetails(entry, changes)

    def change_counts(self, rev: str = "HEAD") -> dict[str, int]:
        """How many files a commit added, modified and removed against its first parent,
        counted as they are found: a first commit of a million files holds no change
        per file."""
        commit = self.objects.read_commit(self.revisions.resolve(rev))
        parent = self.objects.read_commit(commit.parents[0]).tree if commit.parents else None
        counts: dict[str, int] = {}
        for change in iter_tree_changes(self.objects.trees, parent, commit.tree):
            counts[change.status] = counts.get(change.status, 0) + 1
        return counts

    def open_file(self, rev: str, path: str | os.PathLike[str]) -> Iterator[bytes]:
        """Stream a file's content as it was at ``rev``, verified against its id."""
        return file_at(self.objects, self.revisions, rev, self.worktree.relpath(path))

    def read_bytes(self, rev: str, path: str | os.PathLike[str]) -> bytes:
        return b"".join(self.open_file(rev, path))

    def open(
        self,
        path: str | os.PathLike[str],
        rev: str = "HEAD",
        *,
        stats: ReadStats | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> ContentFile:
        rel = self.worktree.relpath(path)
        entry = regular_file_entry(self.objects, self.revisions, rev, rel)
        return ContentFile(self.objects.store, entry.id, name=rel, stats=stats, on_close=on_close)

    def diff(
        self,
        a: str | None = None,
        b: str | None = None,
        paths: Iterable[str | os.PathLike[str]] | None = None,
    ) -> list[Change]:
        """Changes from ``a`` (default HEAD) to ``b`` (default: the working tree)."""
        rel_paths = [self.worktree.relpath(p) for p in paths] if paths else None
        if a and b:
            old_tree = self.objects.read_commit(self.revisions.resolve(a)).tree
            new_tree = self.objects.read_commit(self.revisions.resolve(b)).tree
            return diff_trees(self.objects.trees, old_tree, new_tree, rel_paths)
        has_old = a or self.refs.head().commit
        old = self.revisions.flat_tree(a or "HEAD", rel_paths) if has_old else {}
        new = self.revisions.flat_tree(b, rel_paths) if b else self.worktree_flat(rel_paths)
        return diff_flat(old, new)

    def worktree_flat(self, paths: list[str] | None = None) -> Flat:
        """The tracked part of the working tree as it is on disk now (content hashed as needed)."""
        staged = self.staging.load()
        roots = paths if paths is not None else tracked_roots(staged)
        root = self.worktree.root
        found = scan(root, roots, IgnoreRules.load(root)).files
        return self.worktree.content_on_disk(found, staged)
