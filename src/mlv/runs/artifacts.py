"""Files and folders that runs read and write, as artifacts: stored, staged and put back."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from mlv.core.hashing import hash_bytes
from mlv.core.paths import TreeGate
from mlv.errors import InvalidArgumentError, NotFoundError
from mlv.model.runs import ARTIFACT_DIR, ARTIFACT_FILE, Artifact
from mlv.repo.checkout import Materialiser
from mlv.repo.protocols import Lock, ObjectReader
from mlv.repo.staging import as_entry
from mlv.repo.trees import Entry, write_tree
from mlv.runs.ports import Staging, Tracker, WorkTree
from mlv.store.objectstore import ObjectStore


class Artifacts:
    """The artifacts of one working tree: stored and staged (:meth:`snapshot`), only
    hashed (:meth:`fingerprint`), put back (:meth:`restore`).

    Paths are staged through ``tracker`` (the core's ``add``, extensions and all) into
    ``stage``; content goes to ``store`` and is read back through ``objects``; ``lock``
    is held while anything is written.
    """

    def __init__(
        self,
        *,
        tracker: Tracker,
        worktree: WorkTree,
        stage: Staging,
        objects: ObjectReader,
        store: ObjectStore,
        lock: Lock,
    ) -> None:
        self.root = worktree.root
        self.tracker = tracker
        self.worktree = worktree
        self.stage = stage
        self.objects = objects
        self.store = store
        self.lock = lock

    def snapshot(self, paths: Iterable[str]) -> dict[str, Artifact]:
        """Store and stage each path (relative to the root); the artifact each holds now.

        A folder's artifact is the id of its tree, the same id a commit gives that folder.
        """
        paths = list(dict.fromkeys(paths))
        for path in paths:
            if not os.path.lexists(self.root / path):
                raise NotFoundError(f"{path} does not exist")
        if not paths:
            return {}
        with self.lock:
            self.tracker.add(paths)
            found: dict[str, Artifact] = {}
            files = self.stage.load_paths(paths)
            for path in paths:
                staged = files.get(path)
                if staged is not None:
                    found[path] = Artifact(staged.id, ARTIFACT_FILE, staged.size)
                    continue
                _refuse_ignored(self.root, path)
                inside = self.stage.load_under(path)
                flat = {p[len(path) + 1 :]: as_entry(s) for p, s in inside.items()}
                tree_id = write_tree(self.store, flat)
                found[path] = Artifact(tree_id, ARTIFACT_DIR, sum(e.size for e in flat.values()))
            self.store.flush()
        return found

    def fingerprint(self, paths: Iterable[str]) -> dict[str, Artifact]:
        """What :meth:`snapshot` would return, without storing or staging anything."""
        from mlv.repo.ignore import IgnoreRules
        from mlv.repo.worktree import scan

        found: dict[str, Artifact] = {}
        ignore = IgnoreRules.load(self.root)
        for path in dict.fromkeys(paths):
            if not os.path.lexists(self.root / path):
                raise NotFoundError(f"{path} does not exist")
            files = scan(self.root, [path], ignore).files
            flat = self.worktree.content_on_disk(files, self.stage.load_paths(files))
            if path in flat and not (self.root / path).is_dir():
                entry = flat[path]
                found[path] = Artifact(entry.id, ARTIFACT_FILE, entry.size)
                continue
            _refuse_ignored(self.root, path)
            inside = {p[len(path) + 1 :]: e for p, e in flat.items()}
            tree_id = write_tree(_HashOnly(), inside)  # type: ignore[arg-type]
            found[path] = Artifact(tree_id, ARTIFACT_DIR, sum(e.size for e in inside.values()))
        return found

    def restore(self, artifacts: dict[str, Artifact]) -> None:
        """Put artifacts back in the working tree and stage them (a run cache hit).

        Whatever stands at an output's path that the artifact does not hold is removed,
        so that the output is exactly what the run wrote. Every path passes the tree's
        gate first: nothing is removed through a symlink or outside the tree.
        """
        with self.lock:
            gate = TreeGate(self.root)
            writes: dict[str, Entry] = {}
            removes: list[str] = []
            for path, artifact in artifacts.items():
                full = gate.full(path)
                entries = entries_of(self.objects, path, artifact)
                writes.update(entries)
                removes.extend(p for p in _entries_on_disk(self.root, full) if p not in entries)
            written = self.worktree.materialiser(self.store).apply(writes, removes)
            self.stage.apply(written.items(), removes)


def _refuse_ignored(root: Path, path: str) -> None:
    """A file that ``add`` skipped is ignored: recording it as an empty folder would be wrong."""
    full = root / path
    if full.is_symlink() or not full.is_dir():
        raise InvalidArgumentError(
            f"{path} is ignored (see .mlvignore), so a run cannot record it; "
            "remove the pattern that matches it or use another path"
        )


class _HashOnly:
    """Stands in for the object store where a tree's id is wanted but not the tree."""

    def put_meta(self, data: bytes, kind: int) -> str:
        return hash_bytes(data)


def entries_of(objects: ObjectReader, path: str, artifact: Artifact) -> dict[str, Entry]:
    """The files an artifact puts at ``path``, as entries to write (a folder's read
    through ``objects``)."""
    if artifact.kind == ARTIFACT_FILE:
        return {path: Entry("file", artifact.id, artifact.size, False)}
    return {f"{path}/{p}": e for p, e in objects.flatten(artifact.id).items()}


def materialise(
    artifacts: dict[str, Artifact], root: Path, *, objects: ObjectReader, store: ObjectStore
) -> None:
    """Write artifacts into a folder outside the repository (a reproduction's workspace),
    their trees read through ``objects``, their content from ``store``."""
    writes: dict[str, Entry] = {}
    for path, artifact in artifacts.items():
        writes.update(entries_of(objects, path, artifact))
    root.mkdir(parents=True, exist_ok=True)
    Materialiser(root, store).apply(writes, [])


def _entries_on_disk(root: Path, full: Path) -> list[str]:
    """The files and symlinks at or under ``full``, as paths relative to ``root``."""
    if full.is_symlink() or full.is_file():
        return [full.relative_to(root).as_posix()]
    found: list[str] = []
    for base, dirs, names in os.walk(full):
        links = [d for d in dirs if os.path.islink(os.path.join(base, d))]
        found.extend(Path(base, name).relative_to(root).as_posix() for name in [*names, *links])
    return found
