"""Refs and HEAD: small text files holding a commit id, replaced atomically, with a reflog."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from mlv.core.hashing import is_object_id
from mlv.errors import FormatError, InvalidArgumentError, MlvError
from mlv.repo.files import atomic_write
from mlv.repo.layout import Layout

HEADS = "refs/heads/"
TAGS = "refs/tags/"
SYMREF_PREFIX = "ref: "
# The old id a reflog line records when a ref is created.
ZERO_ID = "0" * 64
_BAD_REF_CHARS = re.compile(r"[\x00-\x20~^:?*\[\\\x7f]")


class RefConflictError(MlvError):
    """A ref moved under us: someone else updated it since we read it."""


def check_ref_name(short: str, what: str = "branch") -> None:
    """Refuse names git would refuse, so refs stay portable and unambiguous."""
    if (
        not short
        or short.startswith(("-", "/"))
        or short.endswith(("/", ".", ".lock"))
        or ".." in short
        or "//" in short
        or "@{" in short
        or short in ("@", "HEAD")
        or _BAD_REF_CHARS.search(short)
        or any(part.startswith(".") or part.endswith(".lock") for part in short.split("/"))
    ):
        raise InvalidArgumentError(f"{short!r} is not a valid {what} name")


@dataclass(frozen=True)
class Head:
    """What HEAD points at: a branch (``ref`` set) or a detached commit."""

    ref: str | None
    commit: str | None

    @property
    def branch(self) -> str | None:
        return self.ref[len(HEADS) :] if self.ref and self.ref.startswith(HEADS) else None


class RefStore:
    """Reads and writes refs; the caller holds the repository lock for writes."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def _path(self, name: str) -> Path:
        return self.layout.mlv / name

    def read(self, name: str) -> str | None:
        try:
            text = self._path(name).read_text(errors="replace").strip()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        if not is_object_id(text):
            raise FormatError(f"ref {name} is damaged: {text[:80]!r} is not a commit id")
        return text

    def head(self) -> Head:
        text = self.layout.head.read_text(errors="replace").strip()
        if text.startswith(SYMREF_PREFIX):
            ref = text[len(SYMREF_PREFIX) :]
            return Head(ref, self.read(ref))
        if not is_object_id(text):
            raise FormatError(f"HEAD is damaged: {text[:80]!r}")
        return Head(None, text)

    def set_head_ref(self, ref: str) -> None:
        atomic_write(self.layout.head, f"{SYMREF_PREFIX}{ref}\n".encode())

    def set_head_detached(self, commit: str, who: str = "", message: str = "") -> None:
        old = self.head().commit
        atomic_write(self.layout.head, f"{commit}\n".encode())
        self._log("HEAD", old, commit, who, message)

    def update(
        self,
        name: str,
        new: str,
        expected_old: str | None,
        who: str = "",
        message: str = "",
    ) -> None:
        """Point ``name`` at ``new`` if it still points at ``expected_old``."""
        current = self.read(name)
        if current != expected_old:
            raise RefConflictError(
                f"{name} moved from {expected_old} to {current} while this command ran; "
                "run it again"
            )
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, f"{new}\n".encode())
        self._log(name, current, new, who, message)

    def update_head(self, new: str, who: str = "", message: str = "") -> None:
        """Advance whatever HEAD points at (its branch, or HEAD itself when detached)."""
        head = self.head()
        if head.ref:
            self.update(head.ref, new, head.commit, who, message)
        else:
            self.set_head_detached(new, who, message)

    def delete(self, name: str) -> None:
        path = self._path(name)
        path.unlink()
        for parent in path.parents:
            if parent == self.layout.refs:
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def list(self, prefix: str, *, skip_damaged: bool = False) -> dict[str, str]:
        """Refs under ``prefix`` (e.g. ``refs/heads/``), by short name.

        A damaged ref raises ``FormatError`` unless ``skip_damaged``.
        """
        base = self._path(prefix)
        found: dict[str, str] = {}
        if not base.is_dir():
            return found
        for dirpath, _dirs, files in os.walk(base):
            for filename in files:
                if filename.startswith("."):
                    continue
                full = Path(dirpath) / filename
                short = full.relative_to(base).as_posix()
                try:
                    commit = self.read(prefix + short)
                except FormatError:
                    if not skip_damaged:
                        raise
                    continue
                if commit:
                    found[short] = commit
        return dict(sorted(found.items()))

    def reflog_ids(self) -> set[str]:
        """Every commit id any reflog mentions (kept alive by a future gc)."""
        ids: set[str] = set()
        if not self.layout.logs.is_dir():
            return ids
        for dirpath, _dirs, files in os.walk(self.layout.logs):
            for filename in files:
                text = (Path(dirpath) / filename).read_text(encoding="utf-8", errors="replace")
                for line in text.splitlines():
                    ids.update(p for p in line.split(" ", 2)[:2] if is_object_id(p))
        ids.discard(ZERO_ID)  # "no commit": the old side of a ref's creation
        return ids

    def _log(self, name: str, old: str | None, new: str, who: str, message: str) -> None:
        path = self.layout.logs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        line = f"{old or ZERO_ID} {new} {who} {int(time.time())}\t{message}\n"
        # One short append: atomic on local file systems, and a torn last line is ignored.
        with open(path, "a", encoding="utf-8") as f:
            f.write(line.replace("\n", " ", line.count("\n") - 1))
