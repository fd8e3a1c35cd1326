"""``fsck``: verify every object against its id and everything reachable from every ref."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from mlv.core.paths import check_symlink_target
from mlv.errors import MlvError, UnsafePathError
from mlv.model.objects import KIND_DIR, FileManifest
from mlv.model.runs import ARTIFACT_DIR
from mlv.model.tables import Profile, ProfileMap
from mlv.repo import notes
from mlv.repo.blobs import iter_content, read_content
from mlv.repo.refs import HEADS, NOTES, REMOTES, TAGS
from mlv.repo.results import FsckReport, Problem, Progress
from mlv.repo.worktree import KIND_SYMLINK
from mlv.store.pack import KIND_MANIFEST, finished_packs, orphaned_tmp_packs
from mlv.store.sqlite import REBUILD_HINT

if TYPE_CHECKING:
    from mlv.repo.repository import Repo


def check_repository(repo: Repo, progress: Progress) -> FsckReport:
    checker = _Checker(repo)
    checker.check_index()
    total = repo.store.index.count()
    progress.start(total, "checking objects")
    for damage in repo.store.verify_all():
        checker.problems.append(Problem(damage.object_id, damage.pack, damage.problem))
        checker.damaged.add(damage.object_id)
    progress.advance(total)
    progress.finish()
    checker.walk(_ref_starts(repo, checker.problems))
    checker.notes()
    notes = _notes(repo)
    if checker.not_fetched:
        notes.append(
            f"{len(checker.not_fetched)} file(s) not fetched: this is a partial clone, "
            "and their content stays on its remote until a command reads it"
        )
    return FsckReport(total, len(checker.seen_commits), checker.problems, notes)


def _ref_starts(repo: Repo, problems: list[Problem]) -> dict[str, str]:
    """The commit each readable ref names, by ref; whatever the ref store refuses to read
    (a bad HEAD, a hostile name, a symlink, a pipe) is a problem."""
    problems.extend(Problem("", where, message) for where, message in repo.refs.damage())
    starts: dict[str, str] = {}
    with contextlib.suppress(MlvError):
        head = repo.refs.head()
        if head.commit:
            starts["HEAD"] = head.commit
    for prefix in (HEADS, TAGS, REMOTES):
        for short, commit_id in repo.refs.list(prefix, skip_damaged=True).items():
            starts[prefix + short] = commit_id
    return starts


def _notes(repo: Repo) -> list[str]:
    """What is worth knowing about the packs folder but is not damage."""
    notes = []
    leftovers = orphaned_tmp_packs(repo.store.packs_dir)
    if leftovers:
        size = sum(n for _, n in leftovers)
        notes.append(
            f"{len(leftovers)} temporary pack(s) ({size} bytes) left by interrupted writes: "
            "nothing refers to them; the next write (or 'mlv index rebuild') removes them"
        )
    indexed = set(repo.store.index.pack_names())
    unindexed = [p for p in finished_packs(repo.store.packs_dir) if p.name not in indexed]
    if unindexed:
        notes.append(
            f"{len(unindexed)} finished pack(s) are not in the index (a write stopped before "
            "indexing them); 'mlv index rebuild' indexes them"
        )
    return notes


class _Checker:
    """Walks what the refs reach, each object once, and collects the problems found."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.store = repo.store
        self.problems: list[Problem] = []
        self.damaged: set[str] = set()  # ids that failed verification of their bytes
        self.seen_commits: set[str] = set()
        self.seen_trees: set[str] = set()
        self.seen_runs: set[str] = set()
        self.seen_profiles: set[str] = set()
        self.not_fetched: set[str] = set()
        # file id -> the length of its content, or None when it cannot be known
        self.sizes: dict[str, int | None] = {}

    def check_index(self) -> None:
        """SQLite's own check of ``index.db``, pages and indexes (not the rows' meaning)."""
        try:
            rows = self.store.conn.execute("PRAGMA quick_check").fetchall()
        except MlvError as exc:
            self.problems.append(Problem("", "index.db", str(exc)))
            return
        found = [str(r[0]) for r in rows if r[0] != "ok"]
        if found:
            detail = found[0] + (f" and {len(found) - 1} more" if len(found) > 1 else "")
            self.problems.append(
                Problem("", "index.db", f"the index is damaged ({detail}); {REBUILD_HINT}")
            )

    def walk(self, starts: dict[str, str]) -> None:
        stack = [(commit_id, ref) for ref, commit_id in starts.items()]
        while stack:
            commit_id, where = stack.pop()
            if commit_id in self.seen_commits:
                continue
            self.seen_commits.add(commit_id)
            try:
                commit = self.repo.read_commit(commit_id)
            except MlvError as exc:
                if commit_id not in self.damaged:
                    self._problem(commit_id, f"commit reachable from {where}", str(exc))
                continue
            stack.extend((p, f"{where} (parent of {commit_id[:12]})") for p in commit.parents)
            self.tree(commit.tree, f"tree of commit {commit_id[:12]}")
            if commit.profiles is not None:
                self.profile_map(commit.profiles, commit_id)
            for run_id in commit.runs:
                if run_id not in self.seen_runs:
                    self.seen_runs.add(run_id)
                    self.run(run_id, commit_id)

    def notes(self) -> None:
        """Every notes chain must read to its end, and every reproduction it names must
        read, with its environment, the commit it reproduced and that commit's history."""
        for short, start in self.repo.refs.list(NOTES, skip_damaged=True).items():
            ref = NOTES + short
            try:
                for notes_id, entry in notes.walk(self.store, start):
                    for record in entry.records:
                        self.reproduction(record, notes_id, ref)
            except MlvError as exc:
                self._problem("", ref, f"the chain cannot be read to its end: {exc}")

    def reproduction(self, rep_id: str, notes_id: str, ref: str) -> None:
        try:
            rep = self.repo.read_reproduction(rep_id)
        except MlvError as exc:
            if rep_id not in self.damaged:
                self._problem(rep_id, f"record of notes {notes_id[:12]} ({ref})", str(exc))
            return
        try:
            self.repo.read_env(rep.env)
        except MlvError as exc:
            if rep.env not in self.damaged:
                self._problem(rep.env, f"environment of reproduction {rep_id[:12]}", str(exc))
        self.walk({f"reproduction {rep_id[:12]}": rep.commit})
        for run_id in rep.runs:
            if run_id not in self.seen_runs:
                self.seen_runs.add(run_id)
                self.run(run_id, rep.commit)

    def run(self, run_id: str, commit_id: str) -> None:
        """A run must be readable, and so must its environment and everything it read and
        wrote: reproducing it needs them all."""
        try:
            run = self.repo.read_run(run_id)
        except MlvError as exc:
            if run_id not in self.damaged:
                self._problem(run_id, f"run of commit {commit_id[:12]}", str(exc))
            return
        try:
            self.repo.read_env(run.env)
        except MlvError as exc:
            if run.env not in self.damaged:
                self._problem(run.env, f"environment of run {run.name}", str(exc))
        for path, artifact in sorted({**run.inputs(), **run.outs}.items()):
            if artifact.kind == ARTIFACT_DIR:
                self.tree(artifact.id, f"folder {path}/ of run {run.name}")
            else:
                self.file(artifact.id, f"{path} of run {run.name}", artifact.size, "the run")

    def tree(self, tree_id: str, where: str) -> None:
        stack = [(tree_id, where, "")]
        while stack:
            current, place, prefix = stack.pop()
            if current in self.seen_trees:
                continue
            self.seen_trees.add(current)
            try:
                tree = self.repo.trees.tree(current)
            except MlvError as exc:
                if current not in self.damaged:
                    self._problem(current, place, str(exc))
                continue
            for entry in tree.entries:
                path = prefix + entry.name
                if entry.kind == KIND_DIR:
                    stack.append((entry.id, f"folder {path}/", path + "/"))
                    continue
                if entry.kind == KIND_SYMLINK and entry.id not in self.damaged:
                    self.symlink(entry.id, path)
                self.file(entry.id, path, entry.size, "its tree entry")
                if entry.profile and entry.profile not in self.seen_profiles:
                    self.seen_profiles.add(entry.profile)
                    self.profile(entry.profile, path)

    def file(self, file_id: str, path: str, size: int, whose: str) -> None:
        """Check a file's content once, and every size recorded for it."""
        if file_id not in self.sizes:
            self.sizes[file_id] = self._check_content(file_id, path)
        real = self.sizes[file_id]
        if real is not None and real != size:
            self._problem(
                file_id, f"file {path}", f"{whose} says {size} bytes but its content has {real}"
            )

    def _check_content(self, file_id: str, path: str) -> int | None:
        """Whether the content is whole; its length when it is known without a full read."""
        store = self.store
        kind = store.kind_of(file_id)
        if kind is None:
            if store.content_source is not None:
                self.not_fetched.add(file_id)  # a partial clone: on its remote, not lost
            else:
                self._problem(file_id, f"file {path}", "missing from the store")
            return None
        if file_id in self.damaged:
            return None
        try:
            if kind != KIND_MANIFEST:
                # Verified with every object already; its header states its length.
                return store.raw_length(file_id)
            manifest = FileManifest.from_bytes(store.get(file_id))
            missing = [c for c, _ in manifest.chunks if not store.has(c)]
            if missing:
                self._problem(
                    file_id, f"file {path}", f"{len(missing)} chunk(s) missing, e.g. {missing[0]}"
                )
                return manifest.size
            if any(c in self.damaged for c, _ in manifest.chunks):
                self._problem(file_id, f"file {path}", "one of its chunks is damaged")
                return manifest.size
            for _ in iter_content(store, file_id):
                pass
            return manifest.size
        except MlvError as exc:
            self._problem(file_id, f"file {path}", str(exc))
            return None

    def symlink(self, target_id: str, path: str) -> None:
        """A symlink that checkout would refuse to write is damage too."""
        try:
            check_symlink_target(path, os.fsdecode(read_content(self.store, target_id)))
        except UnsafePathError as exc:
            self._problem(target_id, f"symlink {path}", str(exc))
        except MlvError:
            pass  # a missing or damaged target is reported with the files

    def profile_map(self, map_id: str, commit_id: str) -> None:
        """A commit's profile map must read, and so must every profile it names."""
        where = f"profile map of commit {commit_id[:12]}"
        try:
            profile_map = ProfileMap.from_bytes(self.store.get(map_id))
        except MlvError as exc:
            if map_id not in self.damaged:
                self._problem(map_id, where, str(exc))
            return
        for content_id, profile_id in sorted(profile_map.profiles.items()):
            if profile_id not in self.seen_profiles:
                self.seen_profiles.add(profile_id)
                self.profile(profile_id, f"content {content_id[:12]} ({where})")

    def profile(self, profile_id: str, path: str) -> None:
        if not self.store.has(profile_id):
            self._problem(profile_id, f"profile of {path}", "missing from the store")
        elif profile_id not in self.damaged:  # damaged bytes were reported with every object
            try:
                Profile.from_bytes(self.store.get(profile_id))
            except MlvError as exc:
                self._problem(profile_id, f"profile of {path}", str(exc))

    def _problem(self, object_id: str, where: str, problem: str) -> None:
        self.problems.append(Problem(object_id, where, problem))
