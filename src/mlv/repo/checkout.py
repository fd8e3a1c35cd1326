"""Writing tree content into a working tree in two phases, so a refused or failed one changes
nothing.

Phase one checks every path, every symlink and everything in the way, then
reads every object (verifying it against its id) into a temporary file beside
its target (`.<name>.mlv-<token>.tmp`, one token per checkout). Only when all
of that has worked does phase two remove and rename files into place. A
damaged object, an unsafe name or a folder in the way therefore stops a
checkout before any file of the working tree has changed; the temporaries and
the folders made for them are removed again.

Before phase one, a journal in `.mlv/tmp` names the token and the folders the
temporaries go to: whatever a killed checkout left there is removed by the
next one (:func:`clear_leftovers`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from mlv.core.paths import (
    TreeGate,
    check_relpath,
    check_symlink_target,
    lstat_or_none,
    open_folder,
    read_regular_file,
    temporary_name,
)
from mlv.errors import (
    FormatError,
    InvalidArgumentError,
    UncommittedChangesError,
    UnsafePathError,
)
from mlv.repo.blobs import iter_content, read_content
from mlv.repo.files import atomic_write
from mlv.repo.staging import Staged, trusted_mtime
from mlv.repo.trees import Entry
from mlv.repo.worktree import KIND_SYMLINK, stat_of
from mlv.store.objectstore import ObjectStore

WRITE_WORKERS = 4
PARALLEL_WRITE_MIN = 64
# Journals under `.mlv/tmp`: one per checkout in progress (docs/format.md).
JOURNAL_PREFIX = "checkout-"
JOURNAL_SUFFIX = ".journal"

# Kept here for the modules that check paths and symlinks before core.paths existed.
check_path = check_relpath
__all__ = ["Materialiser", "check_path", "check_symlink_target", "clear_leftovers"]


def clear_leftovers(root: Path, tmp_dir: Path) -> int:
    """Remove the temporaries that checkouts killed mid-way left in the working tree.

    Each journal in ``tmp_dir`` names a token and folders; files there named with
    that token are mlv's own. The caller holds the repository lock, so no journal
    belongs to a checkout still running. Returns how many files were removed.
    """
    try:
        journals = [p for p in tmp_dir.iterdir() if p.name.startswith(JOURNAL_PREFIX)]
    except FileNotFoundError:
        return 0
    removed = 0
    for journal in journals:
        try:
            doc = json.loads(read_regular_file(journal))
            token, folders = str(doc["token"]), [str(f) for f in doc["folders"]]
        except (OSError, ValueError, KeyError, TypeError):
            token, folders = "", []
        complete = True
        if _TOKEN.fullmatch(token):
            count, complete = _remove_temporaries(TreeGate(root), token, folders)
            removed += count
        if complete:
            # Kept otherwise: a folder that is not one now (a symlink in its place) may
            # be one again at the next checkout, and its temporaries must go then.
            journal.unlink(missing_ok=True)
    return removed


_TOKEN = re.compile(r"[0-9a-f]{12}")


def _remove_temporaries(gate: TreeGate, token: str, folders: Iterable[str]) -> tuple[int, bool]:
    """Delete the files named ``.<name>.mlv-<token>.tmp`` in ``folders``, through the gate.

    Returns how many were removed, and whether every folder could be looked at (a
    folder that is gone holds nothing of ours; one behind a symlink may, later).
    """
    suffix = f".mlv-{token}.tmp"
    removed = 0
    complete = True
    for folder in folders:
        try:
            base = gate.folder(folder) if folder else gate.root
            names = [n for n in os.listdir(base) if n.startswith(".") and n.endswith(suffix)]
        except UnsafePathError:
            complete = complete and lstat_or_none(gate.root / folder) is None
            continue
        except OSError:
            complete = False
            continue
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base / name)
                removed += 1
    return removed, complete


class Materialiser:
    """Writes and removes working tree files for checkout, restore, merge and workspaces.

    ``journal_dir`` (a repository's `.mlv/tmp`) keeps the journal of each checkout
    in progress; a workspace outside any repository needs none.
    """

    def __init__(self, root: Path, store: ObjectStore, journal_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.store = store
        self.gate = TreeGate(self.root)
        self.journal_dir = journal_dir

    # -- phase one: check -----------------------------------------------------------

    def validate(self, writes: dict[str, Entry], removes: Iterable[str] = ()) -> None:
        """Check every path, symlink and obstacle before anything is written."""
        removing = set(removes)
        for path in removing:
            check_relpath(path)
        checked: set[str] = set()
        for path, entry in writes.items():
            check_relpath(path)
            if entry.kind == KIND_SYMLINK:
                target = os.fsdecode(read_content(self.store, entry.id))
                check_symlink_target(path, target)
            folder = path.rpartition("/")[0]
            if folder not in checked:
                self._check_parents(path, removing)
                checked.add(folder)
            self._check_not_in_the_way(path, removing)
        self._check_writable({p.rpartition("/")[0] for p in (*writes, *removing)})

    def _check_writable(self, folders: set[str]) -> None:
        """Each folder a file is created, renamed or removed in (or the nearest one that
        exists, where the others are made) must let us write: found now, not half-way."""
        nearest: set[Path] = set()
        for folder in folders:
            current = self.root / folder
            while current != self.root and not current.is_dir():
                current = current.parent
            nearest.add(current)
        for place in sorted(nearest):
            if not os.access(place, os.W_OK | os.X_OK):
                shown = place.relative_to(self.root).as_posix() or "the repository root"
                raise InvalidArgumentError(
                    f"cannot write in {shown}: permission denied; "
                    "give yourself write permission there and run the command again"
                )

    def _check_parents(self, path: str, removing: set[str]) -> None:
        """Each folder above ``path`` must be a real folder, absent, or something removed first."""
        self.gate.check_parents(
            path, removing, advice="move the symlink away and run the command again"
        )

    def _check_not_in_the_way(self, path: str, removing: set[str]) -> None:
        """A real folder where ``path`` goes must hold only files the checkout removes."""
        current = self.root
        for part in path.split("/")[:-1]:
            current = current / part
            above = lstat_or_none(current)
            if above is None or not stat.S_ISDIR(above.st_mode):
                return  # reached through a symlink phase two removes: another path's folder
        st = lstat_or_none(self.root / path)
        if st is None or not stat.S_ISDIR(st.st_mode):
            return
        full = self.root / path
        for base, dirs, names in os.walk(full):
            # A symlink to a folder is listed with the folders; it is an entry to remove.
            links = [d for d in dirs if os.path.islink(os.path.join(base, d))]
            for name in [*names, *links]:
                rel = Path(base, name).relative_to(self.root).as_posix()
                if rel not in removing:
                    raise UncommittedChangesError(
                        f"a folder is in the way of {path} (it holds {rel}); "
                        "move it away or commit it first"
                    )

    # -- both phases ------------------------------------------------------------------

    def apply(
        self,
        writes: dict[str, Entry],
        removes: list[str],
        advance: Callable[[int], None] | None = None,
    ) -> dict[str, Staged]:
        """Check, write every file to a temporary, then remove and rename into place.

        Returns the staged entries (with stat) of what was written. Temporaries
        are written on a few threads, one target folder per thread at a time:
        creating a file waits on the file system's journal more than on the CPU,
        so creators in different folders overlap their waits.
        """
        self.validate(writes, removes)
        if not writes:
            self._remove_all(removes)
            return {}
        token = os.urandom(6).hex()
        places = self._places(writes, set(removes))
        folders = sorted(set(places.values()))
        journal = self._write_journal(token, folders)
        made: list[Path] = []
        try:
            temporaries = self._write_temporaries(writes, places, token, made, advance)
        except BaseException:
            _remove_temporaries(self.gate, token, folders)
            _remove_empty(made)
            self._drop_journal(journal)
            raise
        self._remove_all(removes)
        staged = self._move_into_place(writes, temporaries)
        self._drop_journal(journal)
        return staged

    def _places(self, writes: dict[str, Entry], removing: set[str]) -> dict[str, str]:
        """Where each path's temporary goes: its own folder, or, while something that
        phase two removes stands in the way of that folder, the nearest folder above."""
        places: dict[str, str] = {}
        known: dict[str, str] = {}
        for path in writes:
            folder = path.rpartition("/")[0]
            place = known.get(folder)
            if place is None:
                place = known[folder] = self._place_for(folder)
            places[path] = place
        return places

    def _place_for(self, folder: str) -> str:
        reached = ""
        for part in folder.split("/") if folder else []:
            candidate = f"{reached}/{part}" if reached else part
            st = lstat_or_none(self.root / candidate)
            if st is None:
                return folder  # the rest is made in phase one
            if not stat.S_ISDIR(st.st_mode):
                return reached  # a file or symlink that phase two removes
            reached = candidate
        return folder

    def _write_journal(self, token: str, folders: list[str]) -> Path | None:
        if self.journal_dir is None:
            return None
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        journal = self.journal_dir / f"{JOURNAL_PREFIX}{token}{JOURNAL_SUFFIX}"
        # JSON: a folder's name may hold a newline.
        atomic_write(journal, json.dumps({"token": token, "folders": folders}).encode("utf-8"))
        return journal

    def _drop_journal(self, journal: Path | None) -> None:
        if journal is not None:
            journal.unlink(missing_ok=True)

    def _write_temporaries(
        self,
        writes: dict[str, Entry],
        places: dict[str, str],
        token: str,
        made: list[Path],
        advance: Callable[[int], None] | None,
    ) -> dict[str, Path]:
        """Read every object into its temporary: the phase where damage shows."""
        self.store.prefetch(entry.id for entry in writes.values())
        by_place: dict[str, list[tuple[str, Entry]]] = {}
        for path, entry in sorted(writes.items()):
            by_place.setdefault(places[path], []).append((path, entry))
        for place in by_place:
            made.extend(self._make_folder(place))

        def write_folder(place: str) -> list[tuple[str, Path]]:
            base = self.root / place
            done = []
            folder_fd = open_folder(self.root, place)
            try:
                for index, (path, entry) in enumerate(by_place[place]):
                    # Numbered: files of several folders may wait in one place.
                    name = temporary_name(f"{index}-{path.rpartition('/')[2]}", token)
                    self._write_temporary(folder_fd, name, entry, path)
                    done.append((path, base / name))
                    if advance is not None:
                        advance(entry.size)
            finally:
                os.close(folder_fd)
            return done

        if len(by_place) <= 1 or len(writes) < PARALLEL_WRITE_MIN:
            return {p: t for place in by_place for p, t in write_folder(place)}
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(WRITE_WORKERS) as pool:
            return {p: t for done in pool.map(write_folder, by_place) for p, t in done}

    def _make_folder(self, folder: str) -> list[Path]:
        """Make ``folder`` (through the gate); return the topmost folder made, if any."""
        current = self.root
        for part in folder.split("/") if folder else []:
            current = current / part
            if not os.path.lexists(current):
                self.gate.make_folder(folder)
                return [current]
        return []

    def _write_temporary(self, folder_fd: int, name: str, entry: Entry, path: str) -> None:
        if entry.kind == KIND_SYMLINK:
            os.symlink(os.fsdecode(read_content(self.store, entry.id)), name, dir_fd=folder_fd)
            return
        mode = 0o777 if entry.executable else 0o666
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(name, flags, mode, dir_fd=folder_fd)
        written = 0
        try:
            for block in iter_content(self.store, entry.id):
                _write_fully(fd, block)
                written += len(block)
        finally:
            os.close(fd)
        if written != entry.size:
            # The content is right (verified against its id); the tree that names it is not.
            raise FormatError(
                f"the tree entry of {path} says {entry.size} bytes, its content has {written}: "
                "the commit is damaged; run 'mlv fsck'"
            )

    # -- phase two: change the working tree ---------------------------------------

    def _remove_all(self, removes: Iterable[str]) -> None:
        for path in removes:
            self._remove_one(path)

    def _remove_one(self, path: str) -> None:
        """Delete a tracked file or symlink; a path reached only through something else is
        not the tracked file, and neither is a folder now standing there: both are left."""
        folder, _, name = path.rpartition("/")
        try:
            folder_fd = open_folder(self.root, folder)
        except (UnsafePathError, FileNotFoundError):
            return
        try:
            try:
                st = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
            except FileNotFoundError:
                return
            if stat.S_ISDIR(st.st_mode):
                return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=folder_fd)
        finally:
            os.close(folder_fd)
        self._prune_empty_parents(path)

    def _move_into_place(
        self, writes: dict[str, Entry], temporaries: dict[str, Path]
    ) -> dict[str, Staged]:
        staged: dict[str, Staged] = {}
        fds = _FolderFds(self.root)
        try:
            for path, entry in sorted(writes.items()):
                folder, _, name = path.rpartition("/")
                if folder not in fds:
                    self.gate.make_parents(path)
                full = self.root / path
                _clear_empty_folder(full)
                tmp = temporaries[path]
                place = tmp.parent.relative_to(self.root).as_posix()
                place = "" if place == "." else place
                # Both ends through folder fds: a folder swapped for a symlink since
                # phase one cannot send the file anywhere else.
                try:
                    os.replace(
                        tmp.name, name, src_dir_fd=fds.get(place), dst_dir_fd=fds.get(folder)
                    )
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    self._copy_into_place(tmp, full)
                st = os.stat(name, dir_fd=fds.get(folder), follow_symlinks=False)
                staged[path] = _staged_from(st, entry)
        finally:
            fds.close()
        return staged

    def _copy_into_place(self, tmp: Path, full: Path) -> None:
        """A target on another file system than the scratch folder: copy beside it, rename."""
        beside = full.with_name(temporary_name(full.name))
        try:
            if tmp.is_symlink():
                os.symlink(os.readlink(tmp), beside)
            else:
                shutil.copy2(tmp, beside)
            os.replace(beside, full)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(beside)
            raise

    def _prune_empty_parents(self, path: str) -> None:
        parent = (self.root / path).parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                return
            parent = parent.parent


def _remove_empty(folders: Iterable[Path]) -> None:
    """Remove the folders phase one made, and those below them, where they are empty."""
    for top in folders:
        for base, _dirs, _names in os.walk(top, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(base)


def _clear_empty_folder(full: Path) -> None:
    """Remove the empty folders left where a file goes (validate saw to it that they are)."""
    st = lstat_or_none(full)
    if st is None or not stat.S_ISDIR(st.st_mode):
        return
    for base, _dirs, _names in os.walk(full, topdown=False):
        os.rmdir(base)


class _FolderFds:
    """Open fds on the folders of a checkout's second phase, a few at a time."""

    LIMIT = 64

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fds: dict[str, int] = {}

    def __contains__(self, folder: str) -> bool:
        return folder in self._fds

    def get(self, folder: str) -> int:
        fd = self._fds.get(folder)
        if fd is None:
            if len(self._fds) >= self.LIMIT:
                self.close()
            fd = self._fds[folder] = open_folder(self.root, folder)
        return fd

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def _staged_from(st: os.stat_result, entry: Entry) -> Staged:
    info = stat_of(st)
    assert info is not None
    return Staged(
        entry.kind,
        entry.id,
        entry.size,
        entry.executable,
        trusted_mtime(info.mtime_ns),
        info.ino,
    )


def _write_fully(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
