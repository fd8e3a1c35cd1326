"""``VersionedFileSystem``: the fsspec filesystem of ``mlv://REV/PATH`` URLs.

``REV`` is any revision (``main``, ``v1``, ``HEAD~3``, a commit id); ``PATH`` is
the file's path in the repository. Both are percent-decoded, as URLs are: a name
holding ``%`` is written ``%25``, and ``mlv query`` writes every path encoded, so
that a name with ``*`` or ``[`` is not taken for a pattern by DuckDB. A revision
with a slash in its name (``feature/x``) may be written as it is or as
``feature%2Fx``: the shortest leading run of path segments that names a revision
is the revision. The
repository is the one that holds the current folder, or the one ``repo=`` names
(``storage_options={"repo": PATH}`` for pandas).

Every call resolves its revision again, so ``mlv://main/…`` follows the branch
in a long-lived notebook; a URL that names a commit id never changes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import unquote

from fsspec.spec import AbstractFileSystem

from mlv.errors import InvalidArgumentError, MlvError, NotARepositoryError, NotFoundError
from mlv.model.objects import KIND_DIR, KIND_FILE, TreeEntry
from mlv.repo.contentfile import ChunkLayout, ContentFile, ReadStats
from mlv.repo.layout import find_root
from mlv.repo.protocols import ObjectReader, RevisionResolver
from mlv.store.objectstore import ObjectStore

PROTOCOL = "mlv"
# Layouts of the files opened last (a 330 MB table's is ~5,000 chunks, ~0.5 MB).
KEPT_LAYOUTS = 64
READ_ONLY = (
    "mlv:// is read-only: it serves the versions a repository holds; write the file in "
    "the working tree and 'mlv add' it"
)


class Readable(Protocol):
    """What the filesystem reads a repository through (a ``Repository`` has them)."""

    @property
    def objects(self) -> ObjectReader: ...
    @property
    def revisions(self) -> RevisionResolver: ...
    @property
    def store(self) -> ObjectStore: ...


class VersionedFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """Read-only files at any revision of a repository, as fsspec serves files."""

    protocol: ClassVar[str | tuple[str, ...]] = PROTOCOL
    root_marker = ""

    def __init__(
        self,
        repo: str | os.PathLike[str] | None = None,
        *,
        repository: Readable | None = None,
        **kwargs: Any,
    ) -> None:
        """``repo``: a folder inside the repository to read (default: the current
        folder, looked up at each call). ``repository``: an open one to read instead
        (``mlv query`` passes its own); the caller keeps it and closes it."""
        super().__init__(**kwargs)
        self._repo_path = Path(repo) if repo is not None else None
        self._given = repository
        self._opened: dict[Path, Any] = {}
        self._lock = threading.Lock()
        self._layouts: dict[str, ChunkLayout] = {}  # file id -> its chunks: ids name content
        self.stats = ReadStats()

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = os.fspath(path)
        for prefix in (f"{PROTOCOL}://", f"{PROTOCOL}:"):
            if text.startswith(prefix):
                text = text[len(prefix) :]
                break
        return text.strip("/")

    # -- the repository and where a path points -----------------------------------

    def _repository(self) -> Readable:
        if self._given is not None:
            return self._given
        start = self._repo_path or Path.cwd()
        root = find_root(start)
        if root is None:
            raise FileNotFoundError(
                f"not an mlv repository (or any parent up to /): {start.resolve()}; "
                "open mlv:// URLs from inside one, or pass repo=PATH"
            )
        with self._lock:
            opened = self._opened.get(root)
            if opened is None:
                opened = self._opened[root] = _open_repository(root)
            return opened  # type: ignore[no-any-return]

    def _locate(self, path: str) -> tuple[Readable, str, str, str]:
        """(repository, commit id, revision as written, repository path) of ``path``."""
        repository = self._repository()
        parts = self._strip_protocol(path).split("/")
        if parts == [""]:
            raise FileNotFoundError(
                "an mlv:// URL names a revision and then a path: mlv://REV/PATH"
            )
        for end in range(1, len(parts) + 1):
            rev = unquote("/".join(parts[:end]))
            try:
                commit_id = repository.revisions.resolve(rev)
            except (NotFoundError, InvalidArgumentError):
                continue
            return repository, commit_id, rev, unquote("/".join(parts[end:]))
        raise FileNotFoundError(
            f"{path}: no revision of this repository starts the path (mlv://REV/PATH)"
        )

    def _entry(self, path: str) -> tuple[Readable, str, str, TreeEntry | None]:
        """(repository, commit id, repository path, entry); entry None for the root."""
        repository, commit_id, rev, rel = self._locate(path)
        if not rel:
            return repository, commit_id, rel, None
        tree = repository.objects.read_commit(commit_id).tree
        try:
            entry = repository.objects.entry_at(tree, rel)
        except MlvError as exc:
            raise FileNotFoundError(f"{path}: {exc}") from exc
        if entry is None:
            raise FileNotFoundError(f"{path}: no such file or folder in {rev}")
        return repository, commit_id, rel, entry

    # -- reading ---------------------------------------------------------------------

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        _, _, _, entry = self._entry(path)
        return _info(self._strip_protocol(path), entry)

    @contextmanager
    def _recording(self) -> Iterator[None]:
        """Keep the first error opening a file raised, for ``stats.error``: DuckDB
        reports it as a traceback inside its own message. (Not ``info``'s: DuckDB asks
        whether a path exists, and a missing one is an answer, not a failure.)"""
        try:
            yield
        except Exception as exc:
            self.stats.failed(exc)
            raise

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        repository, commit_id, _, entry = self._entry(path)
        name = self._strip_protocol(path)
        if entry is not None and entry.kind != KIND_DIR:
            found = [_info(name, entry)]
        else:
            tree_id = entry.id if entry is not None else None
            if tree_id is None:
                tree_id = repository.objects.read_commit(commit_id).tree
            tree = repository.objects.tree(tree_id)
            found = [_info(f"{name}/{child.name}", child) for child in tree.entries]
        return found if detail else [f["name"] for f in found]

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> ContentFile:
        with self._recording():
            return self._open_file(path, mode)

    def _open_file(self, path: str, mode: str) -> ContentFile:
        if mode != "rb":
            raise PermissionError(f"{READ_ONLY} (asked to open {path} with mode {mode!r})")
        repository, _, rel, entry = self._entry(path)
        if entry is None or entry.kind == KIND_DIR:
            raise IsADirectoryError(f"{path} is a folder; name a file")
        if entry.kind != KIND_FILE:
            raise FileNotFoundError(f"{path} is a {entry.kind}, not a file")
        layout = self._layouts.get(entry.id)
        opened = ContentFile(repository.store, entry.id, name=rel, stats=self.stats, layout=layout)
        if layout is None:
            with self._lock:
                while len(self._layouts) >= KEPT_LAYOUTS:
                    self._layouts.pop(next(iter(self._layouts)))
                self._layouts[entry.id] = opened.layout
        return opened

    def modified(self, path: str) -> datetime:
        """When the commit the path's revision names was made."""
        repository, commit_id, _, _ = self._locate(path)
        commit = repository.objects.read_commit(commit_id)
        return datetime.fromtimestamp(commit.time, UTC)

    created = modified

    def ukey(self, path: str) -> str:
        """The content's id: two paths with the same content have the same key."""
        return str(self.info(path).get("id") or self._locate(path)[1])

    def checksum(self, path: str) -> int:
        return int(self.ukey(path)[:16], 16)

    # -- writing: refused --------------------------------------------------------------

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(READ_ONLY)

    mkdir = makedirs = rmdir = rm = rm_file = _rm = touch = _refuse
    mv = cp_file = copy = put_file = pipe_file = _refuse

    def close(self) -> None:
        """Close the repositories this filesystem opened."""
        with self._lock:
            opened, self._opened = self._opened, {}
        for repository in opened.values():
            repository.close()


def _info(name: str, entry: TreeEntry | None) -> dict[str, Any]:
    if entry is None or entry.kind == KIND_DIR:
        info: dict[str, Any] = {"name": name, "size": 0, "type": "directory"}
        if entry is not None:
            info["id"] = entry.id
        return info
    kind = "file" if entry.kind == KIND_FILE else "other"
    return {"name": name, "size": entry.size, "type": kind, "id": entry.id}


def _open_repository(root: Path) -> Any:
    # The core repository, and a partial clone's remote for the content it lacks.
    from mlv.remote.lazy import attach_remote_content
    from mlv.repo.repository import Repository

    try:
        repository = Repository(root)
    except NotARepositoryError as exc:
        raise FileNotFoundError(str(exc)) from exc
    attach_remote_content(repository.layout, repository.store, repository.refs, repository.records)
    return repository
