"""Parts of a repository: reading objects, resolving revisions, reading the working tree.

``Objects`` is the repository's ``ObjectReader``, ``Revisions`` its
``RevisionResolver`` (see ``mlv.repo.protocols``), ``WorkTree`` what names,
stats and hashes the files under the root.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from mlv.core.paths import lstat_or_none
from mlv.errors import FileChangedError, InvalidArgumentError, MlvError, NotFoundError
from mlv.model.objects import Commit, Tree, TreeEntry
from mlv.model.runs import Env, Reproduction, Run
from mlv.repo import revisions
from mlv.repo.blobs import hash_file, iter_content
from mlv.repo.checkout import Materialiser
from mlv.repo.checkout_journal import clear_leftovers
from mlv.repo.layout import MLV_DIR
from mlv.repo.refs import RefStore
from mlv.repo.results import NoProgress, Progress
from mlv.repo.staging import Staged, as_entry, stat_matches
from mlv.repo.trees import Entry, Flat, TreeReader
from mlv.repo.worktree import FileStat, lstat_file
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_META

# Files are hashed in batches on a few threads: BLAKE3, zstd and file reads all
# release the GIL, so two cores stay busy even on many small files.
HASH_WORKERS = max(2, min(4, os.cpu_count() or 1))
BATCH_FILES = 64
BATCH_BYTES = 32 * 1024 * 1024

T = TypeVar("T")


class Objects:
    """Reads commits, trees, runs and file content from the store, remembering commits
    and trees: histories share most of them."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.trees = TreeReader(store)
        self._commits: dict[str, Commit] = {}

    def has(self, object_id: str) -> bool:
        return self.store.has(object_id)

    def get(self, object_id: str) -> bytes:
        return self.store.get(object_id)

    def prefetch(self, object_ids: Iterable[str]) -> None:
        self.store.prefetch(object_ids)

    def iter_content(self, file_id: str) -> Iterator[bytes]:
        return iter_content(self.store, file_id)

    def read_commit(self, commit_id: str) -> Commit:
        commit = self._commits.get(commit_id)
        if commit is None:
            if not self.store.has(commit_id):
                raise NotFoundError(f"no commit {commit_id} in this repository")
            commit = Commit.from_bytes(self.store.get(commit_id))
            self._commits[commit_id] = commit
        return commit

    def read_run(self, run_id: str) -> Run:
        return Run.from_bytes(self._metadata(run_id, "run"))

    def read_env(self, env_id: str) -> Env:
        return Env.from_bytes(self._metadata(env_id, "environment"))

    def read_reproduction(self, reproduction_id: str) -> Reproduction:
        return Reproduction.from_bytes(self._metadata(reproduction_id, "reproduction"))

    def _metadata(self, object_id: str, what: str) -> bytes:
        if not self.store.has(object_id):
            raise NotFoundError(f"no {what} {object_id} in this repository")
        return self.store.get(object_id)

    def tree(self, tree_id: str) -> Tree:
        return self.trees.tree(tree_id)

    def flatten(self, tree_id: str | None, paths: Iterable[str] | None = None) -> Flat:
        return self.trees.flatten(tree_id, paths)

    def entry_at(self, tree_id: str, path: str) -> TreeEntry | None:
        return self.trees.entry_at(tree_id, path)

    def commits_with_prefix(self, prefix: str) -> list[str]:
        """The ids of the commits that start with ``prefix`` (hex)."""
        low = bytes.fromhex(prefix.ljust(64, "0"))
        high = bytes.fromhex(prefix.ljust(64, "f"))
        rows = self.store.conn.execute(
            "SELECT id FROM objects WHERE id BETWEEN ? AND ? AND kind = ?",
            (low, high, KIND_META),
        ).fetchall()
        found = []
        for (raw,) in rows:
            candidate = raw.hex()
            try:
                self.read_commit(candidate)
            except MlvError:
                continue  # a tree or another metadata object
            found.append(candidate)
        return found


class Revisions:
    """Names commits: ``HEAD~2``, ``main``, ``v1``, ``3fa9``, … (``mlv.repo.revisions``)."""

    def __init__(self, objects: Objects, refs: RefStore) -> None:
        self.objects = objects
        self.refs = refs

    def resolve(self, rev: str) -> str:
        """The commit id a revision names."""
        return revisions.resolve(self, rev)

    # What ``revisions.resolve`` reads, besides the refs.
    def read_commit(self, commit_id: str) -> Commit:
        return self.objects.read_commit(commit_id)

    def commits_with_prefix(self, prefix: str) -> list[str]:
        return self.objects.commits_with_prefix(prefix)

    def flat_tree(self, rev: str, paths: Iterable[str] | None = None) -> Flat:
        """The files and symlinks of ``rev``, by path; only under ``paths`` if given."""
        return self.objects.flatten(self.read_commit(self.resolve(rev)).tree, paths)

    def head_flat(self, paths: Iterable[str] | None = None) -> Flat:
        """HEAD's files and symlinks ({} before the first commit)."""
        head = self.refs.head().commit
        return self.objects.flatten(self.read_commit(head).tree if head else None, paths)


class WorkTree:
    """The files under the repository root: naming, stat-ing and hashing them, and what
    writes tree content back (``materialiser``)."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.tmp = tmp

    def relpath(self, path: str | os.PathLike[str]) -> str:
        """A path as the repository names it: POSIX, relative to the root.

        Inside the repository, a path is taken as written (``..`` folded lexically)
        and never through a symlink: `d/x` with `d -> e` is refused, as git does,
        rather than acted on as `e/x`. A symlink named itself is a tracked path.
        """
        given = Path(path)
        full = os.path.normpath(given if given.is_absolute() else self.root / given)
        rel = _inside(full, self.root)
        if rel is None:
            # Perhaps reached through a symlink above the repository (/tmp -> /private/tmp).
            head, name = os.path.split(full)
            rel = _inside(os.path.join(os.path.realpath(head), name), self.root)
        if rel is None:
            raise InvalidArgumentError(f"{path} is outside the repository {self.root}")
        first = rel.split("/")[0]
        if first in (MLV_DIR, ".git"):
            raise InvalidArgumentError(f"{path} is inside {first}, which mlv never tracks")
        current = self.root
        for part in rel.split("/")[:-1] if rel else []:
            current = current / part
            st = lstat_or_none(current)
            if st is not None and stat.S_ISLNK(st.st_mode):
                raise InvalidArgumentError(
                    f"{rel} lies beyond a symlink ({current.relative_to(self.root)}); "
                    "name the path it leads to"
                )
        return rel

    def materialiser(self, store: ObjectStore) -> Materialiser:
        """What writes tree content into the working tree; the caller holds the write lock.

        Its journals go to `.mlv/tmp`; what a killed checkout left goes first.
        """
        clear_leftovers(self.root, self.tmp)
        return Materialiser(self.root, store, self.tmp)

    def stat_paths(self, paths: Iterable[str]) -> dict[str, FileStat]:
        """The stat of each path that exists as a file or symlink, reached through real
        folders only: what a symlinked folder leads to is another path's content."""
        found: dict[str, FileStat] = {}
        real: dict[str, bool] = {"": True}

        def is_real_folder(folder: str) -> bool:
            known = real.get(folder)
            if known is None:
                parent = folder.rpartition("/")[0]
                st = lstat_or_none(self.root / folder) if is_real_folder(parent) else None
                known = real[folder] = st is not None and stat.S_ISDIR(st.st_mode)
            return known

        for path in paths:
            if not is_real_folder(path.rpartition("/")[0]):
                continue
            info = lstat_file(self.root / path)
            if info is not None:
                found[path] = info
        return found

    def parallel(
        self,
        items: list[tuple[str, FileStat]],
        work: Callable[[list[tuple[str, FileStat]], Callable[[int], None]], list[T]],
        progress: Progress,
    ) -> list[T]:
        """Run ``work`` over batches of (path, stat) items on the hashing threads, in order.

        ``work`` gets each batch and the function to report bytes done to ``progress``.
        """
        batches: list[list[tuple[str, FileStat]]] = [[]]
        size = 0
        for item in items:
            if len(batches[-1]) >= BATCH_FILES or size >= BATCH_BYTES:
                batches.append([])
                size = 0
            batches[-1].append(item)
            size += item[1].size

        def run(batch: list[tuple[str, FileStat]]) -> list[T]:
            return work(batch, progress.advance)

        if len(batches) == 1:
            return run(batches[0])
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(HASH_WORKERS) as pool:
            return [r for rs in pool.map(run, batches) for r in rs]

    def hash_files(
        self, items: list[tuple[str, FileStat]], problems: dict[str, str]
    ) -> list[tuple[str, FileStat] | None]:
        """(id, fresh stat) of working tree files, without storing them.

        A file that cannot be read (gone, unreadable, no longer a file) gets None,
        and why in ``problems``: one such file must not stop the rest.
        """

        def hash_one(path: str, info: FileStat) -> tuple[str, FileStat] | None:
            try:
                return hash_file(self.root / path, info.kind)
            except (OSError, FileChangedError) as exc:
                problems[path] = f"cannot read {path}: {describe_error(exc)}"
                return None

        return self.parallel(
            items, lambda batch, _advance: [hash_one(p, info) for p, info in batch], NoProgress()
        )

    def content_on_disk(self, found: dict[str, FileStat], staged: dict[str, Staged]) -> Flat:
        """What each found file holds: the staged entry where the stat cache vouches for
        it, else the hash of its content (without storing it).

        A file that cannot be read is given an empty id: it matches no content, so
        whatever would replace it counts as replacing work mlv does not hold.
        """
        flat: Flat = {}
        suspects = []
        for path, info in found.items():
            known = staged.get(path)
            if known is not None and stat_matches(known, info):
                flat[path] = as_entry(known)
            else:
                suspects.append((path, info))
        hashed = self.hash_files(suspects, {})
        for (path, seen), result in zip(suspects, hashed, strict=True):
            object_id, info = result if result is not None else ("", seen)
            flat[path] = Entry(info.kind, object_id, info.size, info.executable)
        return flat


def _inside(full: str, root: Path) -> str | None:
    """``full`` relative to ``root`` as POSIX ("" for the root), or None if outside."""
    base = str(root)
    if full == base:
        return ""
    if full.startswith(base.rstrip("/") + "/"):
        return Path(full[len(base.rstrip("/")) + 1 :]).as_posix()
    return None


def describe_error(exc: BaseException) -> str:
    """An OS error as a reader wants it: its plain reason, not its repr."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
