"""Refs and HEAD: small text files holding a commit id, replaced atomically, with a reflog.

Every name passes ``ref_name_problem`` (mlv.repo.refnames) before it becomes a path, and
every path is reached without following a symlink (mlv.repo.confined), whether the name
came from a user, from HEAD or from a listing of ``refs/``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from mlv.core.crashpoints import crash_point
from mlv.core.hashing import is_object_id
from mlv.core.paths import is_temporary_name
from mlv.errors import (
    BlockedPathError,
    FormatError,
    InvalidArgumentError,
    MlvError,
    RefConflictError,
)
from mlv.repo.confined import FILE, FOLDER, ConfinedDir
from mlv.repo.layout import DEFAULT_BRANCH, HEAD_FILE, LOGS_DIR, REFS_DIR, Layout
from mlv.repo.refnames import (
    HEAD_LOG,
    HEADS,
    NAMESPACES,
    NOTES,
    REMOTES,
    TAGS,
    check_ref_name,
    head_target_problem,
    ref_name_problem,
    remote_name_problem,
    remote_ref,
    shown,
)

__all__ = [
    "HEADS",
    "NOTES",
    "REMOTES",
    "SYMREF_PREFIX",
    "TAGS",
    "ZERO_ID",
    "Head",
    "RefStore",
    "check_ref_name",
]

SYMREF_PREFIX = "ref: "
# The old id a reflog line records when a ref is created.
ZERO_ID = "0" * 64
# A ref holds 65 bytes and HEAD at most "ref: " and the longest name: anything longer is
# damage, and is never read whole.
MAX_REF_FILE = 2048
_ID_FIELD = re.compile(rb"[0-9a-f]{64}")
_LINE_BREAKS = re.compile(r"[\r\n]")


# (where, what is wrong): named here, since inside RefStore ``list`` is its method.
Problems = list[tuple[str, str]]
Names = list[str]


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
        self._files = ConfinedDir(layout.mlv)

    # -- reading -----------------------------------------------------------------

    def read(self, name: str) -> str | None:
        """The commit ref ``name`` (e.g. ``refs/heads/main``) holds; None when there is none.

        A name that cannot be a ref is never looked up: no ref has it.
        """
        if ref_name_problem(name):
            return None
        return self._read_ref(name)

    def head(self) -> Head:
        """HEAD, refused with ``FormatError`` when it does not name a valid branch or commit."""
        text = self._head_text()
        if text.startswith(SYMREF_PREFIX):
            ref = text[len(SYMREF_PREFIX) :]
            problem = head_target_problem(ref)
            if problem:
                raise self._damaged_head(
                    f"it points to {shown(ref)}, which is not a valid branch ref ({problem})"
                )
            return Head(ref, self._read_ref(ref))
        if not is_object_id(text):
            raise self._damaged_head(
                f"{shown(text)} is neither a commit id nor '{SYMREF_PREFIX}{HEADS}<branch>'"
            )
        return Head(None, text)

    def list(self, prefix: str, *, skip_damaged: bool = False) -> dict[str, str]:
        """Refs under ``prefix`` (one of ``NAMESPACES``), by short name (``origin/main``
        under ``refs/remotes/``).

        A damaged ref, or an entry that cannot be a ref, raises ``FormatError`` unless
        ``skip_damaged``. Hidden entries (a write's leftovers) are never refs.
        """
        found: dict[str, str] = {}
        if prefix not in NAMESPACES:
            return found
        try:
            entries = self._files.walk(prefix.rstrip("/"))
        except BlockedPathError:
            if skip_damaged:
                return found
            raise
        for short, kind in entries:
            if any(part.startswith(".") for part in short.split("/")):
                continue
            try:
                commit = self._read_listed(prefix + short, kind)
            except FormatError:
                if skip_damaged:
                    continue
                raise
            if commit:
                found[short] = commit
        return found

    def reflog_ids(self) -> set[str]:
        """Every commit id any reflog mentions (kept alive by a future gc).

        Lines that do not parse, such as a torn last line, give what ids they hold.
        """
        ids: set[str] = set()
        for rel, kind in self._files.walk(LOGS_DIR):
            path = f"{LOGS_DIR}/{rel}"
            if kind != FILE:
                raise BlockedPathError(path, kind, FILE)
            for line in (self._files.read(path) or b"").splitlines():
                ids.update(f.decode() for f in line.split(b" ", 2)[:2] if _ID_FIELD.fullmatch(f))
        ids.discard(ZERO_ID)  # "no commit": the old side of a ref's creation
        return ids

    def damage(self) -> Problems:
        """``(where, what is wrong)`` for HEAD and for every entry under ``refs/`` and
        ``logs/`` that mlv refuses to read: what fsck reports about refs."""
        problems: Problems = []
        try:
            head = self.head()
        except MlvError as exc:
            problems.append((HEAD_FILE, str(exc)))
        else:
            if head.ref and head.commit is None and (self.layout.mlv / head.ref).is_dir():
                # Not an unborn branch: a folder stands where its ref file belongs.
                problems.append(
                    (
                        head.ref,
                        f"HEAD's branch {head.branch} is a folder, not a ref, so every "
                        f"command sees no commit; move .mlv/{head.ref} away and write the "
                        f"branch's last commit id (see .mlv/logs/{head.ref}) in its place",
                    )
                )
        for top in (REFS_DIR, LOGS_DIR):
            try:
                entries = self._files.walk(top)
            except BlockedPathError as exc:
                problems.append((exc.rel, str(exc)))
                continue
            for rel, kind in entries:
                if is_temporary_name(rel.rsplit("/", 1)[-1]):
                    continue  # what an interrupted write left: harmless, and never a ref
                name = rel if top == LOGS_DIR else f"{REFS_DIR}/{rel}"
                try:
                    if top == REFS_DIR:
                        self._read_listed(name, kind)
                    elif kind != FILE:
                        raise BlockedPathError(f"{top}/{rel}", kind, FILE)
                    elif name != HEAD_LOG:
                        self._check_listed_name(f"{top}/{rel}", name)
                except FormatError as exc:
                    problems.append((f"{top}/{rel}", str(exc)))
        return problems

    # -- writing -----------------------------------------------------------------

    def set_head_ref(self, ref: str) -> None:
        problem = head_target_problem(ref)
        if problem:
            raise InvalidArgumentError(f"HEAD cannot point to {shown(ref)}: {problem}")
        self._files.write(HEAD_FILE, f"{SYMREF_PREFIX}{ref}\n".encode())

    def set_head_detached(self, commit: str, who: str = "", message: str = "") -> None:
        _check_id(commit)
        try:
            old = self.head().commit
        except FormatError:
            old = None  # rewriting a damaged HEAD is how it gets repaired
        self._files.write(HEAD_FILE, f"{commit}\n".encode())
        self._log(HEAD_LOG, old, commit, who, message)

    def update(
        self,
        name: str,
        new: str,
        expected_old: str | None,
        who: str = "",
        message: str = "",
    ) -> None:
        """Point ``name`` at ``new`` if it still points at ``expected_old``."""
        _check_writable(name)
        _check_id(new)
        current = self._read_ref(name)
        if current != expected_old:
            raise RefConflictError(
                f"{name} moved from {expected_old} to {current} while this command ran; "
                "run it again"
            )
        # Everything that could refuse comes before the ref moves: folders, then the reflog.
        try:
            self._files.prepare(name)
            self._log(name, current, new, who, message)
            crash_point("ref.after-reflog")
            self._files.write(name, f"{new}\n".encode())
        except BlockedPathError as exc:
            keep = _depth(_namespace(name))
            self._files.prune(name, keep)
            self._files.prune(f"{LOGS_DIR}/{name}", keep + 1)
            raise _in_the_way(name, exc) from None

    def update_head(self, new: str, who: str = "", message: str = "") -> None:
        """Advance whatever HEAD points at (its branch, or HEAD itself when detached)."""
        head = self.head()
        if head.ref:
            self.update(head.ref, new, head.commit, who, message)
        else:
            self.set_head_detached(new, who, message)

    def delete(self, name: str) -> None:
        """Remove the ref and the folders it leaves empty; its reflog stays."""
        _check_writable(name)
        self._files.remove(name, keep=_depth(_namespace(name)))

    # -- remote-tracking refs ----------------------------------------------------

    def remote_refs(self, remote: str, *, skip_damaged: bool = False) -> dict[str, str]:
        """Branch -> commit of the remote-tracking refs of ``remote``
        (``refs/remotes/<remote>/<branch>``)."""
        _check_remote(remote)
        prefix = f"{remote}/"
        return {
            short[len(prefix) :]: commit
            for short, commit in self.list(REMOTES, skip_damaged=skip_damaged).items()
            if short.startswith(prefix)
        }

    def rename_remote_refs(self, old: str, new: str) -> None:
        """Move every remote-tracking ref of ``old``, and every reflog under it, to ``new``.

        Refused with ``InvalidArgumentError`` when ``new`` already has refs. Each ref is
        written under its new name (reflog first, as ``update`` does) before the old one
        is removed, so an interruption leaves a ref under both names, never under none.
        """
        _check_remote(old)
        _check_remote(new)
        if old == new:
            return
        if self.remote_refs(new):
            raise InvalidArgumentError(
                f"cannot move the remote-tracking refs of {old!r} to {new!r}: "
                f"{REMOTES}{new}/ already holds refs; delete them first"
            )
        refs = self.remote_refs(old)
        logs = self._remote_logs(old)
        keep = _depth(REMOTES)
        for rel in logs:
            source = f"{LOGS_DIR}/{REMOTES}{old}/{rel}"
            target = f"{LOGS_DIR}/{remote_ref(new, rel)}"
            data = self._files.read(source) or b""
            # A reflog left by a ref deleted earlier is history too: appended, never lost.
            self._files.write(target, (self._files.read(target) or b"") + data)
        for branch, commit in refs.items():
            self._files.write(remote_ref(new, branch), f"{commit}\n".encode())
        for branch in refs:
            self._files.remove(remote_ref(old, branch), keep=keep)
        for rel in logs:
            self._files.remove(f"{LOGS_DIR}/{REMOTES}{old}/{rel}", keep=keep + 1)

    def delete_remote_refs(self, remote: str) -> dict[str, str]:
        """Delete every remote-tracking ref of ``remote`` and its reflogs (the remote is
        forgotten, as git does); return what they held, by branch."""
        _check_remote(remote)
        refs = self.remote_refs(remote)
        keep = _depth(REMOTES)
        for branch in refs:
            self._files.remove(remote_ref(remote, branch), keep=keep)
        for rel in self._remote_logs(remote):
            self._files.remove(f"{LOGS_DIR}/{REMOTES}{remote}/{rel}", keep=keep + 1)
        return refs

    def _remote_logs(self, remote: str) -> Names:
        """The branch names of the reflogs under ``logs/refs/remotes/<remote>/``; the
        leftovers of an interrupted write are not reflogs."""
        return [
            rel
            for rel, _ in self._files.walk(f"{LOGS_DIR}/{REMOTES}{remote}")
            if not any(part.startswith(".") for part in rel.split("/"))
        ]

    # -- helpers -----------------------------------------------------------------

    def _read_ref(self, name: str) -> str | None:
        try:
            data = self._files.read(name, MAX_REF_FILE + 1)
        except BlockedPathError as exc:
            if (exc.rel == name and exc.found == FOLDER) or (exc.rel != name and exc.found == FILE):
                return None  # the folder of feature/x for "feature", or a ref for "main/x"
            raise FormatError(f"ref {name} is damaged: {exc}") from None
        if data is None:
            return None
        text = data.decode("utf-8", "replace").strip()
        if len(data) > MAX_REF_FILE or not is_object_id(text):
            raise FormatError(f"ref {name} is damaged: {shown(text)} is not a commit id")
        return text

    def _read_listed(self, name: str, kind: str) -> str | None:
        """Read a ref found on disk: its name and kind are checked first."""
        if kind != FILE:
            raise FormatError(f"ref {shown(name)} is damaged: {BlockedPathError(name, kind, FILE)}")
        self._check_listed_name(name, name)
        return self._read_ref(name)

    @staticmethod
    def _check_listed_name(path: str, name: str) -> None:
        problem = ref_name_problem(name)
        if problem:
            raise FormatError(
                f"{shown('.mlv/' + path)} cannot be a ref: {problem}; "
                "move it out of .mlv, then run 'mlv fsck'"
            )

    def _head_text(self) -> str:
        try:
            data = self._files.read(HEAD_FILE, MAX_REF_FILE + 1)
        except BlockedPathError as exc:
            raise self._damaged_head(f".mlv/HEAD is {exc.found}") from None
        if data is None:
            raise self._damaged_head(".mlv/HEAD is missing")
        if len(data) > MAX_REF_FILE:
            raise self._damaged_head(f"it is longer than {MAX_REF_FILE} bytes")
        try:
            # ASCII white space only: a branch name may end in U+00A0, which str.strip eats.
            return data.decode("utf-8").strip(" \t\r\n")
        except UnicodeDecodeError:
            raise self._damaged_head("it is not UTF-8 text") from None

    def _damaged_head(self, why: str) -> FormatError:
        try:
            branches = self.list(HEADS, skip_damaged=True)
        except MlvError:
            branches = {}
        branch = DEFAULT_BRANCH if DEFAULT_BRANCH in branches or not branches else min(branches)
        if not branches:
            return FormatError(
                f"HEAD is damaged: {why}; make it name a branch again: write "
                f"'{SYMREF_PREFIX}{HEADS}{branch}' into {self.layout.head}"
            )
        return FormatError(
            f"HEAD is damaged: {why}; put it back on a branch with 'mlv switch {branch}', "
            f"or, to keep the working tree and stage as they are, write "
            f"'{SYMREF_PREFIX}{HEADS}{branch}' into {self.layout.head}"
        )

    def _log(self, name: str, old: str | None, new: str, who: str, message: str) -> None:
        if name != HEAD_LOG:
            _check_writable(name)
        who = who.replace("\t", " ")
        line = _LINE_BREAKS.sub(" ", f"{old or ZERO_ID} {new} {who} {int(time.time())}\t{message}")
        # One short append: atomic on local file systems, and a torn last line is ignored.
        # A name or message from a non-UTF-8 command line keeps its bytes as escapes.
        self._files.append(f"{LOGS_DIR}/{name}", (line + "\n").encode("utf-8", "backslashreplace"))


def _namespace(name: str) -> str:
    return next(ns for ns in NAMESPACES if name.startswith(ns))


def _depth(folder: str) -> int:
    return len(folder.strip("/").split("/"))


def _check_writable(name: str) -> None:
    problem = ref_name_problem(name)
    if problem:
        raise InvalidArgumentError(f"{shown(name)} is not a valid ref name: {problem}")


def _check_remote(remote: str) -> None:
    problem = remote_name_problem(remote)
    if problem:
        raise InvalidArgumentError(f"{shown(remote)} {problem}; choose another name")


def _check_id(commit: str) -> None:
    if not is_object_id(commit):
        raise InvalidArgumentError(f"{shown(commit)} is not a commit id")


def _in_the_way(name: str, exc: BlockedPathError) -> MlvError:
    """A ref or folder of refs where ``name`` needs the other is a name clash, not damage."""
    if {exc.found, exc.wanted} != {FILE, FOLDER}:
        return exc
    if exc.rel.startswith(LOGS_DIR + "/"):
        return InvalidArgumentError(
            f"cannot write the reflog of {name}: .mlv/{exc.rel} is in the way (the reflog of "
            "a ref deleted earlier); move it out of .mlv/logs and run the command again"
        )
    other = exc.rel if exc.found == FILE else exc.rel + "/..."
    return InvalidArgumentError(
        f"cannot create {name}: ref {other} exists, and a name cannot also be a folder of "
        "names; delete that ref or choose another name"
    )
