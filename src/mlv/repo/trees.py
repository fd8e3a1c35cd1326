"""Between the flat view (path -> entry) that the repository works in and stored trees."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from mlv.core.hashing import hash_bytes
from mlv.core.paths import name_problem
from mlv.errors import FormatError, UnsafePathError
from mlv.model.objects import KIND_DIR, Tree, TreeEntry, encode_tree
from mlv.store.objectstore import ObjectStore
from mlv.store.pack import KIND_META

if TYPE_CHECKING:
    from mlv.repo.staging import Staged


class Entry(NamedTuple):
    """A file or symlink at a path, as a commit holds it."""

    kind: str
    id: str
    size: int
    executable: bool


Flat = dict[str, Entry]


class TreeReader:
    """Reads tree objects, remembering them: commits share most of their trees."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._cache: dict[str, Tree] = {}

    def tree(self, tree_id: str) -> Tree:
        tree = self._cache.get(tree_id)
        if tree is None:
            tree = Tree.from_bytes(self.store.get(tree_id))
            self._cache[tree_id] = tree
        return tree

    def flatten(self, tree_id: str | None, paths: Iterable[str] | None = None) -> Flat:
        """Every file and symlink below the tree, by POSIX path; only under ``paths`` if given."""
        flat: Flat = {}
        if tree_id is None:
            return flat
        wanted = None if paths is None else [p.strip("/") for p in paths]
        if wanted is not None and any(p in ("", ".") for p in wanted):
            wanted = None
        stack = [("", tree_id)]
        while stack:
            prefix, current = stack.pop()
            for entry in self.tree(current).entries:
                path = prefix + entry.name
                if wanted is not None and not _relevant(path, wanted):
                    continue
                if entry.kind == KIND_DIR:
                    stack.append((path + "/", entry.id))
                else:
                    flat[path] = Entry(entry.kind, entry.id, entry.size, entry.executable)
        return flat

    def entry_at(self, tree_id: str, path: str) -> TreeEntry | None:
        """The entry (file, symlink or dir) at ``path``, or None."""
        parts = [p for p in path.strip("/").split("/") if p]
        current = tree_id
        found: TreeEntry | None = None
        for depth, part in enumerate(parts):
            match = [e for e in self.tree(current).entries if e.name == part]
            if not match:
                return None
            found = match[0]
            if depth < len(parts) - 1:
                if found.kind != KIND_DIR:
                    return None
                current = found.id
        return found


def _relevant(path: str, wanted: list[str]) -> bool:
    """Whether ``path`` is wanted, is under a wanted path, or is a folder above one."""
    return any(path == p or path.startswith(p + "/") or p.startswith(path + "/") for p in wanted)


# The id of a tree with no entries: what an empty staging area commits as.
EMPTY_TREE_ID = hash_bytes(encode_tree([]))


def write_tree(store: ObjectStore, flat: Mapping[str, Entry | Staged]) -> str:
    """Store the trees for a flat mapping and return the root tree's id.

    Entries go straight to their canonical bytes (``encode_tree``), without an
    object per entry: a commit of 200,000 files builds them all. A tree's id
    depends on its entries' names, kinds, ids, sizes and modes only.
    """
    _check_names(flat)
    children: dict[str, dict[str, TreeEntry]] = {"": {}}
    new = tuple.__new__
    for path, entry in flat.items():
        parent, _, name = path.rpartition("/")
        siblings = children.get(parent)
        if siblings is None:
            parts = path.split("/")
            for depth in range(1, len(parts)):
                children.setdefault("/".join(parts[:depth]), {})
            siblings = children[parent]
        siblings[name] = new(
            TreeEntry, (name, entry.kind, entry.id, entry.size, bool(entry.executable), None)
        )
    # Deepest folders first, so each folder's id is known before its parent needs it.
    for folder in sorted(children, key=lambda d: d.count("/") + bool(d), reverse=True):
        entries = children[folder]
        ordered = [entries[name] for name in sorted(entries, key=_utf8)]
        tree_id = store.put_meta(encode_tree(ordered), KIND_META)
        if not folder:
            return tree_id
        parent, _, name = folder.rpartition("/")
        if name in children[parent]:
            raise FormatError(f"{folder} is both a file and a folder in the staging area")
        size = sum(e.size for e in ordered)
        children[parent][name] = TreeEntry(name, KIND_DIR, tree_id, size)
    raise AssertionError("unreachable: the root folder is always written last")


def _check_names(flat: Mapping[str, Entry | Staged]) -> None:
    """Refuse, before any tree is written, a path that checkout could not write back.

    ``add`` never stages such a name; this catches one staged by an older mlv, so
    that no commit (and no ref) ever reaches a tree nothing can read.
    """
    for path in flat:
        for part in path.split("/"):
            problem = name_problem(part)
            if problem is not None:
                raise UnsafePathError(
                    f"cannot commit {path!r}: {problem}; "
                    f"unstage it with 'mlv rm --cached' and rename it"
                )


def _utf8(name: str) -> bytes:
    return name.encode("utf-8")
