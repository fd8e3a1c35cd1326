"""Between the flat view (path -> entry) that the repository works in and stored trees."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
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


# How many entries the trees a ``TreeReader`` remembers may hold in all (a few tens of MB).
TREE_CACHE_ENTRIES = 100_000


class TreeReader:
    """Reads tree objects, remembering them: commits share most of their trees."""

    def __init__(self, store: ObjectStore, cache_entries: int = TREE_CACHE_ENTRIES) -> None:
        self.store = store
        self._cache: dict[str, Tree] = {}
        self._cache_limit = cache_entries
        self._cached_entries = 0

    def tree(self, tree_id: str) -> Tree:
        tree = self._cache.get(tree_id)
        if tree is None:
            tree = Tree.from_bytes(self.store.get(tree_id))
            self._remember(tree_id, tree)
        return tree

    def _remember(self, tree_id: str, tree: Tree) -> None:
        """Cache a tree, forgetting the oldest ones past the budget of entries: a walk
        over a million files must not keep every folder it passed."""
        cache = self._cache
        cache[tree_id] = tree
        self._cached_entries += len(tree.entries)
        while self._cached_entries > self._cache_limit and len(cache) > 1:
            oldest = next(iter(cache))
            self._cached_entries -= len(cache.pop(oldest).entries)

    def flatten(self, tree_id: str | None, paths: Iterable[str] | None = None) -> Flat:
        """Every file and symlink below the tree, by POSIX path; only under ``paths`` if given."""
        flat: Flat = {}
        if tree_id is None:
            return flat
        wanted = _wanted(paths)
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

    def iter_sorted(
        self, tree_id: str | None, paths: Iterable[str] | None = None
    ) -> Iterator[tuple[str, Entry]]:
        """Every file and symlink below the tree as (path, entry), in path order (the
        order of the staging table), one folder open at a time; only under ``paths``
        if given."""
        if tree_id is None:
            return
        wanted = _wanted(paths)
        # In path order "a/b.txt" comes before "a/b/…": a folder sorts as its name + "/".
        stack: list[tuple[str, TreeEntry]] = [("", TreeEntry("", KIND_DIR, tree_id, 0))]
        while stack:
            path, entry = stack.pop()
            if entry.kind != KIND_DIR:
                yield path, Entry(entry.kind, entry.id, entry.size, entry.executable)
                continue
            prefix = path + "/" if path else ""
            entries = self.tree(entry.id).entries
            if wanted is not None:
                entries = tuple(e for e in entries if _relevant(prefix + e.name, wanted))
            children = sorted(
                entries,
                key=lambda e: e.name + "/" if e.kind == KIND_DIR else e.name,
                reverse=True,
            )
            stack.extend((prefix + child.name, child) for child in children)

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


def _wanted(paths: Iterable[str] | None) -> list[str] | None:
    """The paths a walk is limited to; None for the whole tree."""
    wanted = None if paths is None else [p.strip("/") for p in paths]
    if wanted is not None and any(p in ("", ".") for p in wanted):
        return None
    return wanted


def _relevant(path: str, wanted: list[str]) -> bool:
    """Whether ``path`` is wanted, is under a wanted path, or is a folder above one."""
    return any(path == p or path.startswith(p + "/") or p.startswith(path + "/") for p in wanted)


# The id of a tree with no entries: what an empty staging area commits as.
EMPTY_TREE_ID = hash_bytes(encode_tree([]))


def write_tree(store: ObjectStore, flat: Mapping[str, Entry | Staged]) -> str:
    """Store the trees for a flat mapping and return the root tree's id.

    A tree's id depends on its entries' names, kinds, ids, sizes and modes only.
    """
    check_names(flat)
    return write_sorted_tree(
        store,
        ((p, e.kind, e.id, e.size, bool(e.executable)) for p, e in sorted(flat.items())),
    )


# A file or symlink as ``write_sorted_tree`` takes it: (path, kind, id, size, executable).
EntryRow = tuple[str, str, str, int, bool]


def write_sorted_tree(store: ObjectStore, rows: Iterable[EntryRow]) -> str:
    """Store the trees for rows in path order (as the staging table yields them) and
    return the root tree's id.

    In path order every folder's content comes in one run, so a folder is written
    as soon as the rows leave it: only the folders from the root down to the current
    row are held, and memory follows the largest folder, not the number of files.
    Entries go straight to their canonical bytes (``encode_tree``), without an object
    per entry. The caller has checked the names (``check_names``).
    """
    # The open folders, root first: (folder path, its entries by name).
    open_folders: list[tuple[str, dict[str, TreeEntry]]] = [("", {})]
    new = tuple.__new__
    for path, kind, object_id, size, executable in rows:
        parent, _, name = path.rpartition("/")
        if parent != open_folders[-1][0]:
            _enter(store, open_folders, parent)
        entries = open_folders[-1][1]
        if name in entries:  # a folder of that name came first: the rows are out of order
            raise FormatError(f"{path} is both a file and a folder in the staging area")
        entries[name] = new(TreeEntry, (name, kind, object_id, size, bool(executable), None))
    while len(open_folders) > 1:
        _close(store, open_folders)
    return _store_folder(store, open_folders[0][1])[0]


def _enter(
    store: ObjectStore, open_folders: list[tuple[str, dict[str, TreeEntry]]], folder: str
) -> None:
    """Close the open folders that do not hold ``folder``, then open it and those above it."""
    while True:
        top = open_folders[-1][0]
        if not top or folder == top or folder.startswith(top + "/"):
            break
        _close(store, open_folders)
    top = open_folders[-1][0]
    if folder == top:
        return
    rest = folder[len(top) + 1 :] if top else folder
    for part in rest.split("/"):
        above = open_folders[-1][0]
        open_folders.append((f"{above}/{part}" if above else part, {}))


def _close(store: ObjectStore, open_folders: list[tuple[str, dict[str, TreeEntry]]]) -> None:
    """Write the innermost open folder and enter it into its parent."""
    folder, entries = open_folders.pop()
    tree_id, size = _store_folder(store, entries)
    name = folder.rpartition("/")[2]
    siblings = open_folders[-1][1]
    if name in siblings:
        raise FormatError(f"{folder} is both a file and a folder in the staging area")
    siblings[name] = TreeEntry(name, KIND_DIR, tree_id, size)


def _store_folder(store: ObjectStore, entries: dict[str, TreeEntry]) -> tuple[str, int]:
    """Store one folder's tree; its id and the size of what it holds."""
    ordered = [entries[name] for name in sorted(entries, key=_utf8)]
    return store.put_meta(encode_tree(ordered), KIND_META), sum(e.size for e in ordered)


def check_names(paths: Iterable[str]) -> None:
    """Refuse, before any tree is written, a path that checkout could not write back.

    ``add`` never stages such a name; this catches one staged by an older mlv, so
    that no commit (and no ref) ever reaches a tree nothing can read. Each folder is
    checked once, however many files it holds.
    """
    checked_folder = None
    for path in paths:
        folder, _, name = path.rpartition("/")
        parts = [name] if folder == checked_folder else path.split("/")
        for part in parts:
            problem = name_problem(part)
            if problem is not None:
                raise UnsafePathError(
                    f"cannot commit {path!r}: {problem}; "
                    f"unstage it with 'mlv rm --cached' and rename it"
                )
        checked_folder = folder


def _utf8(name: str) -> bytes:
    return name.encode("utf-8")
