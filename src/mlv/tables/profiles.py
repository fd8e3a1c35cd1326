"""The profiles of a repository's tables: made once per content, stored, and found again.

The ``profiles`` table of ``index.db`` maps a table file's content id to its profile
object, so a content is profiled once however often it is added. The commit that
first holds a profiled content names its profile in the commit's profile map
(``mlv.tables.extension.commit_profiles``), from which ``mlv index rebuild`` and a
clone find it again; trees of format 1 named it in the table's entry. A profile
made later, on demand (``mlv stats`` of a table added with profiling off), is kept
in ``index.db`` only, and made again after a rebuild.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from mlv.core.crashpoints import crash_point
from mlv.errors import FormatError, InvalidArgumentError, MlvError, NotFoundError
from mlv.model.objects import KIND_FILE
from mlv.model.tables import Profile
from mlv.repo.blobs import hash_file
from mlv.repo.results import NoProgress, Progress
from mlv.repo.staging import stat_matches
from mlv.repo.worktree import lstat_file
from mlv.store.pack import KIND_META
from mlv.tables.formats import is_table
from mlv.tables.profile import profile_file, row_count

if TYPE_CHECKING:
    from mlv.repo.protocols import (
        ObjectReader,
        ObjectWriter,
        ProfileIndex,
        RevisionResolver,
        StageReader,
        WorkingFiles,
    )


def record_profiles(
    paths: Iterable[str],
    progress: Progress | None = None,
    *,
    root: Path,
    stage: StageReader,
    objects: ObjectReader,
    store: ObjectWriter,
    records: ProfileIndex,
) -> list[str]:
    """Profile the staged tables among ``paths`` whose content has no profile yet: the
    files under ``root`` that ``stage`` holds, their profiles stored in ``store`` and
    found again through ``records`` (a row whose profile ``objects`` cannot read
    counts as none).

    Returns warnings: a table that cannot be read stays staged as plain bytes, and
    the warning names the file and the problem. ``progress`` counts the tables' bytes.
    """
    tables = [p for p in paths if is_table(p)]
    if not tables:
        return []
    staged = stage.load_paths(tables)
    ids = {p: s.id for p, s in staged.items() if s.kind == KIND_FILE}
    # A row that names what does not read as a profile is made again (and replaced).
    known = readable_profiles(objects, records.profiles_of(list(set(ids.values()))))
    todo: dict[str, str] = {}  # content id -> one path that holds it
    for path, content_id in sorted(ids.items()):
        if content_id not in known:
            todo.setdefault(content_id, path)
    warnings = []
    made = []
    progress = progress or NoProgress()
    progress.start(sum(staged[p].size for p in todo.values()), "profiling tables")
    for content_id, path in todo.items():
        full, size = root / path, staged[path].size
        on_rows, left = _bytes_per_rows(full, size, progress)
        try:
            profile = profile_file(full, on_rows=on_rows, complete=False)
        except FormatError as exc:
            warnings.append(f"{path}: added as plain bytes, not profiled: {exc}")
            continue
        finally:
            progress.advance(left())
        if _still_holds(root, stage, path, content_id):
            made.append((content_id, profile))
    progress.finish()
    _record(store, records, made)
    return warnings


def _bytes_per_rows(
    path: Path, size: int, progress: Progress
) -> tuple[Callable[[int], None] | None, Callable[[], int]]:
    """A rows callback that advances ``progress`` by the file's share of bytes, and a
    function giving the bytes not yet reported (all of them without a row count)."""
    total = row_count(path)
    reported = 0
    if not total:
        return None, lambda: size

    def on_rows(rows: int) -> None:
        nonlocal reported
        share = min(size - reported, size * rows // total)
        reported += share
        progress.advance(share)

    return on_rows, lambda: size - reported


def _still_holds(root: Path, stage: StageReader, path: str, content_id: str) -> bool:
    """Whether the working tree file still holds the staged content (not rewritten since)."""
    full = root / path
    info = lstat_file(full)
    if info is None:
        return False
    if stat_matches(stage.load_paths([path]).get(path), info):
        return True
    # A stat too fresh to vouch for the content: read it again.
    return hash_file(full, KIND_FILE)[0] == content_id


def _record(store: ObjectWriter, records: ProfileIndex, made: list[tuple[str, Profile]]) -> None:
    """Store profile objects, then the rows that find them (objects first, as always)."""
    if not made:
        return
    pairs = [(content_id, store.put_meta(p.to_bytes(), KIND_META)) for content_id, p in made]
    store.flush()
    crash_point("profiles.after-objects")
    records.add_profiles(pairs)


def read_profile(objects: ObjectReader, profile_id: str) -> Profile:
    if not objects.has(profile_id):
        raise NotFoundError(f"no profile {profile_id} in this repository; run 'mlv fsck'")
    return Profile.from_bytes(objects.get(profile_id))


def readable_profiles(objects: ObjectReader, found: dict[str, str]) -> dict[str, str]:
    """The pairs of ``found`` (content id -> profile id) whose profile reads as one.

    A row of ``index.db`` is only a cache: one that names a missing or damaged object
    must not be written into a commit's profile map, where fsck would report it for
    as long as the commit lives; its content is profiled again instead.
    """
    return {c: p for c, p in found.items() if _cached_profile(objects, p) is not None}


def _cached_profile(objects: ObjectReader, profile_id: str) -> Profile | None:
    """The profile a row of the cache names, or None when it does not read as one (the
    content is then profiled again, and the row replaced)."""
    try:
        return read_profile(objects, profile_id)
    except MlvError:
        return None


def profile_of(
    path: str,
    rev: str | None = None,
    *,
    worktree: WorkingFiles,
    stage: StageReader,
    objects: ObjectReader,
    revisions: RevisionResolver,
    store: ObjectWriter,
    records: ProfileIndex,
    scratch: Path,
    complete: bool = True,
) -> Profile:
    """The profile of the table at ``path`` (relative to the root) at ``rev``, or in the
    working tree when ``rev`` is None; made and recorded if its content has none yet.

    ``complete`` (the default) makes the statistics a profile from ``add`` left
    pending (the mean, the distinct count), and records the whole profile in its
    place; False takes a profile as it is found (for the schema alone).

    Profiles are found through ``records`` and stored in ``store``; a table at ``rev``
    is copied from ``objects`` into a temporary folder in ``scratch`` (``.mlv``) to be
    read.
    """
    if not is_table(path):
        raise InvalidArgumentError(
            f"{path} is not a table: profiles are made for Parquet, CSV, TSV, "
            "Arrow IPC/Feather and JSON Lines files"
        )
    if rev is None:
        return _working_profile(path, worktree, stage, objects, store, records, complete)
    commit = objects.read_commit(revisions.resolve(rev))
    entry = objects.entry_at(commit.tree, path)
    if entry is None:
        raise NotFoundError(f"path {path} does not exist in {rev}")
    if entry.kind != KIND_FILE:
        raise InvalidArgumentError(f"{path} is a {entry.kind} in {rev}; name a table file")
    cached = records.profiles_of([entry.id]).get(entry.id)
    found = _cached_profile(objects, cached) if cached else None
    if found is not None and (not found.pending or not complete):
        return found
    if found is not None and not objects.has(entry.id):
        # A partial clone without the content: what history brought is all there is.
        return found
    if found is None and entry.profile:  # a tree of format 1 names it
        found = _cached_profile(objects, entry.profile)
        if found is not None:
            records.add_profiles([(entry.id, entry.profile)])
            return found
    # pyarrow reads files: the content goes to a temporary copy beside the store.
    with tempfile.TemporaryDirectory(prefix="profile-", dir=scratch) as folder:
        copy = Path(folder) / Path(path).name
        with open(copy, "wb") as out:
            for block in objects.iter_content(entry.id):
                out.write(block)
        profile = profile_file(copy)
    _record(store, records, [(entry.id, profile)])
    return profile


def _working_profile(
    path: str,
    worktree: WorkingFiles,
    stage: StageReader,
    objects: ObjectReader,
    store: ObjectWriter,
    records: ProfileIndex,
    complete: bool,
) -> Profile:
    full = worktree.root / path
    info = lstat_file(full)
    staged = stage.load_paths([path])
    if info is None and path in staged and not objects.has(staged[path].id):
        # A partial clone's file not fetched: its staged content answers, from the
        # profile that came with history.
        known = records.profiles_of([staged[path].id])
        cached = _cached_profile(objects, known[staged[path].id]) if known else None
        if cached is not None:
            return cached
    if info is None or info.kind != KIND_FILE:
        raise NotFoundError(f"{path} is not a file in the working tree")
    content_id = worktree.content_on_disk({path: info}, staged)[path].id
    known = records.profiles_of([content_id])
    cached = _cached_profile(objects, known[content_id]) if content_id in known else None
    if cached is not None and (not cached.pending or not complete):
        return cached
    profile = profile_file(full)
    # Remembered unless rewritten while it was read.
    if lstat_file(full) == info:
        _record(store, records, [(content_id, profile)])
    return profile
