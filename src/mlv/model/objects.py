"""One class per stored object type: canonical bytes in and out, a lazy id, ``check()``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, NamedTuple, Self

from mlv.core.hashing import hash_bytes
from mlv.core.paths import name_problem
from mlv.errors import FormatError, UnsafePathError, UnsupportedVersionError
from mlv.model.canonical import dumps, explain, loads
from mlv.model.fields import (
    MAX_SIZE,
    require_id,
    require_ids,
    require_int,
    require_list,
    require_object,
    require_size,
    require_str,
)

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
        """Decode an object, accepting its canonical bytes only.

        Bytes that decode but are not what encoding the object gives back (other white
        space, key order, number spelling or escapes, a field missing, unknown or of
        another JSON type) would be an object whose id is not the hash of its bytes:
        they are refused as damaged, with a ``FormatError``.
        """
        doc = loads(data)
        if not isinstance(doc, dict) or doc.get("type") != cls.TYPE:
            found = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
            raise FormatError(f"expected a {cls.TYPE} object, found {found!r}")
        version = doc.get("format")
        # JSON true and 1.0 both equal 1 in Python: only the integer is a format version.
        if "format" in doc and type(version) is not int:
            raise FormatError(
                f"{cls.TYPE} object has format {json.dumps(version)}, not an integer; "
                "the object is damaged"
            )
        if version != cls.FORMAT:
            raise UnsupportedVersionError(
                f"{cls.TYPE} object has format {version!r}; this mlv reads format {cls.FORMAT}"
            )
        try:
            obj = cls.from_body(doc)
        except KeyError as exc:
            raise FormatError(f"malformed {cls.TYPE} object: no field {exc.args[0]!r}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise FormatError(f"malformed {cls.TYPE} object: {exc!r}") from None
        obj.check()
        try:
            encoded: bytes | None = obj.to_bytes()
        except (TypeError, ValueError):
            encoded = None
        if encoded != data:
            raise FormatError(
                f"{cls.TYPE} object is not in canonical form ({explain(data, encoded)}); "
                "the object is damaged: run 'mlv fsck'"
            )
        return obj


# The name the other object modules have imported since before ``fields`` existed.
_require_id = require_id


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
        chunks = require_list(body["chunks"], "file manifest chunks")
        pairs = [require_list(c, "file manifest chunk") for c in chunks]
        return cls(body["size"], tuple((c, n) for c, n in pairs))

    def check(self) -> None:
        require_size(self.size, "file manifest size")
        for chunk_id, length in self.chunks:
            require_id(chunk_id, "chunk")
            if require_size(length, f"length of chunk {chunk_id}") == 0:
                raise FormatError(f"chunk {chunk_id} has length {length}")
        if sum(n for _, n in self.chunks) != self.size:
            raise FormatError("file manifest chunk lengths do not add up to its size")


class TreeEntry(NamedTuple):
    """One entry of a tree. A named tuple: trees of 100,000 entries are built often.

    ``profile`` is read, never written: trees of repository format 1 carried a
    table's profile id in its entry, which made a folder's id depend on whether
    profiling was on. Format 2 names profiles from the commit (``Commit.profiles``),
    and keeps the old trees, and so their ids, as they are.
    """

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
        # No coercion: Tree.check refuses a field of the wrong JSON type, and an
        # ``"exec": false`` or ``"profile": null`` would not encode back the same.
        return cls(
            name=doc["name"],
            kind=doc["kind"],
            id=doc["id"],
            size=doc["size"],
            executable=doc.get("exec", False),
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
        entries = require_list(body["entries"], "tree entries")
        return cls(tuple(TreeEntry.from_json(require_object(e, "tree entry")) for e in entries))

    def check(self) -> None:
        previous = b""
        for entry in self.entries:
            if not isinstance(entry.name, str):
                raise FormatError(f"tree entry name {entry.name!r} is not a string")
            check_entry_name(entry.name)
            if entry.kind not in ENTRY_KINDS:
                raise FormatError(f"tree entry {entry.name!r} has unknown kind {entry.kind!r}")
            if type(entry.size) is not int or not 0 <= entry.size <= MAX_SIZE:
                raise FormatError(f"tree entry {entry.name!r} has impossible size {entry.size!r}")
            if type(entry.executable) is not bool:
                raise FormatError(f"tree entry {entry.name!r} has exec {entry.executable!r}")
            require_id(entry.id, f"tree entry {entry.name!r}")
            if entry.profile is not None:
                require_id(entry.profile, f"profile of {entry.name!r}")
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
    # The profile map (``ProfileMap``) of the tables this commit holds first; only
    # written when there is one, so a commit without tables has the bytes it had in
    # format 1.
    profiles: str | None = None

    def body(self) -> dict[str, Any]:
        body = {
            "tree": self.tree,
            "parents": list(self.parents),
            "author": {"name": self.author.name, "email": self.author.email},
            "time": self.time,
            "tz_offset": self.tz_offset,
            "message": self.message,
            "runs": list(self.runs),
            "code": self.code,
        }
        if self.profiles is not None:
            body["profiles"] = self.profiles
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Commit:
        author = require_object(body["author"], "commit author")
        return cls(
            tree=body["tree"],
            parents=require_ids(body["parents"], "commit parent"),
            author=Person(author["name"], author["email"]),
            time=body["time"],
            tz_offset=body["tz_offset"],
            message=body["message"],
            runs=require_ids(body["runs"], "commit run"),
            code=require_object(body["code"], "commit code"),
            profiles=body.get("profiles"),
        )

    def check(self) -> None:
        require_id(self.tree, "commit tree")
        for parent in self.parents:
            require_id(parent, "commit parent")
        require_str(self.author.name, "commit author name")
        require_str(self.author.email, "commit author email")
        require_int(self.time, "commit time")
        require_int(self.tz_offset, "commit tz_offset")
        require_str(self.message, "commit message")
        for run in self.runs:
            require_id(run, "commit run")
        require_object(self.code, "commit code")
        if self.profiles is not None:
            require_id(self.profiles, "commit profiles")

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
