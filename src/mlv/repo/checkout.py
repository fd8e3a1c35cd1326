"""Writing tree content into a working tree in two phases, so a refused or failed one changes
nothing.

Phase one checks every path, every symlink and everything in the way, then
reads every object (verifying it against its id) into temporary files in a
scratch folder. Only when all of that has worked does phase two remove and
rename files into place. A damaged object, an unsafe name or a folder in the
way therefore stops a checkout before the working tree has changed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from mlv.core.paths import TreeGate, check_relpath, check_symlink_target, temporary_name
from mlv.errors import UncommittedChangesError, UnsafePathError
from mlv.repo.blobs import iter_content, read_content
from mlv.repo.staging import Staged, trusted_mtime
from mlv.repo.trees import Entry
from mlv.repo.worktree import KIND_SYMLINK, stat_of
from mlv.store.objectstore import ObjectStore

WRITE_WORKERS = 4
PARALLEL_WRITE_MIN = 64
# Scratch folders under `.mlv/tmp`: one per checkout, removed when it ends.
SCRATCH_PREFIX = "checkout-"

# Kept here for the modules that check paths and symlinks before core.paths existed.
check_path = check_relpath
__all__ = ["Materialiser", "check_path", "check_symlink_target", "clear_scratch"]


def clear_scratch(tmp_dir: Path) -> None:
    """Remove what checkouts killed mid-way left in ``tmp_dir``; the caller holds the lock."""
    try:
        leftovers = [p for p in tmp_dir.iterdir() if p.name.startswith(SCRATCH_PREFIX)]
    except FileNotFoundError:
        return
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)


class Materialiser:
    """Writes and removes working tree files for checkout, restore, merge and workspaces.

    ``scratch_dir`` is where temporaries are written (a repository's `.mlv/tmp`);
    without one, a hidden scratch folder inside ``root`` is used and removed.
    """

    def __init__(self, root: Path, store: ObjectStore, scratch_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.store = store
        self.gate = TreeGate(self.root)
        self.scratch_dir = scratch_dir

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

    def _check_parents(self, path: str, removing: set[str]) -> None:
        """Each folder above ``path`` must be a real folder, absent, or something removed first."""
        current = self.root
        for part in path.split("/")[:-1]:
            current = current / part
            try:
                st = os.lstat(current)
            except (FileNotFoundError, NotADirectoryError):
                return
            if stat.S_ISDIR(st.st_mode):
                continue
            rel = current.relative_to(self.root).as_posix()
            if rel in removing:
                return  # a tracked file or symlink that the checkout removes first
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePathError(f"{rel} is a symlink: refusing to write {path} through it")
            raise UncommittedChangesError(
                f"{rel} is a file where {path} needs a folder; move it away or commit it first"
            )

    def _check_not_in_the_way(self, path: str, removing: set[str]) -> None:
        """A real folder where ``path`` goes must hold only files the checkout removes."""
        full = self.root / path
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            return
        if not stat.S_ISDIR(st.st_mode):
            return
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
        creating a file waits on the file system's journal more than on the CPU.
        """
        self.validate(writes, removes)
        if not writes:
            self._remove_all(removes)
            return {}
        scratch = self._new_scratch()
        try:
            temporaries = self._write_temporaries(writes, scratch, advance)
            self._remove_all(removes)
            return self._move_into_place(writes, temporaries)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _new_scratch(self) -> Path:
        if self.scratch_dir is not None:
            self.scratch_dir.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=self.scratch_dir))
        return Path(tempfile.mkdtemp(prefix=f".mlv-{SCRATCH_PREFIX}", dir=self.root))

    def _write_temporaries(
        self, writes: dict[str, Entry], scratch: Path, advance: Callable[[int], None] | None
    ) -> dict[str, Path]:
        """Read every object into a file in ``scratch``: the phase where damage shows."""
        self.store.prefetch(entry.id for entry in writes.values())
        by_folder: dict[str, list[tuple[str, Entry]]] = {}
        for path, entry in sorted(writes.items()):
            by_folder.setdefault(path.rpartition("/")[0], []).append((path, entry))

        def write_folder(job: tuple[int, list[tuple[str, Entry]]]) -> list[tuple[str, Path]]:
            number, items = job
            folder = scratch / str(number)
            folder.mkdir()
            done = []
            for index, (path, entry) in enumerate(items):
                tmp = folder / str(index)
                self._write_temporary(tmp, entry)
                done.append((path, tmp))
                if advance is not None:
                    advance(entry.size)
            return done

        jobs = list(enumerate(by_folder.values()))
        if len(jobs) <= 1 or len(writes) < PARALLEL_WRITE_MIN:
            return {p: t for job in jobs for p, t in write_folder(job)}
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(WRITE_WORKERS) as pool:
            return {p: t for done in pool.map(write_folder, jobs) for p, t in done}

    def _write_temporary(self, tmp: Path, entry: Entry) -> None:
        if entry.kind == KIND_SYMLINK:
            os.symlink(os.fsdecode(read_content(self.store, entry.id)), tmp)
            return
        mode = 0o777 if entry.executable else 0o666
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            for block in iter_content(self.store, entry.id):
                _write_fully(fd, block)
        finally:
            os.close(fd)

    # -- phase two: change the working tree ---------------------------------------

    def _remove_all(self, removes: Iterable[str]) -> None:
        for path in removes:
            self._remove_one(path)

    def _remove_one(self, path: str) -> None:
        """Delete a tracked file or symlink; a path reached only through something else is
        not the tracked file, and neither is a folder now standing there: both are left."""
        current = self.root
        for part in path.split("/")[:-1]:
            current = current / part
            try:
                if not stat.S_ISDIR(os.lstat(current).st_mode):
                    return
            except (FileNotFoundError, NotADirectoryError):
                return
        full = self.root / path
        try:
            if stat.S_ISDIR(os.lstat(full).st_mode):
                return
            os.unlink(full)
        except (FileNotFoundError, NotADirectoryError):
            return
        self._prune_empty_parents(path)

    def _move_into_place(
        self, writes: dict[str, Entry], temporaries: dict[str, Path]
    ) -> dict[str, Staged]:
        staged: dict[str, Staged] = {}
        made: set[str] = set()
        for path, entry in sorted(writes.items()):
            folder = path.rpartition("/")[0]
            if folder not in made:
                self.gate.make_parents(path)
                made.add(folder)
            full = self.root / path
            _clear_empty_folder(full)
            try:
                os.replace(temporaries[path], full)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                self._copy_into_place(temporaries[path], full)
            staged[path] = _staged(full, entry)
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


def _clear_empty_folder(full: Path) -> None:
    """Remove the empty folders left where a file goes (validate saw to it that they are)."""
    try:
        if not stat.S_ISDIR(os.lstat(full).st_mode):
            return
    except FileNotFoundError:
        return
    for base, _dirs, _names in os.walk(full, topdown=False):
        os.rmdir(base)


def _staged(full: Path, entry: Entry) -> Staged:
    info = stat_of(os.lstat(full))
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
