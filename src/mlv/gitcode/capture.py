"""Capturing the code version: git's HEAD, whether the sources differ from it, and their tree."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlv.gitcode.gitrepo import S_IFLNK, S_IFMT, S_IFREG, find_git, git_head, head_files, prefix_of
from mlv.gitcode.pin import PIN_FILE
from mlv.repo.blobs import save_files
from mlv.repo.ignore import ALWAYS_IGNORED
from mlv.repo.trees import Entry, write_tree
from mlv.repo.worktree import KIND_FILE, KIND_SYMLINK

if TYPE_CHECKING:
    from dulwich.index import IndexEntry

    from mlv.repo.protocols import CodeIndex, Lock, ObjectReader, StageReader
    from mlv.store.objectstore import ObjectStore


@dataclass(frozen=True)
class Source:
    """A git-tracked file under the mlv root, as the git index and the disk know it."""

    path: str  # relative to the mlv root
    entry: IndexEntry
    stat: os.stat_result | None  # None when the file is gone from the working tree

    @property
    def kind(self) -> str:
        return KIND_SYMLINK if (self.entry.mode & S_IFMT) == S_IFLNK else KIND_FILE

    @property
    def git_sha(self) -> str:
        return self.entry.sha.decode("ascii")


def capture(
    root: Path,
    *,
    objects: ObjectReader,
    store: ObjectStore,
    stage: StageReader,
    records: CodeIndex,
    lock: Lock,
) -> dict[str, Any] | None:
    """The code version of the project at ``root``, or None outside a git work tree.

    ``{"git_commit", "branch", "dirty", "tree"}`` (and ``"shallow": True`` in a
    shallow clone): HEAD's commit ("" before the first), its branch ("" when
    detached), whether the captured sources differ from that commit, and the mlv
    tree of the git-tracked files as they are on disk. Files mlv tracks as data,
    and ``mlv.lock``, are not sources.

    The sources' content and tree go into ``store`` under the write lock ``lock``;
    ``records`` remembers each git blob's mlv id, so unchanged files are not read again.
    """
    git = find_git(root)
    if git is None:
        return None
    try:
        head = git_head(git)
        prefix = prefix_of(git, root)
        index = git.open_index()
        index_time = os.stat(index.path).st_mtime_ns if os.path.exists(index.path) else 0
        sources, conflicted = _sources(root, stage, index.items(), prefix)
        committed = _without_data(stage, head_files(git, head.commit, prefix))
    finally:
        git.close()
    with lock:
        tree, changed = _store_sources(root, objects, store, records, sources, index_time)
    staged = {s.path: (s.git_sha, s.entry.mode) for s in sources}
    dirty = conflicted or changed or staged != committed
    code: dict[str, Any] = {
        "git_commit": head.commit,
        "branch": head.branch,
        "dirty": bool(dirty),
        "tree": tree,
    }
    if head.shallow:
        code["shallow"] = True
    return code


def _sources(
    root: Path, stage: StageReader, items: Iterable[tuple[bytes, Any]], prefix: str
) -> tuple[list[Source], bool]:
    """The index's files under the mlv root that are not data; and whether any conflict."""
    start = prefix.encode("utf-8")
    found: dict[str, Any] = {}
    conflicted = False
    for name, entry in items:
        if not name.startswith(start):
            continue
        if not hasattr(entry, "sha"):  # a merge conflict: several stages, no one file
            conflicted = True
            continue
        if (entry.mode & S_IFMT) not in (S_IFREG, S_IFLNK):
            continue
        rel = os.fsdecode(name[len(start) :])
        if rel == PIN_FILE or any(part in ALWAYS_IGNORED for part in rel.split("/")):
            continue
        found[rel] = entry
    data = stage.load_paths(list(found))
    sources = []
    for rel, entry in sorted(found.items()):
        if rel in data:
            continue
        try:
            info: os.stat_result | None = os.lstat(root / rel)
        except (FileNotFoundError, NotADirectoryError):
            info = None
        sources.append(Source(rel, entry, info))
    return sources, conflicted


def _without_data(
    stage: StageReader, files: dict[str, tuple[str, int]]
) -> dict[str, tuple[str, int]]:
    files.pop(PIN_FILE, None)
    data = stage.load_paths(list(files))
    return {
        p: v
        for p, v in files.items()
        if p not in data
        and (v[1] & S_IFMT) in (S_IFREG, S_IFLNK)
        and not any(part in ALWAYS_IGNORED for part in p.split("/"))
    }


def _stat_clean(source: Source, index_time: int) -> bool:
    """Whether the file is as the index recorded it, judged by stat alone, as git does.

    A file changed in the same instant the index was written may show an unchanged
    stat ("racily clean"): such files are read, never trusted.
    """
    info, entry = source.stat, source.entry
    if info is None or info.st_size != entry.size:
        return False
    seconds, nanos = entry.mtime if isinstance(entry.mtime, tuple) else (int(entry.mtime), 0)
    mtime = seconds * 1_000_000_000 + nanos
    if info.st_mtime_ns != mtime and info.st_mtime_ns // 1_000_000_000 * 10**9 != mtime:
        return False
    return info.st_mtime_ns < index_time


def _git_blob_sha(root: os.PathLike[str] | str, source: Source) -> str:
    path = os.path.join(root, source.path)
    data = os.fsencode(os.readlink(path)) if source.kind == KIND_SYMLINK else _read(path)
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _store_sources(
    root: Path,
    objects: ObjectReader,
    store: ObjectStore,
    records: CodeIndex,
    sources: list[Source],
    index_time: int,
) -> tuple[str, bool]:
    """Store the sources' content and their tree; return its id and whether any file
    differs from the index.

    A file whose stat matches the index has the content of the index's blob: its
    mlv id is looked up by that blob id, so unchanged files are never read.
    """
    present = [s for s in sources if s.stat is not None]
    changed = len(present) != len(sources)
    clean = [s for s in present if _stat_clean(s, index_time)]
    clean_set = {s.path for s in clean}
    known = records.code_ids_of([s.git_sha for s in clean])
    ids: dict[str, str] = {}
    todo: list[Source] = []
    for source in present:
        object_id = known.get(source.git_sha) if source.path in clean_set else None
        if object_id is not None and objects.has(object_id):
            ids[source.path] = object_id
        else:
            todo.append(source)
    saved = save_files(store, root, [(s.path, s.kind) for s in todo])
    learned = []
    for source, (object_id, _info) in zip(todo, saved, strict=True):
        ids[source.path] = object_id
        if source.path in clean_set or _git_blob_sha(root, source) == source.git_sha:
            learned.append((source.git_sha, object_id))
        else:
            changed = True
    flat = {
        s.path: Entry(
            s.kind,
            ids[s.path],
            s.stat.st_size,
            s.kind == KIND_FILE and bool(s.stat.st_mode & 0o100),
        )
        for s in present
        if s.stat is not None
    }
    tree = write_tree(store, flat)
    store.flush()
    records.add_code_ids(learned)
    return tree, changed
