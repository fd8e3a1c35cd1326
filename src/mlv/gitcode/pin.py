"""The pin, ``mlv.lock``: the mlv commit and top-level ids that go with the code, at the
project root (the write lock is another thing: ``mlv.repo.locking``)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlv.core.crashpoints import crash_point
from mlv.core.paths import TreeGate, read_text_file
from mlv.errors import FormatError, InvalidArgumentError, NotFoundError
from mlv.repo.files import atomic_write
from mlv.repo.refnames import HEADS
from mlv.repo.results import CheckoutResult

if TYPE_CHECKING:
    from mlv.repo.protocols import Lock, ObjectReader, RefReader, RevisionResolver

PIN_FILE = "mlv.lock"
PIN_FORMAT = 1
HEADER = (
    "# mlv.lock: the data that goes with this code. Written by mlv commit; restore with mlv sync.\n"
)
# Names made only of these characters are written bare; any other, and any a YAML
# reader would take for a boolean or null, is a JSON string: YAML reads it as a
# double-quoted scalar, so the file loads as the same mapping there.
_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_.+/-]*")
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null"})
_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Pin:
    """An mlv commit id and, by top-level tracked name, the id of each (file or tree)."""

    commit: str
    paths: dict[str, str] = field(default_factory=dict)

    def to_text(self) -> str:
        lines = [HEADER, f"format: {PIN_FORMAT}\n", f"commit: {self.commit}\n", "paths:\n"]
        # Sorted by UTF-8 bytes, as trees are: the order never depends on the platform.
        for name in sorted(self.paths, key=lambda n: n.encode("utf-8")):
            bare = _BARE.fullmatch(name) and name.lower() not in _YAML_WORDS
            shown = name if bare else json.dumps(name, ensure_ascii=False)
            lines.append(f"  {shown}: {self.paths[name]}\n")
        return "".join(lines)

    @classmethod
    def from_text(cls, text: str) -> Pin:
        fields: dict[str, str] = {}
        paths: dict[str, str] = {}
        in_paths = False
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.rstrip()
            if not line or line.lstrip().startswith("#"):
                continue
            if in_paths and line.startswith("  "):
                name, value = _entry(line.strip(), number)
                paths[name] = value
                continue
            key, sep, value = line.partition(":")
            if not sep or key not in ("format", "commit", "paths"):
                raise FormatError(f"{PIN_FILE} line {number}: expected format, commit or paths")
            in_paths = key == "paths"
            fields[key] = value.strip()
        if fields.get("format") != str(PIN_FORMAT):
            raise FormatError(
                f"{PIN_FILE} has format {fields.get('format') or 'none'}; "
                f"this mlv reads format {PIN_FORMAT}"
            )
        commit = fields.get("commit", "")
        if not _ID.fullmatch(commit):
            raise FormatError(f"{PIN_FILE} names no valid commit id")
        for name, value in paths.items():
            if not _ID.fullmatch(value):
                raise FormatError(f"{PIN_FILE}: {name} has no valid id")
        return cls(commit, paths)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _entry(text: str, number: int) -> tuple[str, str]:
    if text.startswith('"'):
        try:
            name, end = json.JSONDecoder().raw_decode(text)
        except ValueError:
            raise FormatError(f"{PIN_FILE} line {number}: a badly quoted path") from None
        rest = text[end:]
    else:
        name, sep, value = text.rpartition(": ")
        if not sep:
            raise FormatError(f"{PIN_FILE} line {number}: expected 'path: id'")
        rest = ": " + value
    if not rest.startswith(": "):
        raise FormatError(f"{PIN_FILE} line {number}: expected 'path: id'")
    return str(name), rest[2:].strip()


class Switcher(Protocol):
    """What ``sync`` moves the working tree and HEAD with: the core repository's ``checkout``."""

    def checkout(self, rev: str, *, force: bool = False) -> CheckoutResult: ...


def pin_path(root: Path) -> Path:
    return root / PIN_FILE


def pin_for(objects: ObjectReader, revisions: RevisionResolver, rev: str = "HEAD") -> Pin:
    """The pin that describes ``rev``: its id and the id of each top-level entry."""
    commit_id = revisions.resolve(rev)
    tree = objects.tree(objects.read_commit(commit_id).tree)
    return Pin(commit_id, {e.name: e.id for e in tree.entries})


def read_pin(root: Path) -> Pin | None:
    """The ``mlv.lock`` of the project at ``root``, or None when there is none."""
    text = read_text_file(pin_path(root), "remove it and run 'mlv lock'")
    if text is None:
        return None
    return Pin.from_text(text)


def write_pin(
    root: Path, *, objects: ObjectReader, revisions: RevisionResolver, refs: RefReader
) -> Path:
    """Write ``mlv.lock`` for HEAD (atomically, and only when it changes); return its path."""
    if refs.head().commit is None:
        raise InvalidArgumentError("nothing committed yet: run 'mlv commit' before 'mlv lock'")
    path = TreeGate(root).full(PIN_FILE)
    if path.is_dir() and not path.is_symlink():
        raise InvalidArgumentError(
            f"{PIN_FILE} is a folder: move it away so mlv can write the file"
        )
    data = pin_for(objects, revisions).to_text().encode("utf-8")
    try:
        # A symlink is replaced, never written through (os.replace renames over the link).
        unchanged = not path.is_symlink() and path.read_bytes() == data
    except FileNotFoundError:
        unchanged = False
    if not unchanged:
        crash_point("pin.before-write")
        atomic_write(path, data)
    return path


def pin_is_current(
    root: Path, *, objects: ObjectReader, revisions: RevisionResolver, refs: RefReader
) -> bool:
    """Whether ``mlv.lock`` names HEAD and its paths.

    With no ``mlv.lock`` it is current only when there is nothing it should hold:
    no commit yet, or a project outside git that never wrote one.
    """
    from mlv.gitcode.gitrepo import find_git

    head = refs.head().commit
    pin = read_pin(root)
    if pin is None:
        return head is None or find_git(root) is None
    return head is not None and pin == pin_for(objects, revisions)


def keeps_pin(root: Path) -> bool:
    """Whether ``mlv commit`` maintains ``mlv.lock``: inside git, or once one exists."""
    from mlv.gitcode.gitrepo import find_git

    return pin_path(root).exists() or find_git(root) is not None


@dataclass
class SyncResult:
    """What ``mlv sync`` did: the commit it moved to and the files it wrote or removed."""

    commit: str
    moved: bool
    checkout: CheckoutResult

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "moved": self.moved, **self.checkout.to_json()}


def sync(
    root: Path,
    *,
    objects: ObjectReader,
    refs: RefReader,
    lock: Lock,
    switcher: Switcher,
    force: bool = False,
) -> SyncResult:
    """Make the working tree's data match ``mlv.lock``: check out the commit it names.

    HEAD stays on its branch when the branch already points there, or moves onto a
    branch that does; otherwise it is detached at the commit. ``lock`` is the write
    lock, held throughout; ``switcher`` does the checkout.
    """
    pin = read_pin(root)
    if pin is None:
        raise NotFoundError(f"no {PIN_FILE} at {root}: write one with 'mlv lock'")
    with lock:
        if not objects.has(pin.commit):
            raise NotFoundError(
                f"{PIN_FILE} names commit {pin.commit[:12]}, which this repository lacks"
            )
        head = refs.head()
        branches = refs.list(HEADS)
        if head.branch is not None and branches.get(head.branch) == pin.commit:
            rev = head.branch
        else:
            rev = next((b for b, c in sorted(branches.items()) if c == pin.commit), pin.commit)
        result = switcher.checkout(rev, force=force)
    return SyncResult(pin.commit, head.commit != pin.commit, result)
