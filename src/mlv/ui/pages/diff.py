"""Diff: the files changed between two revisions, and one table's rows, added, removed and
changed, paged from the server."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlv.api import Repo
from mlv.errors import InvalidArgumentError, NotFoundError
from mlv.repo.diff import Change
from mlv.tables.diff import TableDiff
from mlv.tables.formats import is_table
from mlv.tables.pyvalues import short
from mlv.tables.repo_diff import table_settings
from mlv.tables.row_diff import CHANGED_COLUMNS
from mlv.ui.site import NavItem, query_int, repo_path, site_of

NAV = NavItem("Diff", "/diff", 50)
PAGE_FILES = 500
PAGE_ROWS = 50
MAX_PAGE_ROWS = 500
SECTIONS = ("changed", "added", "removed")
VALUE_WIDTH = 80
# Row diffs kept for paging: a diff reads both tables whole, a page shows 50 rows.
KEPT_DIFFS = 2


@dataclass(frozen=True)
class Sides:
    """The two commits compared, as the user named them and as ids."""

    a: str
    b: str
    a_id: str
    b_id: str

    def query(self, **more: str) -> str:
        fields = {"a": self.a, "b": self.b, **{k: v for k, v in more.items() if v}}
        return "/diff?" + urlencode(fields)


def diff_page(request: Request) -> Response:
    site = site_of(request)
    params = request.query_params
    path = repo_path(params.get("path", ""))
    with site.repo() as repo:
        sides, why_not = _sides(repo, params.get("a", "").strip(), params.get("b", "").strip())
        if sides is None:
            alone = {"title": "Diff", "active": NAV.url, "why_not": why_not, **_inputs(params)}
            return site.render(request, "diff.html", alone)
        if path:
            return _table_page(request, repo, sides, path)
        changes = repo.diff(sides.a_id, sides.b_id)
    return _files_page(request, sides, changes)


def _files_page(request: Request, sides: Sides, changes: list[Change]) -> Response:
    offset = query_int(request, "offset", 0)
    context: dict[str, Any] = {
        "title": f"Diff {sides.a} → {sides.b}",
        "active": NAV.url,
        "sides": sides,
        "changes": [_file_row(c, sides) for c in changes[offset : offset + PAGE_FILES]],
        "counts": {
            s: sum(1 for c in changes if c.status == s) for s in ("added", "modified", "removed")
        },
        "total": len(changes),
        "offset": offset,
        "page_size": PAGE_FILES,
        **_inputs(request.query_params, sides),
    }
    return site_of(request).render(request, "diff.html", context)


def _inputs(params: Any, sides: Sides | None = None) -> dict[str, str]:
    return {
        "a": sides.a if sides else params.get("a", ""),
        "b": sides.b if sides else params.get("b", ""),
    }


def _sides(repo: Repo, a: str, b: str) -> tuple[Sides | None, str]:
    """The commits to compare: as named, else ``b`` HEAD and ``a`` the first parent of ``b``;
    None and the reason when there is no such parent."""
    if not b and repo.refs.head().commit is None:
        return None, "The repository has no commit yet: there is nothing to compare."
    b = b or "HEAD"
    b_id = repo.resolve(b)
    if a:
        return Sides(a, b, repo.resolve(a), b_id), ""
    parents = repo.read_commit(b_id).parents
    if not parents:
        return None, (
            f"{b} ({b_id[:10]}) is the first commit: there is no parent to compare it with. "
            "Name another revision as A."
        )
    return Sides(parents[0][:10], b, parents[0], b_id), ""


def _file_row(change: Change, sides: Sides) -> dict[str, Any]:
    rev = sides.a_id if change.status == "removed" else sides.b_id
    return {
        "change": change,
        "rev": rev,
        "rows_href": sides.query(path=change.path) if _comparable(change) else "",
    }


def _comparable(change: Change) -> bool:
    entries = [e for e in (change.old, change.new) if e is not None]
    return is_table(change.path) and all(e.kind == "file" for e in entries)


# -- one table ------------------------------------------------------------------------


def _table_page(request: Request, repo: Repo, sides: Sides, path: str) -> Response:
    site = site_of(request)
    params = request.query_params
    given_key = _parse_key(params.get("key", ""))
    section = params.get("rows", "")
    if section and section not in SECTIONS:
        raise InvalidArgumentError(f"rows must be one of {', '.join(SECTIONS)}, not {section!r}")
    if not is_table(path):
        raise InvalidArgumentError(
            f"{path} is not a table that mlv compares row by row "
            "(Parquet, CSV, TSV, Arrow IPC/Feather or JSON Lines)"
        )
    change = _change_at(repo, sides, path)
    context: dict[str, Any] = {
        "title": f"Diff of {path}",
        "active": NAV.url,
        "sides": sides,
        "path": path,
        "a": sides.a,
        "b": sides.b,
        "key_text": params.get("key", ""),
        "change": change,
    }
    if change is None:
        return site.render(request, "diff_table.html", context)
    key = given_key if given_key is not None else table_settings(repo.root, path, None)[0]
    found = _kept_diff(repo, change, sides, path, key)
    if given_key:
        _check_key(found, given_key, path)
    offset = query_int(request, "offset", 0)
    limit = query_int(request, "limit", PAGE_ROWS, lowest=1, highest=MAX_PAGE_ROWS)
    pages = {
        name: _rows_page(found, name, offset if name == section else 0, limit, sides, path, params)
        for name in SECTIONS
    }
    if section and request.headers.get("hx-request"):
        if pages[section] is None:
            raise InvalidArgumentError(f"this diff of {path} has no {section} rows to page")
        return site.render(request, "_diff_rows.html", {"section": pages[section]})
    context.update(
        diff=found,
        columns=_columns_of(found),
        sections=[pages[name] for name in SECTIONS if pages[name] is not None],
        drift=[_drift_row(d) for d in found.drift if d.moved],
    )
    return site.render(request, "diff_table.html", context)


def _parse_key(text: str) -> tuple[str, ...] | None:
    """``key=id`` or ``key=user,day``; None when no key was given (the declared one serves)."""
    if not text.strip():
        return None
    columns = tuple(c.strip() for c in text.split(","))
    if not all(columns):
        raise InvalidArgumentError(f"key {text!r}: give column names separated by commas")
    return columns


def _change_at(repo: Repo, sides: Sides, path: str) -> Change | None:
    """How ``path`` changed from a to b; None when it is the same in both."""
    for change in repo.diff(sides.a_id, sides.b_id, [path]):
        if change.path == path:
            return change
    if repo.objects.entry_at(repo.read_commit(sides.b_id).tree, path) is None:
        raise NotFoundError(f"path {path} is in neither {sides.a} nor {sides.b}")
    return None


_kept: OrderedDict[tuple[Any, ...], TableDiff] = OrderedDict()
_kept_lock = threading.Lock()


def _kept_diff(
    repo: Repo, change: Change, sides: Sides, path: str, key: tuple[str, ...]
) -> TableDiff:
    """The row diff of ``path``, kept for the next pages: commits and content never change
    under an id, so the same ids and key give the same diff."""
    ids = tuple(e.id if e else "" for e in (change.old, change.new))
    token = (str(repo.root), sides.a_id, sides.b_id, path, ids, key)
    with _kept_lock:
        if token in _kept:
            _kept.move_to_end(token)
            return _kept[token]
    tables = repo.table_changes([change], sides.a_id, sides.b_id, key=key, named=[path])
    found = tables[0].diff if tables else None
    if found is None:
        raise InvalidArgumentError(f"{path}: {tables[0].note if tables else 'not compared'}")
    with _kept_lock:
        _kept[token] = found
        while len(_kept) > KEPT_DIFFS:
            _kept.popitem(last=False)
    return found


def _columns_of(found: TableDiff) -> list[str]:
    schema = found.schema
    names = list(schema.common) + [c.name for c in schema.added] + [c.name for c in schema.removed]
    return list(dict.fromkeys(names))


def _check_key(found: TableDiff, key: tuple[str, ...], path: str) -> None:
    columns = _columns_of(found)
    missing = [c for c in key if c not in columns]
    if missing:
        raise InvalidArgumentError(
            f"key column {', '.join(missing)} is in neither version of {path}; "
            f"its columns are {', '.join(columns)}"
        )


@dataclass
class Section:
    """One page of added, removed or changed rows."""

    name: str
    title: str
    total: int  # rows of this kind in the diff
    kept: int  # rows of this kind the diff holds (the first ``ROW_LIMIT``)
    offset: int
    limit: int
    headers: list[str]
    rows: list[list[dict[str, str]]]  # cells: {"text"} or {"old", "new"}
    key: tuple[str, ...]
    base_query: str

    def url(self, offset: int) -> str:
        return f"{self.base_query}&rows={self.name}&offset={offset}&limit={self.limit}"

    @property
    def previous(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None

    @property
    def next(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.kept else None


def _rows_page(
    found: TableDiff,
    name: str,
    offset: int,
    limit: int,
    sides: Sides,
    path: str,
    params: Any,
) -> Section | None:
    """One page of the rows of kind ``name``; None where the diff has no such kind (no
    changed rows without a key, one side only for a table added or removed)."""
    rows = found.rows
    if (name == "changed" and rows.mode != "key") or (found.whole and name != found.whole):
        return None
    table, total = {
        "changed": (rows.changed_rows, rows.changed),
        "added": (rows.added_rows, rows.added),
        "removed": (rows.removed_rows, rows.removed),
    }[name]
    kept = table.num_rows if table is not None else 0
    page = table.slice(offset, limit).to_pylist() if table is not None and kept else []
    if name == "changed":
        headers, cells = _changed_cells(found, page)
    else:
        headers = list(table.column_names) if table is not None else []
        cells = [[{"text": short(row[h], VALUE_WIDTH)} for h in headers] for row in page]
    base = sides.query(path=path, key=params.get("key", ""))
    title = _section_title(found, name)
    return Section(name, title, total, kept, offset, limit, headers, cells, rows.key, base)


def _section_title(found: TableDiff, name: str) -> str:
    if found.whole:
        return f"First rows of the {found.whole} table"
    if name == "changed":
        return "Changed rows"
    if found.rows.mode == "key":
        return "Added rows" if name == "added" else "Removed rows"
    return "Rows only in B" if name == "added" else "Rows only in A"


def _changed_cells(
    found: TableDiff, page: list[dict[str, Any]]
) -> tuple[list[str], list[list[dict[str, str]]]]:
    """Key columns, then one column per changed column: ``old → new`` where the row's
    value changed, the value (the same in both) where it did not."""
    key = list(found.rows.key)
    changed = list(found.rows.changed_columns)
    cells = []
    for row in page:
        line = [{"text": short(row[k], VALUE_WIDTH)} for k in key]
        moved = set(row[CHANGED_COLUMNS])
        for column in changed:
            old, new = row[f"old.{column}"], row[f"new.{column}"]
            if column in moved:
                line.append({"old": short(old, VALUE_WIDTH), "new": short(new, VALUE_WIDTH)})
            else:
                line.append({"text": short(new, VALUE_WIDTH), "same": "1"})
        cells.append(line)
    return key + changed, cells


def _drift_row(d: Any) -> dict[str, Any]:
    stats = {}
    for stat in ("nulls", "mean", "min", "max"):
        old, new = getattr(d.old, stat), getattr(d.new, stat)
        stats[stat] = {"old": short(old, 32), "new": short(new, 32), "moved": stat in d.moved}
    return {"name": d.name, "stats": stats}


routes = [Route("/diff", diff_page)]
