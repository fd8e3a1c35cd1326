"""Row-level diffs of a repository's tables: at two revisions, or at one and in the working tree.

pyarrow reads files, so a table at a revision is first streamed (verified) from the
store into a temporary file; a working-tree table is read where it is.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from mlv.errors import InvalidArgumentError, MlvError, NotFoundError
from mlv.repo.browsing import regular_file_entry
from mlv.repo.layout import MLV_DIR, TMP_DIR
from mlv.tables.config import config_for, load_table_configs
from mlv.tables.diff import TableDiff, diff_tables, table_on_one_side
from mlv.tables.formats import is_table

if TYPE_CHECKING:
    from mlv.repo.diff import Change
    from mlv.repo.protocols import ObjectReader, RevisionResolver

# Tables larger than this are not diffed row by row unless named: a plain `mlv diff`
# must stay quick on a repository full of large tables.
MAX_IMPLICIT_BYTES = 1 << 30
# The most tables one diff compares row by row without being named.
MAX_IMPLICIT_TABLES = 20


@dataclass
class TableChange:
    """A changed table in a diff: its row-level diff, or why there is none."""

    path: str
    diff: TableDiff | None
    note: str | None = None
    named: bool = False  # the path was named by the caller, not found under a folder

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "diff": self.diff.to_json() if self.diff else None,
            "note": self.note,
        }


def table_settings(
    root: Path, path: str, key: Sequence[str] | None
) -> tuple[tuple[str, ...], int | None]:
    """The row key (``key`` if given, else what ``mlv.yaml`` under ``root`` declares for
    ``path``, else none) and the ``memory:`` bound (None: the default), read once."""
    config = config_for(load_table_configs(root), path)
    declared = config.key if config else ()
    return (tuple(key) if key is not None else declared), (config.memory if config else None)


def diff_table_at(
    path: str,
    a: str | None = "HEAD",
    b: str | None = None,
    *,
    root: Path,
    objects: ObjectReader,
    revisions: RevisionResolver,
    key: Sequence[str] | None = None,
    sample: int = 10,
    old_path: str | None = None,
) -> TableDiff:
    """The table at ``path`` in ``b`` (None: the working tree under ``root``) against
    ``old_path`` (default ``path``) in ``a`` (None: HEAD); both repository paths.
    Revisions are named by ``revisions``, their tables read from ``objects``."""
    parts = root, objects, revisions
    with ExitStack() as stack:
        old_file = stack.enter_context(table_file(*parts, a or "HEAD", old_path or path))
        new_file = stack.enter_context(table_file(*parts, b, path))
        row_key, memory = table_settings(root, path, key)
        # Rows past the memory bound spill beside the store, on the repository's disk.
        scratch = root / MLV_DIR / TMP_DIR
        scratch.mkdir(parents=True, exist_ok=True)
        return diff_tables(
            old_file,
            new_file,
            key=row_key,
            sample=sample,
            name=path,
            memory=memory,
            scratch=scratch,
        )


def diff_changed_tables(
    changes: Iterable[Change],
    a: str | None = None,
    b: str | None = None,
    *,
    root: Path,
    objects: ObjectReader,
    revisions: RevisionResolver,
    key: Sequence[str] | None = None,
    named: Iterable[str] = (),
) -> list[TableChange]:
    """Row-level diffs of the tables among ``changes`` (from ``repo.diff(a, b)``), read
    as ``diff_table_at`` reads them: a modified table row by row, an added or removed
    one as its rows and columns (``table_on_one_side``).

    Tables named in ``named`` are always compared, and a problem with one raises.
    Others are compared up to ``MAX_IMPLICIT_TABLES`` of them and
    ``MAX_IMPLICIT_BYTES`` each; a problem with one becomes its note.
    """

    def compare(path: str, old_path: str | None = None) -> TableDiff:
        return diff_table_at(
            path,
            a,
            b,
            root=root,
            objects=objects,
            revisions=revisions,
            key=key,
            old_path=old_path,
        )

    named_set = set(named)
    changes = list(changes)
    found: list[TableChange] = []
    renamed = _renamed_table(changes, named_set)
    if renamed is not None:
        old, new = renamed
        diff = compare(new, old)
        found.append(TableChange(new, diff, f"compared with {old}", named=True))

    def diff_of(change: Change) -> TableDiff:
        if change.status == "modified":
            return compare(change.path)
        rev = b if change.status == "added" else (a or "HEAD")
        with table_file(root, objects, revisions, rev, change.path) as file:
            return table_on_one_side(file, change.status, name=change.path)

    moved = set(renamed or ())
    implicit = 0
    for change in changes:
        if change.status not in ("modified", "added", "removed") or not is_table(change.path):
            continue
        sides = [e for e in (change.old, change.new) if e is not None]
        if change.path in moved or any(e.kind == "symlink" for e in sides):
            continue
        if change.status == "modified" and len(sides) != 2:
            continue
        path = change.path
        if path in named_set:
            found.append(TableChange(path, diff_of(change), named=True))
            continue
        size = max(e.size for e in sides)
        if size > MAX_IMPLICIT_BYTES:
            note = f"row diff skipped: {size / (1 << 30):.1f} GiB; name it after -- to compare rows"
            found.append(TableChange(path, None, note))
            continue
        implicit += 1
        if implicit > MAX_IMPLICIT_TABLES:
            note = f"row diff skipped: over {MAX_IMPLICIT_TABLES} changed tables; name it after --"
            found.append(TableChange(path, None, note))
            continue
        try:
            found.append(TableChange(path, diff_of(change)))
        except MlvError as exc:
            found.append(TableChange(path, None, f"rows not compared: {exc}"))
    return found


def _renamed_table(changes: list[Change], named: set[str]) -> tuple[str, str] | None:
    """(old, new) when the two named paths are one table that moved or changed format:
    ``mlv diff A B -- data.csv data.parquet`` after a CSV became Parquet."""
    if len(named) != 2:
        return None
    status = {c.path: c.status for c in changes if c.path in named}
    removed = [p for p, s in status.items() if s == "removed" and is_table(p)]
    added = [p for p, s in status.items() if s == "added" and is_table(p)]
    if len(removed) == 1 and len(added) == 1:
        return removed[0], added[0]
    return None


@contextmanager
def table_file(
    root: Path, objects: ObjectReader, revisions: RevisionResolver, rev: str | None, path: str
) -> Iterator[Path]:
    """A file holding the table at ``path`` in ``rev`` (None: the working tree file itself,
    under ``root``)."""
    if rev is None:
        full = root / path
        if full.is_symlink():
            raise InvalidArgumentError(f"{path} is a symbolic link; name the file it points to")
        if full.is_dir():
            raise InvalidArgumentError(f"{path} is a folder; name a table file")
        if not full.is_file():
            raise NotFoundError(f"path {path} does not exist in the working tree")
        yield full
        return
    blocks = objects.iter_content(regular_file_entry(objects, revisions, rev, path).id)
    folder = tempfile.mkdtemp(prefix="mlv-table-")
    try:
        # The same file name, so that the suffix still says the format.
        target = Path(folder) / PurePosixPath(path).name
        with open(target, "wb") as out:
            for block in blocks:
                out.write(block)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)
