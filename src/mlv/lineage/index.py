"""One pass over a history: its commits, the runs they carry, who wrote and read what."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from mlv.errors import MlvError, NotFoundError, ObjectMissingError
from mlv.model.objects import KIND_DIR, Commit, TreeEntry
from mlv.model.runs import Run
from mlv.repo.history import reachable, topo_order
from mlv.repo.protocols import ObjectReader

# path -> artifact id -> ids of the runs that wrote (or read) that content there
Table = dict[str, dict[str, list[str]]]


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """Who made a commit and when, as lineage and history show it."""

    id: str
    author: str
    time: int
    tz_offset: int
    summary: str

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "author": self.author,
            "time": self.time,
            "tz_offset": self.tz_offset,
            "summary": self.summary,
        }


class HistoryIndex:
    """The commits reachable from ``starts`` and every run they carry, indexed once.

    Reading objects is what costs here (a thousand commits carry a thousand runs
    and as many root trees), so each object is read at most once, runs are indexed
    from their JSON and made into ``Run`` objects only when asked for, and a path is
    looked up in every commit at once, a folder level per batch of reads.
    """

    def __init__(self, objects: ObjectReader, starts: Iterable[str]) -> None:
        self.objects = objects
        self.commits = self._reachable(starts)
        self.newest_first = topo_order(self.commits)
        self.position = {commit_id: n for n, commit_id in enumerate(self.newest_first)}
        # A run's commit is the oldest that carries it: where it entered the history.
        self.run_commit: dict[str, str] = {}
        for commit_id in reversed(self.newest_first):
            for run_id in self.commits[commit_id].runs:
                self.run_commit.setdefault(run_id, commit_id)
        self.writers: Table = {}
        self.readers: Table = {}
        self._started: dict[str, int] = {}
        self._raw: dict[str, bytes] = {}
        self._runs: dict[str, Run] = {}
        self._index_runs(list(self.run_commit))
        self._names: dict[str, dict[str, TreeEntry]] = {}
        self._at_path: dict[str, dict[str, TreeEntry | None]] = {}
        self._inside: dict[tuple[int, str, str], dict[str, list[str]]] = {}

    def _reachable(self, starts: Iterable[str]) -> dict[str, Commit]:
        def read(commit_id: str) -> Commit:
            # One store read per commit: Repo.read_commit asks the index twice.
            try:
                return Commit.from_bytes(self.objects.get(commit_id))
            except ObjectMissingError:
                raise NotFoundError(f"no commit {commit_id} in this repository") from None

        return reachable(read, starts)

    def _index_runs(self, run_ids: list[str]) -> None:
        self.objects.prefetch(run_ids)
        for run_id in run_ids:
            try:
                raw = self.objects.get(run_id)
                doc = json.loads(raw)
                outs = {p: a["id"] for p, a in doc["outs"].items()}
                inputs = {p: a["id"] for p, a in doc["deps"].items()}
                inputs.update((p, a["id"]) for p, a in doc["params"].items())
                started = int(doc["started"])
            except (MlvError, ValueError, KeyError, TypeError, AttributeError):
                continue  # a missing or damaged run is fsck's to report, not a reason to stop
            self._raw[run_id] = raw
            self._started[run_id] = started
            for path, object_id in outs.items():
                self.writers.setdefault(path, {}).setdefault(object_id, []).append(run_id)
            for path, object_id in inputs.items():
                self.readers.setdefault(path, {}).setdefault(object_id, []).append(run_id)

    def run(self, run_id: str) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            run = Run.from_bytes(self._raw[run_id])
            self._runs[run_id] = run
        return run

    # -- commits ----------------------------------------------------------------------

    def info(self, commit_id: str) -> CommitInfo:
        commit = self.commits.get(commit_id) or self.objects.read_commit(commit_id)
        return CommitInfo(
            commit_id, str(commit.author), commit.time, commit.tz_offset, commit.summary
        )

    def not_newer(self, commit_id: str, than: str | None) -> bool:
        """Whether ``commit_id`` comes no later than ``than`` in the history's order."""
        if than is None or than not in self.position:
            return True
        return self.position[commit_id] >= self.position[than]

    # -- trees ------------------------------------------------------------------------

    def _entries(self, tree_id: str) -> dict[str, TreeEntry]:
        names = self._names.get(tree_id)
        if names is None:
            names = {e.name: e for e in self.objects.tree(tree_id).entries}
            self._names[tree_id] = names
        return names

    def entry_in(self, tree_id: str, path: str) -> TreeEntry | None:
        """The entry at ``path`` below a tree, or None."""
        return self.entries_in([tree_id], path)[tree_id]

    def entries_in(self, tree_ids: list[str], path: str) -> dict[str, TreeEntry | None]:
        """The entry at ``path`` below each tree: a folder level at a time, read in batches."""
        found: dict[str, TreeEntry | None] = dict.fromkeys(tree_ids)
        current = {tree_id: tree_id for tree_id in tree_ids}  # start tree -> folder reached
        parts = [p for p in path.split("/") if p]
        for depth, part in enumerate(parts):
            unread = {f for f in current.values() if f not in self._names}
            if len(unread) > 1:
                self.objects.prefetch(unread)
            reached: dict[str, str] = {}
            for start, folder in current.items():
                entry = self._entries(folder).get(part)
                if entry is None:
                    continue
                if depth == len(parts) - 1:
                    found[start] = entry
                elif entry.kind == KIND_DIR:
                    reached[start] = entry.id
            current = reached
        return found

    def at_path(self, path: str) -> dict[str, TreeEntry | None]:
        """Commit id -> the entry at ``path`` in that commit, for every commit indexed."""
        cached = self._at_path.get(path)
        if cached is None:
            trees = {cid: c.tree for cid, c in self.commits.items()}
            by_tree = self.entries_in(list(set(trees.values())), path)
            cached = {cid: by_tree[tree] for cid, tree in trees.items()}
            self._at_path[path] = cached
        return cached

    def first_holding(self, path: str, object_id: str) -> str | None:
        """The oldest commit whose tree holds ``object_id`` at ``path``."""
        entries = self.at_path(path)
        for commit_id in reversed(self.newest_first):
            entry = entries[commit_id]
            if entry is not None and entry.id == object_id:
                return commit_id
        return None

    # -- runs -------------------------------------------------------------------------

    def _holding(self, table: Table, folder: str, inner: str) -> dict[str, list[str]]:
        """Content id at ``inner`` -> the runs whose folder artifact at ``folder`` holds it.

        Worked out once per folder and inner path: a history of a thousand versions
        of one file inside a folder asks the same question a thousand times.
        """
        key = (id(table), folder, inner)
        found = self._inside.get(key)
        if found is None:
            found = {}
            for folder_id, run_ids in table[folder].items():
                try:
                    entry = self.entry_in(folder_id, inner)
                except MlvError:
                    continue  # a folder artifact whose tree is not stored
                if entry is not None:
                    found.setdefault(entry.id, []).extend(run_ids)
            self._inside[key] = found
        return found

    def _matching(self, table: Table, path: str, object_id: str, *, parts: bool) -> list[str]:
        """Runs in ``table`` whose artifact is this content: at the same path, or a
        folder holding it; with ``parts``, also a file inside it when it is a folder."""
        found = list(table.get(path, {}).get(object_id, ()))
        names = path.split("/")
        for cut in range(1, len(names)):
            folder = "/".join(names[:cut])
            if folder in table:
                inner = "/".join(names[cut:])
                found += self._holding(table, folder, inner).get(object_id, ())
        if parts:
            prefix = path + "/"
            for inside in [p for p in table if p.startswith(prefix)]:
                try:
                    entry = self.entry_in(object_id, inside[len(prefix) :])
                except MlvError:
                    break  # the folder's tree is not stored
                if entry is not None:
                    found += table[inside].get(entry.id, ())
        return list(dict.fromkeys(found))

    def producer(self, path: str, object_id: str, *, by: str | None = None) -> str | None:
        """The run that wrote this content at ``path`` (or a folder holding it).

        Of several, the newest whose commit is no later than ``by``: the run a commit at
        ``by`` would name, when identical content was written more than once. A run
        that only a later commit carries did not make what ``by`` holds.
        """
        # A run that wrote one file of a folder did not make the folder.
        candidates = self._matching(self.writers, path, object_id, parts=False)
        ordered = sorted(candidates, key=self._age)
        return next((r for r in ordered if self.not_newer(self.run_commit[r], by)), None)

    def consumers(self, path: str, object_id: str, *, folder: bool = False) -> list[str]:
        """The runs that read this content (or, for a ``folder``, files in it), oldest first."""
        found = self._matching(self.readers, path, object_id, parts=folder)
        return sorted(found, key=self._age, reverse=True)

    def _age(self, run_id: str) -> tuple[int, int]:
        """Sort key: newest first (by commit order, then by start time)."""
        return (self.position[self.run_commit[run_id]], -self._started[run_id])
