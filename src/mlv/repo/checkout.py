"""Writing tree content into a working tree, so that a refused or failed checkout changes
nothing and a killed one is finished by running it again.

This is one batch of paths; ``Switching._materialise`` cuts a large checkout into
batches, checks them all first and then writes them here one after another.

Phase one checks every path, every symlink and everything in the way, and sorts
each path into one of three kinds:

- a path in a folder the checkout makes (all of a restore of a deleted folder) is
  written into a copy of the topmost folder made, built in ``.mlv/tmp`` (which no
  scan ever reads), each file by one plain create; that folder is renamed into
  place once every file in it is written and verified. The cheapest way there is
  to make a file, and no reader sees any of it before it is whole.
- a path where nothing stands in a folder that exists is written *in place*: into
  an unnamed file of its folder (``O_TMPFILE``) that gets its name (``linkat``)
  only once all of its content is written and verified against its id. No reader,
  ``add`` included, ever sees it half-written, and a killed process leaves nothing
  behind: the kernel frees an unnamed file.
- a path that replaces something (a file, a symlink, an empty folder, or one
  reached through a file the checkout removes) is written to a temporary beside
  it (``.<n>-<name>.mlv-<token>.tmp``, one token per checkout), renamed over it
  in phase two.

A journal in ``.mlv/tmp`` names the token and the folders of the temporaries
before the first one is written, so whatever a killed checkout left there is
removed by the next one (:func:`clear_leftovers`), and so are the folders it was
building in ``.mlv/tmp``.

Then the files are written on one thread a core, a folder (or a slice of one) each. A
damaged object, or a file that appeared in the way meanwhile, stops the checkout
there: the files it named are unlinked again, its temporaries and the folders it
made removed, so the working tree is as it was. Only when every file is written
does phase two remove what the target lacks and rename the temporaries into place.
Where a file system has no ``O_TMPFILE``, every path takes the temporary's way.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from mlv.core.crashpoints import crash_point
from mlv.core.paths import (
    TreeGate,
    lstat_or_none,
    open_folder,
    temporary_name,
)
from mlv.errors import (
    FormatError,
    UncommittedChangesError,
    UnsafePathError,
)
from mlv.repo.blobs import content_blocks
from mlv.repo.checkout_journal import (
    JOURNAL_PREFIX,
    JOURNAL_SUFFIX,
    check_tmp_dir,
    remove_temporaries,
    scratch_folder,
)
from mlv.repo.checkout_plan import PROC_FD, TMPFILE_FLAGS, Planner, WriteItem
from mlv.repo.files import atomic_write
from mlv.repo.staging import Staged, trusted_mtime
from mlv.repo.trees import Entry
from mlv.store.objectstore import ObjectStore


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))  # what this process may run on
    return os.cpu_count() or 2


# Creating a file is kernel work (an inode, a folder entry, the journal), and each file
# also costs some Python, under the GIL: about one writer a core keeps the cores busy
# in the kernel, and more only queue for the GIL. Restoring 20,000 files on 2 idle
# cores, alternating: 2 writers 4.6 s, 3 5.0 s, 4 5.5 s (medians of 5 rounds); 4
# against 32, 6.1 s against 8.0 s (medians of 8). On cores shared with other work
# more threads win a larger share of them, which is no gain to the user.
WRITE_WORKERS = max(2, min(32, _usable_cores()))
PARALLEL_WRITE_MIN = 64
# A folder holding more files than this is written by several writers at once.
WRITE_SLICE = 256


class Materialiser:
    """Writes and removes working tree files for checkout, restore, merge and workspaces.

    ``journal_dir`` (a repository's `.mlv/tmp`) keeps the journal of each checkout
    in progress; a workspace outside any repository needs none.
    """

    def __init__(self, root: Path, store: ObjectStore, journal_dir: Path | None = None) -> None:
        self.root = Path(root)
        self._root = str(self.root)
        self.store = store
        self.gate = TreeGate(self.root)
        if journal_dir is not None:
            check_tmp_dir(journal_dir)
        self.journal_dir = journal_dir
        self.planner = Planner(self.root, store, self.gate, journal_dir)

    def validate(self, writes: dict[str, Entry], removes: Iterable[str] = ()) -> list[WriteItem]:
        """Phase one (``Planner.validate``): check everything, write nothing."""
        return self.planner.validate(writes, removes)

    # -- writing, then phase two --------------------------------------------------

    def apply(
        self,
        writes: dict[str, Entry],
        removes: list[str],
        advance: Callable[[int], None] | None = None,
    ) -> dict[str, Staged]:
        """Check, write every file (in place, or to a temporary), then remove and rename.

        Returns the staged entries (with stat) of what was written. Files are
        written on one thread a core (``WRITE_WORKERS``), a folder (or a slice of a
        large one) each: creating a file is kernel work outside the GIL, so writers
        on different cores overlap it.
        """
        items = self.validate(writes, removes)
        if not items:
            self._remove_all(removes)
            return {}
        # A partial clone brings what it lacks now, in bulk, not file by file.
        self.store.ensure_content(item.entry.id for item in items)
        token = os.urandom(6).hex()
        folders = sorted({item.place for item in items if not item.in_place})
        journal = self._write_journal(token, folders) if folders else None
        crash_point("checkout.after-journal")
        made: list[Path] = []
        named: list[tuple[str, str, int]] = []  # (folder, name, inode) of each file named
        try:
            written = self._write_files(items, token, made, named, advance)
        except BaseException:
            if self.journal_dir is not None:
                shutil.rmtree(scratch_folder(self.journal_dir, token), ignore_errors=True)
            self._unlink_named(named)
            remove_temporaries(self.gate, token, folders)
            _remove_empty(made)
            self._drop_journal(journal)
            raise
        crash_point("checkout.after-write")
        self._remove_all(removes)
        crash_point("checkout.after-remove")
        staged = self._move_into_place(items, written)
        crash_point("checkout.after-rename")
        self._drop_journal(journal)
        return staged

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

    def _write_files(
        self,
        items: list[WriteItem],
        token: str,
        made: list[Path],
        named: list[tuple[str, str, int]],
        advance: Callable[[int], None] | None,
    ) -> dict[str, os.stat_result | str]:
        """Read every object into its file: the phase where damage shows.

        Returns, for each path, the stat of the file named in place, or the name of
        its temporary. Each file named is added to ``named`` as soon as it is, so
        that a failure anywhere can take it away again.
        """
        # Temporaries first, then the files named in place: a process killed meanwhile
        # has changed nothing visible for as long as possible.
        # Each folder the checkout makes is built as a numbered folder of its scratch.
        tops = sorted({item.fresh for item in items if item.fresh})
        scratch = scratch_folder(self.journal_dir, token) if tops and self.journal_dir else None
        hidden = {top: f"{scratch}/{n}" for n, top in enumerate(tops)}
        by_place: dict[tuple[bool, str, int], list[tuple[int, WriteItem]]] = {}
        per_place: dict[tuple[bool, str], int] = {}
        for index, item in enumerate(items):
            # Where the file is written now: in a made folder, into its copy in the scratch.
            at = (
                item.in_place,
                hidden[item.fresh] + item.place[len(item.fresh) :] if item.fresh else item.place,
            )
            count = per_place[at] = per_place.get(at, 0) + 1
            key = (*at, (count - 1) // WRITE_SLICE)
            by_place.setdefault(key, []).append((index, item))
        for place in sorted({place for _, place in per_place}):
            if place.startswith("/"):  # in the scratch folder: the checkout's own
                os.makedirs(place, exist_ok=True)
            else:
                made.extend(self._make_folder(place))
        written: dict[str, os.stat_result | str] = {}
        failed = threading.Event()

        def write_place(key: tuple[bool, str, int]) -> None:
            place = key[1]
            group = by_place[key]
            # Per folder, on the writers' threads: the lookups overlap other files' writes.
            self.store.prefetch(item.entry.id for _, item in group)
            if place.startswith("/"):
                folder_fd = os.open(place, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            else:
                folder_fd = open_folder(self.root, place)
            try:
                for index, item in group:
                    if failed.is_set():
                        return
                    if item.fresh:
                        written[item.path] = self._write_fresh(folder_fd, item)
                    elif item.in_place:
                        st = self._write_named(folder_fd, item)
                        named.append((place, item.name, st.st_ino))
                        written[item.path] = st
                    else:
                        # Numbered: files of several folders may wait in one place.
                        tmp = temporary_name(f"{index}-{item.name}", token)
                        self._write_temporary(folder_fd, tmp, item)
                        written[item.path] = tmp
                    if advance is not None:
                        advance(item.entry.size)
            except BaseException:
                failed.set()
                raise
            finally:
                os.close(folder_fd)

        order = sorted(by_place)
        if len(order) <= 1 or len(items) < PARALLEL_WRITE_MIN:
            for key in order:
                write_place(key)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(WRITE_WORKERS) as pool:
                futures = [pool.submit(write_place, key) for key in order]
            # Every writer has stopped here, so ``named`` is complete for the caller's undo.
            for future in futures:
                error = future.exception()
                if error is not None:
                    raise error
        if scratch is not None:
            self._name_fresh_folders(items, hidden, written, made, named)
            os.rmdir(scratch)
        return written

    def _name_fresh_folders(
        self,
        items: list[WriteItem],
        hidden: dict[str, str],
        written: dict[str, os.stat_result | str],
        made: list[Path],
        named: list[tuple[str, str, int]],
    ) -> None:
        """Rename each folder built in the scratch, now whole, into place; anything
        that appeared there meanwhile refuses the checkout.

        Its files then count as named, so that a failure after this takes them away.
        """
        inside: dict[str, list[WriteItem]] = {}
        for item in items:
            if item.fresh:
                inside.setdefault(item.fresh, []).append(item)
        for top, built in sorted(hidden.items()):
            near, _, name = top.rpartition("/")
            folder_fd = open_folder(self.root, near)
            try:
                # rename() would put a folder over an empty one: look first.
                if lstat_or_none(f"{self._root}/{top}") is not None:
                    raise UncommittedChangesError(
                        f"{top} appeared while mlv was writing it; "
                        "move it away and run the command again"
                    )
                os.rename(built, name, dst_dir_fd=folder_fd)
            finally:
                os.close(folder_fd)
            made.append(self.root / top)
            for item in inside[top]:
                done = written[item.path]
                assert not isinstance(done, str)
                named.append((item.place, item.name, done.st_ino))

    def _make_folder(self, folder: str) -> list[Path]:
        """Make ``folder`` (through the gate); return the topmost folder made, if any."""
        current = self.root
        for part in folder.split("/") if folder else []:
            current = current / part
            if not os.path.lexists(current):
                self.gate.make_folder(folder)
                return [current]
        return []

    def _write_named(self, folder_fd: int, item: WriteItem) -> os.stat_result:
        """Write ``item`` unnamed in its folder and name it once complete; its stat."""
        try:
            if item.link_target is not None:
                os.symlink(item.link_target, item.name, dir_fd=folder_fd)
                return os.stat(item.name, dir_fd=folder_fd, follow_symlinks=False)
            mode = 0o777 if item.entry.executable else 0o666
            fd = os.open(".", TMPFILE_FLAGS, mode, dir_fd=folder_fd)
            try:
                self._write_content(fd, item)
                st = os.fstat(fd)
                # linkat fails where anything stands: nothing is ever replaced here.
                os.link(f"{PROC_FD}/{fd}", item.name, dst_dir_fd=folder_fd)
            finally:
                os.close(fd)
        except FileExistsError:
            raise UncommittedChangesError(
                f"{item.path} appeared while mlv was writing it; "
                "move it away and run the command again"
            ) from None
        return st

    def _write_fresh(self, folder_fd: int, item: WriteItem) -> os.stat_result:
        """Write ``item`` into a folder the checkout builds in its scratch; its stat."""
        if item.link_target is not None:
            os.symlink(item.link_target, item.name, dir_fd=folder_fd)
            return os.stat(item.name, dir_fd=folder_fd, follow_symlinks=False)
        mode = 0o777 if item.entry.executable else 0o666
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(item.name, flags, mode, dir_fd=folder_fd)
        try:
            self._write_content(fd, item)
            return os.fstat(fd)
        finally:
            os.close(fd)

    def _write_temporary(self, folder_fd: int, name: str, item: WriteItem) -> None:
        if item.link_target is not None:
            os.symlink(item.link_target, name, dir_fd=folder_fd)
            return
        mode = 0o777 if item.entry.executable else 0o666
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, mode, dir_fd=folder_fd)
        try:
            self._write_content(fd, item)
        finally:
            os.close(fd)

    def _write_content(self, fd: int, item: WriteItem) -> None:
        written = 0
        for block in content_blocks(self.store, item.entry.id):
            done = os.write(fd, block)
            if done < len(block):
                _write_fully(fd, memoryview(block)[done:])
            written += len(block)
        if written != item.entry.size:
            # The content is right (verified against its id); the tree that names it is not.
            raise FormatError(
                f"the tree entry of {item.path} says {item.entry.size} bytes, its content "
                f"has {written}: the commit is damaged; run 'mlv fsck'"
            )

    def _unlink_named(self, named: list[tuple[str, str, int]]) -> None:
        """Take away the files a failed checkout named: each one it made itself."""
        fds = _FolderFds(self.root)
        try:
            for folder, name, ino in named:
                with contextlib.suppress(OSError, UnsafePathError):
                    folder_fd = fds.get(folder)
                    if os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_ino == ino:
                        os.unlink(name, dir_fd=folder_fd)
        finally:
            fds.close()

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
        self, items: list[WriteItem], written: dict[str, os.stat_result | str]
    ) -> dict[str, Staged]:
        """Rename each temporary over its target; the staged entry of every path."""
        staged: dict[str, Staged] = {}
        fds = _FolderFds(self.root)
        now = time.time_ns()
        try:
            for item in items:
                done = written[item.path]
                if not isinstance(done, str):
                    staged[item.path] = _staged_from(done, item.entry, now)
                    continue
                folder = item.path.rpartition("/")[0]
                if folder != item.place and folder not in fds:
                    self.gate.make_parents(item.path)
                full = self.root / item.path
                if item.over_folder:
                    _clear_empty_folder(full)
                # Both ends through folder fds: a folder swapped for a symlink since
                # phase one cannot send the file anywhere else.
                try:
                    os.replace(
                        done, item.name, src_dir_fd=fds.get(item.place), dst_dir_fd=fds.get(folder)
                    )
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    self._copy_into_place(self.root / item.place / done, full)
                st = os.stat(item.name, dir_fd=fds.get(folder), follow_symlinks=False)
                staged[item.path] = _staged_from(st, item.entry)
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


def _staged_from(st: os.stat_result, entry: Entry, now_ns: int | None = None) -> Staged:
    """The staged entry of a file just written, its mtime cached only where it can be
    trusted (``trusted_mtime``; ``now_ns``: when writing ended, read once for all)."""
    mtime = trusted_mtime(st.st_mtime_ns, now_ns)
    return Staged(entry.kind, entry.id, entry.size, entry.executable, mtime, st.st_ino)


def _write_fully(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
