"""``mlv.Repo``: the public Python API. Every CLI command is one call into this class."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from mlv.errors import (
    InvalidArgumentError,
    MergeConflictError,
    NotARepositoryError,
    NotFoundError,
    NothingToCommitError,
    UncommittedChangesError,
)
from mlv.model.objects import KIND_DIR, Commit, Person
from mlv.repo import history, revisions
from mlv.repo.blobs import hash_file, iter_content, save_files
from mlv.repo.checkout import Materialiser
from mlv.repo.config import Config
from mlv.repo.database import open_database
from mlv.repo.diff import Change, diff_flat, diff_trees, same
from mlv.repo.ignore import IgnoreRules
from mlv.repo.layout import DEFAULT_BRANCH, MLV_DIR, Layout, find_root
from mlv.repo.locking import DEFAULT_LOCK_TIMEOUT, RepoLock
from mlv.repo.merge import three_way
from mlv.repo.refs import HEADS, TAGS, RefStore, check_ref_name
from mlv.repo.results import (
    AddResult,
    CheckoutResult,
    CommitDetails,
    LogEntry,
    MergeResult,
    NoProgress,
    Progress,
    Status,
)
from mlv.repo.staging import Staged, StagingArea, trusted_mtime
from mlv.repo.trees import Entry, Flat, TreeReader, write_tree
from mlv.repo.worktree import FileStat, scan, under
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_META

# Files are hashed in batches on a few threads: BLAKE3, zstd and file reads all
# release the GIL, so two cores stay busy even on many small files.
HASH_WORKERS = max(2, min(4, os.cpu_count() or 1))
BATCH_FILES = 64
BATCH_BYTES = 32 * 1024 * 1024


class Repo:
    """A repository: a working tree with a ``.mlv`` folder at its root.

    Paths given to methods are relative to the repository root, or absolute.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ".",
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        on_lock_wait: Callable[[str], None] | None = None,
    ) -> None:
        root = find_root(Path(path))
        if root is None:
            raise NotARepositoryError(
                f"not an mlv repository (or any parent up to /): {Path(path).resolve()}; "
                "run 'mlv init' first"
            )
        self.root = root
        self.layout = Layout(root)
        self.config = Config.load(self.layout.config)
        self._conn = open_database(self.layout.index_db)
        self.store = ObjectStore(
            self.layout.packs, self._conn, compression_level=self.config.compression_level
        )
        self.staging = StagingArea(self._conn)
        self.refs = RefStore(self.layout)
        self.trees = TreeReader(self.store)
        self.lock = RepoLock(self.layout.lock, lock_timeout, on_lock_wait)
        self._commits: dict[str, Commit] = {}

    # -- setting up -------------------------------------------------------------

    @classmethod
    def init(cls, path: str | os.PathLike[str] = ".", *, branch: str = DEFAULT_BRANCH) -> Repo:
        """Create a repository in ``path`` (created if missing) and open it."""
        root = Path(path).resolve()
        layout = Layout(root)
        if layout.head.exists():
            raise InvalidArgumentError(f"{root} is already an mlv repository")
        check_ref_name(branch)
        if root.exists() and not root.is_dir():
            raise InvalidArgumentError(f"{root} is a file: name a folder for the repository")
        root.mkdir(parents=True, exist_ok=True)
        layout.mlv.mkdir(exist_ok=True)
        for folder in (layout.refs / "heads", layout.refs / "tags", layout.packs, layout.logs):
            folder.mkdir(parents=True, exist_ok=True)
        Config.default().save(layout.config)
        # Everything but the config stays out of git: data lives in mlv's own store.
        (layout.mlv / ".gitignore").write_text("/*\n!/.gitignore\n!/config.toml\n")
        open_database(layout.index_db).close()
        RefStore(layout).set_head_ref(HEADS + branch)
        return cls(root)

    def close(self) -> None:
        self.store.close()
        self._conn.close()

    def __enter__(self) -> Repo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Repo({str(self.root)!r})"

    # -- paths ------------------------------------------------------------------

    def relpath(self, path: str | os.PathLike[str]) -> str:
        """A path as the repository names it: POSIX, relative to the root."""
        p = Path(path)
        full = p if p.is_absolute() else self.root / p
        # Resolve the folder part only: a symlink named by the user is itself tracked.
        full = (
            full.parent.resolve() / full.name
            if full.name not in ("", ".", "..")
            else (full.resolve())
        )
        try:
            rel = full.relative_to(self.root).as_posix()
        except ValueError:
            raise InvalidArgumentError(f"{path} is outside the repository {self.root}") from None
        rel = "" if rel == "." else rel
        first = rel.split("/")[0]
        if first in (MLV_DIR, ".git"):
            raise InvalidArgumentError(f"{path} is inside {first}, which mlv never tracks")
        return rel

    # -- objects ----------------------------------------------------------------

    def read_commit(self, commit_id: str) -> Commit:
        commit = self._commits.get(commit_id)
        if commit is None:
            if not self.store.has(commit_id):
                raise NotFoundError(f"no commit {commit_id} in this repository")
            commit = Commit.from_bytes(self.store.get(commit_id))
            self._commits[commit_id] = commit
        return commit

    def commits_with_prefix(self, prefix: str) -> list[str]:
        low = bytes.fromhex(prefix.ljust(64, "0"))
        high = bytes.fromhex(prefix.ljust(64, "f"))
        rows = self._conn.execute(
            "SELECT id FROM objects WHERE id BETWEEN ? AND ? AND kind = ?",
            (low, high, KIND_META),
        ).fetchall()
        found = []
        for (raw,) in rows:
            candidate = raw.hex()
            try:
                self.read_commit(candidate)
            except Exception:
                continue  # a tree or another metadata object
            found.append(candidate)
        return found

    def resolve(self, rev: str) -> str:
        """The commit id a revision names (``HEAD~2``, ``main``, ``v1``, ``3fa9``, …)."""
        return revisions.resolve(self, rev)

    def flat_tree(self, rev: str, paths: Iterable[str] | None = None) -> Flat:
        commit = self.read_commit(self.resolve(rev))
        return self.trees.flatten(commit.tree, paths)

    def _head_flat(self, paths: Iterable[str] | None = None) -> Flat:
        head = self.refs.head().commit
        return self.trees.flatten(self.read_commit(head).tree if head else None, paths)

    # -- tracking ---------------------------------------------------------------

    def add(
        self, paths: Iterable[str | os.PathLike[str]], *, progress: Progress | None = None
    ) -> AddResult:
        """Stage files and folders: store new content, record deletions under the paths."""
        progress = progress or NoProgress()
        result = AddResult()
        with self.lock:
            staged = self.staging.load()
            rels = self._existing_or_tracked([self.relpath(p) for p in paths], staged)
            found = scan(self.root, rels, IgnoreRules.load(self.root))
            result.warnings.extend(found.warnings)
            todo = [
                (path, info)
                for path, info in found.files.items()
                if not _stat_matches(staged.get(path), info)
            ]
            result.unchanged = len(found.files) - len(todo)
            deletions = sorted(p for p in staged if under(p, rels) and p not in found.files)
            progress.start(sum(info.size for _, info in todo), "adding")
            saved = self._parallel(
                todo,
                lambda batch: save_files(self.store, self.root, [(p, i.kind) for p, i in batch]),
                progress,
            )
            self.store.flush()
            upserts = []
            for (path, _info), (object_id, info) in zip(todo, saved, strict=True):
                before = staged.get(path)
                entry = _staged_from(object_id, info)
                if before is None:
                    result.added.append(path)
                elif not before.same_content(entry):
                    result.modified.append(path)
                result.bytes_read += info.size
                upserts.append((path, entry))
            if upserts or deletions:
                changed = set(result.added) | set(result.modified)
                known = self.staging.known_tree() if not changed and not deletions else None
                self.staging.apply(upserts, deletions, tree_id=known)
            result.removed = deletions
            progress.finish()
        result.added.sort()
        result.modified.sort()
        return result

    def _existing_or_tracked(self, rels: list[str], staged: dict[str, Staged]) -> list[str]:
        for rel in rels:
            if not os.path.lexists(self.root / rel) and not any(under(p, [rel]) for p in staged):
                raise NotFoundError(f"path {rel or '.'} matches no file; check the spelling")
        return rels

    def _parallel(
        self,
        items: list[tuple[str, FileStat]],
        work: Callable[[list[tuple[str, FileStat]]], list[tuple[str, FileStat]]],
        progress: Progress,
    ) -> list[tuple[str, FileStat]]:
        """Run ``work`` over batches of (path, stat) items on the hashing threads, in order."""
        batches: list[list[tuple[str, FileStat]]] = [[]]
        size = 0
        for item in items:
            if len(batches[-1]) >= BATCH_FILES or size >= BATCH_BYTES:
                batches.append([])
                size = 0
            batches[-1].append(item)
            size += item[1].size

        def run(batch: list[tuple[str, FileStat]]) -> list[tuple[str, FileStat]]:
            done = work(batch)
            progress.advance(sum(info.size for _, info in batch))
            return done

        if len(batches) == 1:
            return run(batches[0])
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(HASH_WORKERS) as pool:
            return [r for rs in pool.map(run, batches) for r in rs]

    def _hash_files(self, items: list[tuple[str, FileStat]]) -> list[tuple[str, FileStat]]:
        """(id, fresh stat) of working tree files, without storing them."""
        return self._parallel(
            items,
            lambda batch: [hash_file(self.root / p, info.kind) for p, info in batch],
            NoProgress(),
        )

    def rm(
        self, paths: Iterable[str | os.PathLike[str]], *, cached: bool = False, force: bool = False
    ) -> list[str]:
        """Stop tracking paths; delete the files too unless ``cached``.

        A file whose content differs from what is committed or staged is kept on
        disk unless ``force``: mlv never deletes work it does not hold.
        """
        with self.lock:
            staged = self.staging.load()
            rels = [self.relpath(p) for p in paths]
            targets = sorted(p for p in staged if under(p, rels))
            for rel in rels:
                if not any(under(p, [rel]) for p in targets):
                    raise NotFoundError(f"path {rel or '.'} is not tracked; see 'mlv status'")
            if not cached and not force:
                dirty = self._dirty_paths(targets, staged)
                head = self._head_flat(targets)
                dirty += [
                    p for p in targets if p not in head or not same(head[p], _entry(staged[p]))
                ]
                if dirty:
                    raise UncommittedChangesError(
                        f"{len(set(dirty))} file(s) have changes that are not committed, "
                        f"e.g. {sorted(set(dirty))[0]}; commit them, or use --cached or --force"
                    )
            if not cached:
                Materialiser(self.root, self.store).apply({}, targets)
            self.staging.apply(deletes=targets)
            return targets

    def status(self) -> Status:
        """What is staged against HEAD, and what the working tree changed against the stage."""
        head = self.refs.head()
        staged = self.staging.load()
        head_tree = self.read_commit(head.commit).tree if head.commit else None
        if head_tree is not None and self.staging.known_tree() == head_tree:
            staged_changes: list[Change] = []
        else:
            staged_changes = diff_flat(
                self.trees.flatten(head_tree), {p: _entry(s) for p, s in staged.items()}
            )
        roots = sorted({p.split("/", 1)[0] for p in staged})
        found = scan(self.root, roots, IgnoreRules.load(self.root))
        modified, refresh = self._compare_with_stage(found.files, staged)
        if refresh:
            self.staging.refresh_stats(refresh)
        return Status(
            branch=head.branch,
            head=head.commit,
            staged=staged_changes,
            modified=modified,
            deleted=sorted(p for p in staged if p not in found.files),
            untracked=sorted(p for p in found.files if p not in staged),
            warnings=found.warnings,
        )

    def _compare_with_stage(
        self, files: dict[str, FileStat], staged: dict[str, Staged]
    ) -> tuple[list[str], list[tuple[str, str, int, int]]]:
        """Modified paths, and fresh stats for files whose content proved unchanged."""
        suspects = [
            (path, info)
            for path, info in files.items()
            if (s := staged.get(path)) is not None and not _stat_matches(s, info)
        ]
        modified: list[str] = []
        refresh: list[tuple[str, str, int, int]] = []
        hashed = self._hash_files(suspects)
        for (path, _info), (object_id, info) in zip(suspects, hashed, strict=True):
            before = staged[path]
            if before.same_content(_staged_from(object_id, info)):
                mtime = trusted_mtime(info.mtime_ns)
                if mtime != -1:
                    refresh.append((path, object_id, mtime, info.ino))
            else:
                modified.append(path)
        return sorted(modified), refresh

    def _dirty_paths(self, paths: Iterable[str], staged: dict[str, Staged]) -> list[str]:
        """Tracked paths whose working tree file differs from the stage (deleted ones aside)."""
        files = {}
        for path in paths:
            try:
                info = _lstat(self.root / path)
            except FileNotFoundError:
                continue
            if info is not None:
                files[path] = info
        modified, _ = self._compare_with_stage(files, staged)
        return modified

    def commit(
        self,
        message: str,
        *,
        author: Person | None = None,
        allow_empty: bool = False,
        when: datetime | None = None,
        extra_parents: Iterable[str] = (),
    ) -> str:
        """Record the staging area as a new commit on the current branch; return its id."""
        from mlv.repo.identity import default_author

        if not message.strip():
            raise InvalidArgumentError("a commit needs a message: use -m MESSAGE")
        author = author or default_author(self.root)
        moment = when or datetime.now().astimezone()
        with self.lock:
            head = self.refs.head()
            staged = self.staging.load()
            parent_tree = self.read_commit(head.commit).tree if head.commit else None
            tree_id = self.staging.known_tree() or write_tree(
                self.store, {p: _entry(s) for p, s in staged.items()}
            )
            parents = ([head.commit] if head.commit else []) + list(extra_parents)
            if (
                not allow_empty
                and not list(extra_parents)
                and (tree_id == parent_tree or (parent_tree is None and not staged))
            ):
                raise NothingToCommitError(
                    "nothing to commit: stage changes with 'mlv add', or use --allow-empty"
                )
            offset = moment.utcoffset()
            commit = Commit(
                tree=tree_id,
                parents=tuple(parents),
                author=author,
                time=int(moment.timestamp()),
                tz_offset=int(offset.total_seconds() // 60) if offset else 0,
                message=message if message.endswith("\n") else message + "\n",
            )
            commit_id = self.store.put_meta(commit.to_bytes(), KIND_META)
            self.store.flush()
            self.refs.update_head(commit_id, str(author), f"commit: {commit.summary}")
            self.staging.apply(tree_id=tree_id)
            return commit_id

    # -- history ----------------------------------------------------------------

    def ref_names(self) -> dict[str, list[str]]:
        """Commit id -> the branch and tag names pointing at it (for decorating logs)."""
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
            starts = [self.resolve(r) for r in rev_list or ["HEAD"]]
        commits = history.reachable(self.read_commit, starts)
        rel_paths = [self.relpath(p) for p in paths] if paths else None
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
        parent = self.read_commit(commit.parents[0]).tree if commit.parents else None
        return bool(diff_trees(self.trees, parent, commit.tree, paths))

    def show(self, rev: str = "HEAD") -> CommitDetails:
        """A commit and the files it changed against its first parent."""
        commit_id = self.resolve(rev)
        commit = self.read_commit(commit_id)
        parent = self.read_commit(commit.parents[0]).tree if commit.parents else None
        changes = diff_trees(self.trees, parent, commit.tree)
        entry = LogEntry(commit_id, commit, self.ref_names().get(commit_id, []))
        return CommitDetails(entry, changes)

    def open_file(self, rev: str, path: str | os.PathLike[str]) -> Iterator[bytes]:
        """Stream a file's content as it was at ``rev``, verified against its id."""
        rel = self.relpath(path)
        commit = self.read_commit(self.resolve(rev))
        entry = self.trees.entry_at(commit.tree, rel)
        if entry is None:
            raise NotFoundError(f"path {rel} does not exist in {rev}")
        if entry.kind == KIND_DIR:
            raise InvalidArgumentError(f"{rel} is a folder in {rev}; name a file")
        return iter_content(self.store, entry.id)

    def read_bytes(self, rev: str, path: str | os.PathLike[str]) -> bytes:
        return b"".join(self.open_file(rev, path))

    def diff(
        self,
        a: str | None = None,
        b: str | None = None,
        paths: Iterable[str | os.PathLike[str]] | None = None,
    ) -> list[Change]:
        """Changes from ``a`` (default HEAD) to ``b`` (default: the working tree)."""
        rel_paths = [self.relpath(p) for p in paths] if paths else None
        if a and b:
            old_tree = self.read_commit(self.resolve(a)).tree
            return diff_trees(
                self.trees, old_tree, self.read_commit(self.resolve(b)).tree, rel_paths
            )
        old = self.flat_tree(a or "HEAD", rel_paths) if (a or self.refs.head().commit) else {}
        new = self.flat_tree(b, rel_paths) if b else self.worktree_flat(rel_paths)
        return diff_flat(old, new)

    def worktree_flat(self, paths: list[str] | None = None) -> Flat:
        """The tracked part of the working tree as it is on disk now (content hashed as needed)."""
        staged = self.staging.load()
        roots = paths if paths is not None else sorted({p.split("/", 1)[0] for p in staged})
        found = scan(self.root, roots, IgnoreRules.load(self.root)).files
        # Untracked files outside the tracked folders are not part of any diff.
        flat: Flat = {}
        suspects = []
        for path, info in found.items():
            s = staged.get(path)
            if s is not None and _stat_matches(s, info):
                flat[path] = _entry(s)
            elif s is not None or paths is not None or under(path, roots):
                suspects.append((path, info))
        hashed = self._hash_files(suspects)
        for (path, _), (object_id, info) in zip(suspects, hashed, strict=True):
            flat[path] = Entry(info.kind, object_id, info.size, info.executable)
        return flat

    # -- checkout ---------------------------------------------------------------

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
        with self.lock:
            commit_id = self.resolve(rev)
            commit = self.read_commit(commit_id)
            staged = self.staging.load()
            if paths is not None:
                rels = [self.relpath(p) for p in paths]
                target = self.trees.flatten(commit.tree, rels)
                for rel in rels:
                    if not any(under(p, [rel]) for p in target):
                        raise NotFoundError(f"path {rel or '.'} does not exist in {rev}")
                result = self._materialise(target, staged, [], force, progress, commit_id)
                return result
            target = self.trees.flatten(commit.tree)
            removals = sorted(p for p in staged if p not in target)
            result = self._materialise(
                target, staged, removals, force, progress, commit_id, carry=True
            )
            branch = rev if self.refs.read(HEADS + rev) == commit_id else None
            if branch:
                self.refs.set_head_ref(HEADS + branch)
            else:
                self.refs.set_head_detached(commit_id, message=f"checkout: moving to {rev}")
            result.branch = branch
            if not result.carried:
                self.staging.apply(tree_id=commit.tree)
            return result

    def _materialise(
        self,
        target: Flat,
        staged: dict[str, Staged],
        removals: list[str],
        force: bool,
        progress: Progress,
        commit_id: str,
        replace_stage: bool = False,
        carry: bool = False,
    ) -> CheckoutResult:
        """Write ``target`` over the working tree and stage it, guarding uncommitted work.

        With ``carry`` (moving between commits), a path whose content is the same in
        HEAD and in the target is left alone, local changes and all, as git does; so
        are new files staged but never committed.
        """
        head = self._head_flat()
        carried: list[str] = []
        if carry:
            carried = [p for p, want in target.items() if p in head and same(head[p], want)]
            carried += [p for p in removals if p not in head]
            kept = set(carried)
            target = {p: e for p, e in target.items() if p not in kept}
            removals = [p for p in removals if p not in kept]
        on_disk = self._disk_state(list(target) + removals, staged)
        writes: dict[str, Entry] = {}
        at_risk: list[str] = []
        for path, want in target.items():
            have = on_disk.get(path)
            if have is not None and same(have, want):
                continue
            writes[path] = want
            if have is not None and not self._committed(path, have, staged, head):
                at_risk.append(path)
        removes = []
        for path in removals:
            have = on_disk.get(path)
            if have is not None and not self._committed(path, have, staged, head):
                at_risk.append(path)
            removes.append(path)
        if at_risk and not force:
            at_risk.sort()
            raise UncommittedChangesError(
                f"{len(at_risk)} file(s) with uncommitted changes would be overwritten, "
                f"e.g. {at_risk[0]}; commit them first or use --force"
            )
        progress.start(sum(e.size for e in writes.values()), "checking out")
        written = Materialiser(self.root, self.store).apply(writes, removes, progress.advance)
        progress.finish()
        # Files that were already right on disk keep their (possibly fresh) stat.
        upserts = dict(written)
        for path, want in target.items():
            if path not in upserts:
                old = staged.get(path)
                if old is not None and same(_entry(old), want):
                    continue
                info = _lstat(self.root / path)
                if info is not None:
                    upserts[path] = _staged_from(want.id, info)
        # Restoring HEAD's own content keeps the stage equal to HEAD: status stays cheap.
        known = self.staging.known_tree()
        head_id = self.refs.head().commit
        still_head = (
            known is not None
            and head_id is not None
            and known == self.read_commit(head_id).tree
            and all(p in head and same(head[p], _entry(s)) for p, s in upserts.items())
            and not any(p in head for p in removals)
        )
        self.staging.apply(
            upserts.items(),
            removals,
            replace_all=replace_stage,
            tree_id=known if still_head else None,
        )
        result = CheckoutResult(commit_id, sorted(writes), removes)
        # What the stage still holds that differs from HEAD: staged work carried along.
        result.carried = sorted(
            p
            for p in carried
            if p not in head or p not in staged or not same(head[p], _entry(staged[p]))
        )
        return result

    def _disk_state(self, paths: list[str], staged: dict[str, Staged]) -> Flat:
        """Content on disk at each existing path, hashing what the stat cache cannot vouch for."""
        found: dict[str, FileStat] = {}
        for path in paths:
            info = _lstat(self.root / path)
            if info is not None:
                found[path] = info
        flat: Flat = {}
        suspects = []
        for path, info in found.items():
            s = staged.get(path)
            if s is not None and _stat_matches(s, info):
                flat[path] = _entry(s)
            else:
                suspects.append((path, info))
        hashed = self._hash_files(suspects)
        for (path, _), (object_id, info) in zip(suspects, hashed, strict=True):
            flat[path] = Entry(info.kind, object_id, info.size, info.executable)
        return flat

    def _committed(self, path: str, have: Entry, staged: dict[str, Staged], head: Flat) -> bool:
        """Whether the content on disk at ``path`` is committed at HEAD.

        Content that is only staged does not count: checkout replaces the stage, after
        which nothing would reach it.
        """
        in_head = head.get(path)
        return in_head is not None and same(in_head, have)

    def restore(
        self, paths: Iterable[str | os.PathLike[str]], *, progress: Progress | None = None
    ) -> CheckoutResult:
        """Discard working tree changes to tracked paths: put back the staged content."""
        progress = progress or NoProgress()
        with self.lock:
            staged = self.staging.load()
            rels = [self.relpath(p) for p in paths]
            target = {p: _entry(s) for p, s in staged.items() if under(p, rels)}
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
        with self.lock:
            if self.refs.read(HEADS + name):
                raise InvalidArgumentError(f"branch {name!r} already exists")
            commit_id = self.resolve(rev)
            self.refs.update(HEADS + name, commit_id, None, message=f"branch: from {rev}")
            return commit_id

    def delete_branch(self, name: str, *, force: bool = False) -> str:
        with self.lock:
            commit_id = self.refs.read(HEADS + name)
            if commit_id is None:
                raise NotFoundError(f"no branch named {name!r}; see 'mlv branch'")
            if self.current_branch() == name:
                raise InvalidArgumentError(f"cannot delete {name!r}: it is the current branch")
            head = self.refs.head().commit
            if not force and (
                head is None or not history.is_ancestor(self.read_commit, commit_id, head)
            ):
                raise UncommittedChangesError(
                    f"branch {name!r} is not merged into HEAD; use --force to delete it anyway"
                )
            self.refs.delete(HEADS + name)
            return commit_id

    def switch(self, branch: str, *, create: bool = False, force: bool = False) -> CheckoutResult:
        """Move to another branch (creating it from HEAD with ``create``)."""
        with self.lock:
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
                raise NotFoundError(
                    f"no branch named {branch!r}; create it with 'mlv switch -c {branch}'"
                )
            return self.checkout(branch, force=force)

    def tags(self) -> dict[str, str]:
        return self.refs.list(TAGS)

    def create_tag(self, name: str, rev: str = "HEAD", *, force: bool = False) -> str:
        check_ref_name(name, "tag")
        with self.lock:
            old = self.refs.read(TAGS + name)
            if old and not force:
                raise InvalidArgumentError(f"tag {name!r} already exists; use --force to move it")
            commit_id = self.resolve(rev)
            self.refs.update(TAGS + name, commit_id, old, message=f"tag: {rev}")
            return commit_id

    def delete_tag(self, name: str) -> str:
        with self.lock:
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
        with self.lock:
            head = self.refs.head()
            if head.commit is None:
                raise NotFoundError("HEAD has no commit yet: nothing to merge into")
            theirs_id = self.resolve(rev)
            read = self.read_commit
            if history.is_ancestor(read, theirs_id, head.commit):
                return MergeResult("up-to-date", head.commit)
            status = self.status()
            if status.staged or status.modified or status.deleted:
                raise UncommittedChangesError(
                    "the working tree has uncommitted changes; commit them before merging"
                )
            if history.is_ancestor(read, head.commit, theirs_id):
                target = self.trees.flatten(read(theirs_id).tree)
                staged = self.staging.load()
                removals = sorted(p for p in staged if p not in target)
                self._materialise(target, staged, removals, False, NoProgress(), theirs_id)
                self.refs.update_head(theirs_id, message=f"merge {rev}: fast-forward")
                self.staging.apply(tree_id=read(theirs_id).tree)
                return MergeResult("fast-forward", theirs_id)
            base_id = history.merge_base(read, head.commit, theirs_id)
            base = self.trees.flatten(read(base_id).tree) if base_id else {}
            ours = self.trees.flatten(read(head.commit).tree)
            theirs = self.trees.flatten(read(theirs_id).tree)
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
            commit_id = self.commit(
                message or f"Merge {what} into {into}",
                author=author,
                allow_empty=True,
                extra_parents=[theirs_id],
            )
            return MergeResult("merge", commit_id, resolved)

    # -- integrity --------------------------------------------------------------

    def fsck(self, progress: Progress | None = None):  # type: ignore[no-untyped-def]
        from mlv.repo.fsck import check_repository

        return check_repository(self, progress or NoProgress())


def _stat_matches(staged: Staged | None, info: FileStat) -> bool:
    return (
        staged is not None
        and staged.mtime_ns == info.mtime_ns
        and staged.size == info.size
        and staged.ino == info.ino
        and staged.kind == info.kind
        and staged.executable == info.executable
    )


def _staged_from(object_id: str, info: FileStat) -> Staged:
    return Staged(
        info.kind, object_id, info.size, info.executable, trusted_mtime(info.mtime_ns), info.ino
    )


def _entry(staged: Staged) -> Entry:
    return Entry(staged.kind, staged.id, staged.size, bool(staged.executable))


def _lstat(path: Path) -> FileStat | None:
    from mlv.repo.worktree import stat_of

    try:
        return stat_of(os.lstat(path))
    except (FileNotFoundError, NotADirectoryError):
        return None
