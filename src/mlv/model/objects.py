"""One class per stored object type: canonical bytes in and out, a lazy id, ``check()``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, NamedTuple, Self

from mlv.core.hashing import hash_bytes, is_object_id
from mlv.core.paths import name_problem
from mlv.errors import FormatError, UnsafePathError, UnsupportedVersionError
from mlv.model.canonical import as_object, dumps, loads

# The largest size an entry may claim: what SQLite's INTEGER and every file system hold.
MAX_SIZE = 2**63 - 1

KIND_FILE = "file"
KIND_DIR = "dir"
KIND_SYMLINK = "symlink"
ENTRY_KINDS = (KIND_FILE, KIND_DIR, KIND_SYMLINK)


def check_entry_name(name: str) -> None:
    """Refuse a tree entry name that is not one the working tree can hold (core.paths)."""
    problem = name_problem(name)
    if problem is not None:
        raise UnsafePathError(f"unsafe name {name!r} in a tree: {problem}; refusing to use it")


class StoredObject:
    """Base of the metadata objects: canonical JSON with ``type`` and ``format``."""

    TYPE: ClassVar[str]
    FORMAT: ClassVar[int] = 1

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Self:
        raise NotImplementedError

    def check(self) -> None:
        """Raise ``FormatError`` (or ``UnsafePathError``) when the object is invalid."""

    def to_bytes(self) -> bytes:
        return dumps({"type": self.TYPE, "format": self.FORMAT, **self.body()})

    @cached_property
    def id(self) -> str:
        return hash_bytes(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        doc = loads(data)
        if not isinstance(doc, dict) or doc.get("type") != cls.TYPE:
            found = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
            raise FormatError(f"expected a {cls.TYPE} object, found {found!r}")
        # JSON true equals 1 in Python: only an integer is a format version.
        if doc.get("format") != cls.FORMAT or isinstance(doc.get("format"), bool):
            raise UnsupportedVersionError(
                f"{cls.TYPE} object has format {doc.get('format')!r}; "
                f"this mlv reads format {cls.FORMAT}"
            )
        try:
            obj = cls.from_body(doc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FormatError(f"malformed {cls.TYPE} object: {exc!r}") from None
        obj.check()
        return obj


def _require_id(value: object, what: str) -> None:
    if not isinstance(value, str) or not is_object_id(value):
        raise FormatError(f"{what} is not an object id: {value!r}")


@dataclass(frozen=True)
class FileManifest(StoredObject):
    """The chunks of a file larger than one chunk, stored under the file's own id."""

    TYPE: ClassVar[str] = "file"

    size: int
    chunks: tuple[tuple[str, int], ...]

    def body(self) -> dict[str, Any]:
        return {"size": self.size, "chunks": [list(c) for c in self.chunks]}

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> FileManifest:
        return cls(int(body["size"]), tuple((str(c), int(n)) for c, n in body["chunks"]))

    def check(self) -> None:
        for chunk_id, length in self.chunks:
            _require_id(chunk_id, "chunk")
            if length <= 0:
                raise FormatError(f"chunk {chunk_id} has length {length}")
        if sum(n for _, n in self.chunks) != self.size:
            raise FormatError("file manifest chunk lengths do not add up to its size")


class TreeEntry(NamedTuple):
    """One entry of a tree. A named tuple: trees of 100,000 entries are built often."""

    name: str
    kind: str
    id: str
    size: int
    executable: bool = False
    profile: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "kind": self.kind, "id": self.id}
        doc["size"] = self.size
        if self.executable:
            doc["exec"] = True
        if self.profile:
            doc["profile"] = self.profile
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TreeEntry:
        return cls(
            name=doc["name"],
            kind=doc["kind"],
            id=doc["id"],
            size=int(doc["size"]),
            executable=bool(doc.get("exec", False)),
            profile=doc.get("profile"),
        )


@dataclass(frozen=True)
class Tree(StoredObject):
    """A directory: entries sorted by name (by their UTF-8 bytes)."""

    TYPE: ClassVar[str] = "tree"

    entries: tuple[TreeEntry, ...] = ()

    @classmethod
    def of(cls, entries: list[TreeEntry]) -> Tree:
        return cls(tuple(sorted(entries, key=lambda e: e.name.encode("utf-8"))))

    def body(self) -> dict[str, Any]:
        return {"entries": [e.to_json() for e in self.entries]}

    def to_bytes(self) -> bytes:
        return encode_tree(self.entries)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Tree:
        return cls(tuple(TreeEntry.from_json(e) for e in body["entries"]))

    def check(self) -> None:
        previous = b""
        for entry in self.entries:
            if not isinstance(entry.name, str):
                raise FormatError(f"tree entry name {entry.name!r} is not a string")
            check_entry_name(entry.name)
            if entry.kind not in ENTRY_KINDS:
                raise FormatError(f"tree entry {entry.name!r} has unknown kind {entry.kind!r}")
            if not 0 <= entry.size <= MAX_SIZE:
                raise FormatError(f"tree entry {entry.name!r} has impossible size {entry.size}")
            _require_id(entry.id, f"tree entry {entry.name!r}")
            if entry.profile is not None:
                _require_id(entry.profile, f"profile of {entry.name!r}")
            key = entry.name.encode("utf-8")
            if key <= previous:
                raise FormatError(f"tree entries are not sorted or repeat at {entry.name!r}")
            previous = key


_json_string = json.JSONEncoder(ensure_ascii=False).encode


def encode_tree(entries: Iterable[TreeEntry]) -> bytes:
    """The canonical bytes of a tree with these entries, already sorted by name.

    Equal to ``canonical.dumps`` of the tree's JSON (a test holds the two
    together), written out directly: keys in sorted order (``exec``, ``id``,
    ``kind``, ``name``, ``profile``, ``size``), optional ones only when set.
    """
    parts = []
    for name, kind, object_id, size, executable, profile in entries:
        head = '{"exec":true,"id":"' if executable else '{"id":"'
        middle = f',"profile":"{profile}"' if profile else ""
        parts.append(
            f'{head}{object_id}","kind":"{kind}","name":{_json_string(name)}{middle},"size":{size}}}'
        )
    return ('{"entries":[' + ",".join(parts) + '],"format":1,"type":"tree"}').encode("utf-8")


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True)
class Commit(StoredObject):
    """A snapshot: a root tree, its parents, who made it, when and why."""

    TYPE: ClassVar[str] = "commit"

    tree: str
    parents: tuple[str, ...]
    author: Person
    time: int  # seconds since the epoch, UTC
    tz_offset: int  # the author's offset from UTC, in minutes
    message: str
    runs: tuple[str, ...] = ()
    code: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {
            "tree": self.tree,
            "parents": list(self.parents),
            "author": {"name": self.author.name, "email": self.author.email},
            "time": self.time,
            "tz_offset": self.tz_offset,
            "message": self.message,
            "runs": list(self.runs),
            "code": self.code,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Commit:
        author = body["author"]
        return cls(
            tree=body["tree"],
            parents=tuple(body["parents"]),
            author=Person(str(author["name"]), str(author["email"])),
            time=int(body["time"]),
            tz_offset=int(body["tz_offset"]),
            message=str(body["message"]),
            runs=tuple(body.get("runs", ())),
            code=as_object(body.get("code", {}), "commit code"),
        )

    def check(self) -> None:
        _require_id(self.tree, "commit tree")
        for parent in self.parents:
            _require_id(parent, "commit parent")
        for run in self.runs:
            _require_id(run, "commit run")

    @property
    def summary(self) -> str:
        return self.message.splitlines()[0] if self.message else ""


OBJECT_TYPES: dict[str, type[StoredObject]] = {
    cls.TYPE: cls for cls in (FileManifest, Tree, Commit)
}


def object_type(data: bytes) -> str | None:
    """The ``type`` field of a metadata object, or None when it is not one."""
    try:
        doc = loads(data)
    except FormatError:
        return None
    return doc.get("type") if isinstance(doc, dict) else None
