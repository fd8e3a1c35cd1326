"""``fsck``: verify every object against its id and everything reachable from every ref."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from mlv.errors import MlvError, UnsafePathError
from mlv.model.objects import KIND_DIR, FileManifest
from mlv.model.runs import ARTIFACT_DIR
from mlv.model.tables import Profile
from mlv.repo.blobs import iter_content, read_content
from mlv.repo.checkout import check_symlink_target
from mlv.repo.refs import HEADS, TAGS
from mlv.repo.results import FsckReport, Problem, Progress
from mlv.repo.worktree import KIND_SYMLINK
from mlv.store.pack import KIND_MANIFEST

if TYPE_CHECKING:
    from mlv.repo.repository import Repo


def check_repository(repo: Repo, progress: Progress) -> FsckReport:
    store = repo.store
    problems: list[Problem] = []
    total = store.index.count()
    progress.start(total, "checking objects")
    damaged: set[str] = set()
    for damage in store.verify_all():
        problems.append(Problem(damage.object_id, damage.pack, damage.problem))
        damaged.add(damage.object_id)
    progress.advance(total)
    progress.finish()

    starts: dict[str, str] = {}
    try:
        head = repo.refs.head()
        if head.commit:
            starts["HEAD"] = head.commit
    except MlvError as exc:
        problems.append(Problem("", "HEAD", str(exc)))
    for prefix in (HEADS, TAGS):
        for short in _ref_names(repo, prefix):
            try:
                commit_id = repo.refs.read(prefix + short)
            except MlvError as exc:
                problems.append(Problem("", prefix + short, str(exc)))
                continue
            if commit_id:
                starts[prefix + short] = commit_id

    seen_commits: set[str] = set()
    seen_trees: set[str] = set()
    seen_files: set[str] = set()
    seen_runs: set[str] = set()
    stack = [(commit_id, ref) for ref, commit_id in starts.items()]
    while stack:
        commit_id, where = stack.pop()
        if commit_id in seen_commits:
            continue
        seen_commits.add(commit_id)
        try:
            commit = repo.read_commit(commit_id)
        except MlvError as exc:
            if commit_id not in damaged:
                problems.append(Problem(commit_id, f"commit reachable from {where}", str(exc)))
            continue
        stack.extend((p, f"{where} (parent of {commit_id[:12]})") for p in commit.parents)
        _check_tree(
            repo,
            commit.tree,
            f"tree of commit {commit_id[:12]}",
            seen_trees,
            seen_files,
            damaged,
            problems,
        )
        for run_id in commit.runs:
            if run_id not in seen_runs:
                seen_runs.add(run_id)
                _check_run(repo, run_id, commit_id, seen_trees, seen_files, damaged, problems)
    return FsckReport(total, len(seen_commits), problems)


def _check_run(repo, run_id, commit_id, seen_trees, seen_files, damaged, problems) -> None:  # type: ignore[no-untyped-def]
    """A run must be readable, and so must its environment and everything it read and
    wrote: reproducing it needs them all."""
    where = f"run of commit {commit_id[:12]}"
    try:
        run = repo.read_run(run_id)
    except MlvError as exc:
        if run_id not in damaged:
            problems.append(Problem(run_id, where, str(exc)))
        return
    try:
        repo.read_env(run.env)
    except MlvError as exc:
        if run.env not in damaged:
            problems.append(Problem(run.env, f"environment of run {run.name}", str(exc)))
    for path, artifact in sorted({**run.inputs(), **run.outs}.items()):
        if artifact.kind == ARTIFACT_DIR:
            place = f"folder {path}/ of run {run.name}"
            _check_tree(repo, artifact.id, place, seen_trees, seen_files, damaged, problems)
        elif artifact.id not in seen_files:
            seen_files.add(artifact.id)
            _check_file(repo, artifact.id, f"{path} of run {run.name}", damaged, problems)


def _ref_names(repo: Repo, prefix: str) -> list[str]:
    base = repo.layout.mlv / prefix
    if not base.is_dir():
        return []
    return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())


def _check_tree(repo, tree_id, where, seen_trees, seen_files, damaged, problems) -> None:  # type: ignore[no-untyped-def]
    stack = [(tree_id, where, "")]
    while stack:
        current, place, prefix = stack.pop()
        if current in seen_trees:
            continue
        seen_trees.add(current)
        try:
            tree = repo.trees.tree(current)
        except MlvError as exc:
            if current not in damaged:
                problems.append(Problem(current, place, str(exc)))
            continue
        for entry in tree.entries:
            path = prefix + entry.name
            if entry.kind == KIND_DIR:
                stack.append((entry.id, f"folder {path}/", path + "/"))
                continue
            if entry.kind == KIND_SYMLINK and entry.id not in damaged:
                _check_symlink(repo, entry.id, path, problems)
            if entry.id not in seen_files:
                seen_files.add(entry.id)
                _check_file(repo, entry.id, path, damaged, problems)
            if entry.profile and entry.profile not in seen_files:
                seen_files.add(entry.profile)
                _check_profile(repo, entry.profile, path, damaged, problems)


def _check_symlink(repo, target_id, path, problems) -> None:  # type: ignore[no-untyped-def]
    """A symlink that checkout would refuse to write is damage too."""
    try:
        check_symlink_target(path, os.fsdecode(read_content(repo.store, target_id)))
    except UnsafePathError as exc:
        problems.append(Problem(target_id, f"symlink {path}", str(exc)))
    except MlvError:
        pass  # a missing or damaged target is reported with the files


def _check_profile(repo, profile_id, path, damaged, problems) -> None:  # type: ignore[no-untyped-def]
    if not repo.store.has(profile_id):
        problems.append(Problem(profile_id, f"profile of {path}", "missing from the store"))
    elif profile_id not in damaged:  # damaged bytes were reported with every object
        try:
            Profile.from_bytes(repo.store.get(profile_id))
        except MlvError as exc:
            problems.append(Problem(profile_id, f"profile of {path}", str(exc)))


def _check_file(repo, file_id, path, damaged, problems) -> None:  # type: ignore[no-untyped-def]
    store = repo.store
    kind = store.kind_of(file_id)
    if kind is None:
        problems.append(Problem(file_id, f"file {path}", "missing from the store"))
        return
    if file_id in damaged:
        return
    if kind != KIND_MANIFEST:
        return  # a one-chunk file was verified with every object
    try:
        manifest = FileManifest.from_bytes(store.get(file_id))
        missing = [c for c, _ in manifest.chunks if not store.has(c)]
        if missing:
            problems.append(
                Problem(
                    file_id, f"file {path}", f"{len(missing)} chunk(s) missing, e.g. {missing[0]}"
                )
            )
            return
        if any(c in damaged for c, _ in manifest.chunks):
            problems.append(Problem(file_id, f"file {path}", "one of its chunks is damaged"))
            return
        for _ in iter_content(store, file_id):
            pass
    except MlvError as exc:
        problems.append(Problem(file_id, f"file {path}", str(exc)))
