"""What an object needs: the ids each stored object names, and the walk over them.

A commit is whole only with everything it names, and what they name in turn:
its parents, tree, runs, profile map and code tree; a tree's entries; a run's
environment, inputs, outputs and code tree; a reproduction's commit, runs and
environment; a notes entry's parents and records; a manifest's chunks. Push,
fetch, clone and gc all ask the same question — which objects does this set of
starts reach — and this module is the one answer.

Each id is walked with a *role*, what it must be: a tree named by a commit is
parsed as a tree, and an object that is not one is damage, whoever sent it.
Content (file and symlink ids) is walked separately from history, so that a
clone without data can take the one and leave the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple, Protocol

from mlv.core.hashing import id_from_bytes, id_to_bytes
from mlv.errors import FormatError, MlvError
from mlv.model.notes import Notes
from mlv.model.objects import KIND_DIR, KIND_SYMLINK, Commit, FileManifest, Tree
from mlv.model.runs import ARTIFACT_DIR, Env, Reproduction, Run
from mlv.model.tables import Profile, ProfileMap
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_CHUNK, KIND_MANIFEST, KIND_META

COMMIT = "commit"
TREE = "tree"
RUN = "run"
ENV = "env"
REPRODUCTION = "reproduction"
NOTES = "notes"
PROFILES = "profiles"
PROFILE = "profile"
FILE = "file"  # a file's content: one chunk, or a manifest and its chunks
SYMLINK = "symlink"  # a symlink's target: one chunk
CHUNK = "chunk"  # one chunk a manifest lists

# Roles whose objects are content: what `clone --no-data` leaves behind.
CONTENT = frozenset({FILE, SYMLINK, CHUNK})
# The record kinds an object of each role may be stored as.
KINDS_OF_ROLE = {
    FILE: (KIND_CHUNK, KIND_MANIFEST),
    SYMLINK: (KIND_CHUNK,),
    CHUNK: (KIND_CHUNK,),
}
_META_ONLY = (KIND_META,)


class Need(NamedTuple):
    """An object to have: its id, what it must be, where it was named (for errors), and
    for what a tree holds, its path from the root of the first tree it was found in."""

    id: str
    role: str
    where: str
    path: str = ""


class Found(NamedTuple):
    """One object the walk reached: its need and the record kind it is stored as."""

    need: Need
    kind: int


class Source(Protocol):
    """Where the walk reads objects: a store, or a store and what has just arrived."""

    def kinds(self, ids: list[str]) -> dict[str, int]:
        """The record kind of each of ``ids`` that the source holds."""
        ...

    def get(self, object_id: str) -> bytes:
        """An object's verified content."""
        ...


class MissingObjectError(MlvError):
    """The walk needed an object that the source does not hold."""

    def __init__(self, need: Need) -> None:
        super().__init__(f"{need.role} {need.id} ({need.where}) is missing")
        self.need = need


def references(need: Need, kind: int, data: bytes) -> list[Need]:
    """The ids that the object ``data`` names, each with its role.

    Raises ``FormatError`` when ``data`` is not an object of the role asked for: a
    commit that does not parse as one, a tree with a name such as ``..``.
    """
    role, object_id = need.role, need.id
    allowed = KINDS_OF_ROLE.get(role, _META_ONLY)
    if kind not in allowed:
        raise FormatError(f"{role} {object_id} ({need.where}) is stored as the wrong kind")
    if kind == KIND_CHUNK:
        return []
    short = object_id[:12]
    if kind == KIND_MANIFEST:
        manifest = FileManifest.from_bytes(data)
        return [Need(c, CHUNK, f"chunk of file {short}") for c, _ in dict(manifest.chunks).items()]
    if role == COMMIT:
        commit = Commit.from_bytes(data)
        found = [Need(commit.tree, TREE, f"tree of commit {short}")]
        found += [Need(p, COMMIT, f"parent of commit {short}") for p in commit.parents]
        found += [Need(r, RUN, f"run of commit {short}") for r in commit.runs]
        if commit.profiles is not None:
            found.append(Need(commit.profiles, PROFILES, f"profile map of commit {short}"))
        return found + _code_tree(commit.code, f"code of commit {short}")
    if role == TREE:
        return _tree_references(Tree.from_bytes(data), short, need.path)
    if role == RUN:
        run = Run.from_bytes(data)
        found = [Need(run.env, ENV, f"environment of run {run.name}")]
        for path, artifact in sorted({**run.inputs(), **run.outs}.items()):
            artifact_role = TREE if artifact.kind == ARTIFACT_DIR else FILE
            found.append(Need(artifact.id, artifact_role, f"{path} of run {run.name}", path))
        return found + _code_tree(run.code, f"code of run {run.name}")
    if role == REPRODUCTION:
        rep = Reproduction.from_bytes(data)
        found = [Need(rep.commit, COMMIT, f"commit of reproduction {short}")]
        found += [Need(r, RUN, f"run of reproduction {short}") for r in rep.runs]
        return [*found, Need(rep.env, ENV, f"environment of reproduction {short}")]
    if role == NOTES:
        entry = Notes.from_bytes(data)
        found = [Need(p, NOTES, f"parent of notes {short}") for p in entry.parents]
        return found + [Need(r, REPRODUCTION, f"record of notes {short}") for r in entry.records]
    if role == PROFILES:
        profile_map = ProfileMap.from_bytes(data)
        return [
            Need(p, PROFILE, f"profile of content {c[:12]}")
            for c, p in sorted(profile_map.profiles.items())
        ]
    if role == ENV:
        Env.from_bytes(data)
        return []
    if role == PROFILE:
        Profile.from_bytes(data)
        return []
    raise ValueError(f"unknown role {role!r}")


def _tree_references(tree: Tree, short: str, folder: str) -> list[Need]:
    found = []
    for entry in tree.entries:
        where = f"{entry.name!r} in tree {short}"
        path = f"{folder}/{entry.name}" if folder else entry.name
        if entry.kind == KIND_DIR:
            found.append(Need(entry.id, TREE, where, path))
        elif entry.kind == KIND_SYMLINK:
            found.append(Need(entry.id, SYMLINK, where, path))
        else:
            found.append(Need(entry.id, FILE, where, path))
        if entry.profile:
            found.append(Need(entry.profile, PROFILE, f"profile of {where}"))
    return found


def _code_tree(code: dict[str, object], where: str) -> list[Need]:
    tree = code.get("tree") if code else None
    return [Need(tree, TREE, where)] if isinstance(tree, str) and tree else []


def walk(
    source: Source,
    starts: Iterable[Need],
    *,
    done: Callable[[list[str]], set[str]] = lambda ids: set(),
    content: bool = True,
    on_missing: Callable[[Need], None] | None = None,
    on_content: Callable[[Need], None] | None = None,
    batch: int = 2048,
) -> Iterator[Found]:
    """Every object reachable from ``starts``, each once, parents before what they name.

    ``done(ids)`` gives the ids among ``ids`` whose whole closure is already where it
    is wanted (on the remote, say): those are neither yielded nor walked into.
    ``content=False`` stops at file and symlink ids: history without data; each time
    one is named, wherever, it is given to ``on_content``, if set (a symlink's target
    must be checked at every path that holds it). A needed
    object the source lacks raises ``MissingObjectError``, unless ``on_missing`` is
    given, which is then called and the walk goes on without it. Ids are looked up
    ``batch`` at a time, so that the sources' queries stay few.
    """
    seen: set[str] = set()
    frontier: list[Need] = []

    def stops_at(need: Need) -> bool:
        if content or need.role not in CONTENT:
            return False
        if on_content is not None:
            on_content(need)
        return True

    for need in starts:
        if not stops_at(need) and need.id not in seen:
            seen.add(need.id)
            frontier.append(need)
    while frontier:
        following: list[Need] = []
        for first in range(0, len(frontier), batch):
            wanted = frontier[first : first + batch]
            ids = [n.id for n in wanted]
            skip = done(ids)
            kinds = source.kinds([i for i in ids if i not in skip])
            for need in wanted:
                if need.id in skip:
                    continue
                kind = kinds.get(need.id)
                if kind is None:
                    if on_missing is None:
                        raise MissingObjectError(need)
                    on_missing(need)
                    continue
                # Chunks name nothing: their bytes need not be read to walk on.
                data = b"" if kind == KIND_CHUNK else source.get(need.id)
                for named in references(need, kind, data):
                    if not stops_at(named) and named.id not in seen:
                        seen.add(named.id)
                        following.append(named)
                yield Found(need, kind)
        frontier = following


class StoreSource:
    """The local object store as a walk's source."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def kinds(self, ids: list[str]) -> dict[str, int]:
        found = self.store.index.lookup_many([id_to_bytes(i) for i in ids])
        return {id_from_bytes(i): location.kind for i, location in found.items()}

    def get(self, object_id: str) -> bytes:
        return self.store.get(object_id)
