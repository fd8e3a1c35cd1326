"""Files at any revision: the tree, one file (its preview, or a table's schema,
statistics and rows paged on the server), its download, and its history."""

from __future__ import annotations

import codecs
import itertools
import json
import mimetypes
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from mlv.api import Repo
from mlv.errors import InvalidArgumentError, MlvError, NotFoundError
from mlv.model.objects import KIND_DIR, KIND_FILE, KIND_SYMLINK, TreeEntry
from mlv.model.tables import Profile
from mlv.tables.formats import table_format
from mlv.tables.sketch import K as EXACT_DISTINCT_BELOW
from mlv.tables.statistic_text import statistic_text
from mlv.ui.site import NavItem, repo_path, site_of

if TYPE_CHECKING:
    import pyarrow as pa

NAV = NavItem("Files", "/files/HEAD/", 40)
# A text file's preview shows at most this much of it.
PREVIEW_BYTES = 256 * 1024
ROWS_DEFAULT = 100
ROWS_MAX = 1000
# A cell's text is cut here: one long value must not make a page of megabytes.
CELL_CHARS = 200
# Content types a browser could run as a document in this page's origin; such files
# are sent as bytes to save.
_ACTIVE_TYPE = re.compile(r"html|xml|javascript|ecmascript|svg|pdf", re.IGNORECASE)
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


# -- addresses ---------------------------------------------------------------------


def files_url(rev: str, path: str, folder: bool = False) -> str:
    """The address of ``path`` at ``rev`` in the file browser (a folder ends in '/')."""
    tail = quote(path, safe="/") + ("/" if folder and path else "")
    return f"/files/{quote(rev, safe='')}/{tail}"


def raw_url(rev: str, path: str) -> str:
    return f"/raw/{quote(rev, safe='')}/{quote(path, safe='/')}"


def history_url(rev: str, path: str) -> str:
    return "/file-history?" + urlencode({"path": path, "rev": rev})


def lineage_url(rev: str, path: str) -> str:
    return "/lineage?" + urlencode({"path": path, "rev": rev})


def breadcrumb(rev: str, path: str) -> list[tuple[str, str]]:
    """The folders above ``path`` and itself, as (name, address) from the root."""
    parts = path.split("/") if path else []
    return [
        (part, files_url(rev, "/".join(parts[: i + 1]), folder=True))
        for i, part in enumerate(parts)
    ]


# -- the pages ---------------------------------------------------------------------


def files_start(request: Request) -> Response:
    """``/files``: HEAD's root, or the revision and path the picker's form names."""
    rev = request.query_params.get("rev", "").strip() or "HEAD"
    path = repo_path(request.query_params.get("path", ""))
    if "/" in rev:
        # One URL segment holds the revision: a branch named a/b goes by its commit.
        with site_of(request).repo() as repo:
            rev = repo.resolve(rev)
    return RedirectResponse(files_url(rev, path, folder=True), status_code=302)


def files_at_revision(request: Request) -> Response:
    return RedirectResponse(files_url(request.path_params["rev"], ""), status_code=302)


def files_page(request: Request) -> Response:
    site = site_of(request)
    rev = request.path_params["rev"]
    path = repo_path(request.path_params["path"])
    offset, limit = _row_window(request)
    with site.repo() as repo:
        commit_id = repo.resolve(rev)
        commit = repo.read_commit(commit_id)
        entry = repo.objects.entry_at(commit.tree, path) if path else None
        if path and entry is None:
            raise NotFoundError(f"path {path} does not exist in {rev}")
        if request.headers.get("hx-target") == "rows" and entry is not None:
            rows = _rows_context(repo, rev, commit_id, path, entry, offset, limit)
            return site.render(request, "_files_rows.html", rows)
        context: dict[str, Any] = {
            "title": f"{path or '/'} at {rev}",
            "active": NAV.url,
            "rev": rev,
            "path": path,
            "commit_id": commit_id,
            "commit": commit,
            "root_url": files_url(rev, ""),
            "parent_url": files_url(rev, path.rpartition("/")[0], folder=True),
            "crumbs": breadcrumb(rev, path),
            "revisions": _revision_names(repo),
            "links": _links(rev, path),
        }
        if entry is None or entry.kind == KIND_DIR:
            tree_id = commit.tree if entry is None else entry.id
            context["entries"] = _folder_entries(repo, rev, path, tree_id)
            return site.render(request, "files.html", context)
        context.update(_file_context(repo, rev, commit_id, path, entry, offset, limit))
        return site.render(request, "files_file.html", context)


def raw(request: Request) -> Response:
    """A file's bytes, streamed from the store, always as an attachment."""
    site = site_of(request)
    rev = request.path_params["rev"]
    path = repo_path(request.path_params["path"])
    if not path:
        raise InvalidArgumentError("name a file to download, not the root folder")
    held = ExitStack()
    try:
        repo = held.enter_context(site.repo())
        commit = repo.read_commit(repo.resolve(rev))
        entry = repo.objects.entry_at(commit.tree, path)
        if entry is None:
            raise NotFoundError(f"path {path} does not exist in {rev}")
        if entry.kind == KIND_DIR:
            raise InvalidArgumentError(f"{path} is a folder in {rev}; name a file")
        blocks = repo.objects.iter_content(entry.id)
        # The first block is read before the answer starts: content that is not here
        # (a partial clone) is a 404, not a 200 that breaks off.
        first = next(blocks, b"")
    except BaseException:
        held.close()
        raise
    name = path.rpartition("/")[2]
    headers = {
        "Content-Disposition": _attachment(name),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Content-Length": str(entry.size),
    }
    return StreamingResponse(
        _closing(itertools.chain([first], blocks), held),
        media_type=_download_type(name),
        headers=headers,
        # The repository stays open while the bytes go; closed however the stream ends.
        background=BackgroundTask(held.close),
    )


def file_history(request: Request) -> Response:
    site = site_of(request)
    path = repo_path(request.query_params.get("path", ""))
    rev = request.query_params.get("rev", "").strip() or "HEAD"
    if not path:
        raise InvalidArgumentError("name a file or folder: /file-history?path=metrics.json")
    with site.repo() as repo:
        versions = repo.history(path, rev)
    return site.render(
        request,
        "files_history.html",
        {
            "title": f"History of {path}",
            "active": NAV.url,
            "path": path,
            "rev": rev,
            "versions": versions,
            "here": files_url(rev, path),
            "files_url": files_url,
        },
    )


# -- folders -------------------------------------------------------------------------


@dataclass(frozen=True)
class ListedEntry:
    """One entry of a folder as the page lists it."""

    name: str
    kind: str
    size: int
    id: str
    href: str
    raw: str | None
    table: bool


def _folder_entries(repo: Repo, rev: str, path: str, tree_id: str) -> list[ListedEntry]:
    prefix = path + "/" if path else ""
    entries = sorted(repo.objects.tree(tree_id).entries, key=lambda e: (e.kind != KIND_DIR, e.name))
    listed = []
    for e in entries:
        full = prefix + e.name
        folder = e.kind == KIND_DIR
        listed.append(
            ListedEntry(
                name=e.name,
                kind=e.kind,
                size=e.size,
                id=e.id,
                href=files_url(rev, full, folder=folder),
                raw=None if folder else raw_url(rev, full),
                table=not folder and table_format(e.name) is not None,
            )
        )
    return listed


def _revision_names(repo: Repo) -> list[str]:
    return ["HEAD", *sorted(repo.branches()), *sorted(repo.tags())]


def _links(rev: str, path: str) -> dict[str, str]:
    return {
        "raw": raw_url(rev, path),
        "history": history_url(rev, path),
        "lineage": lineage_url(rev, path),
    }


# -- one file ------------------------------------------------------------------------


def _file_context(
    repo: Repo, rev: str, commit_id: str, path: str, entry: TreeEntry, offset: int, limit: int
) -> dict[str, Any]:
    context: dict[str, Any] = {"entry": entry, "table": None, "preview": None, "target": None}
    if entry.kind == KIND_SYMLINK:
        context["target"] = b"".join(repo.objects.iter_content(entry.id)).decode(
            "utf-8", errors="replace"
        )
    elif table_format(path) is not None:
        profile = repo.stored_profile(path, commit_id)
        context["table"] = {
            "profile": profile,
            "columns": [_column_row(profile, c) for c in profile.columns] if profile else [],
            "stats_target": f"{path}@{rev}",
        }
        context.update(_rows_context(repo, rev, commit_id, path, entry, offset, limit))
    else:
        context["preview"] = _preview(repo, commit_id, path)
    return context


@dataclass(frozen=True)
class Preview:
    """The start of a file as text, or why there is none."""

    text: str | None
    truncated: bool
    binary: bool


def _preview(repo: Repo, commit_id: str, path: str) -> Preview:
    """The first ``PREVIEW_BYTES`` of a file as UTF-8 text; only their chunks are read."""
    with repo.open(path, commit_id) as source:
        head = source.read(PREVIEW_BYTES + 1)
    truncated = len(head) > PREVIEW_BYTES
    head = head[:PREVIEW_BYTES]
    if b"\x00" in head:
        return Preview(None, truncated, binary=True)
    try:
        # Not final when cut short: a character the cut split is left out, not an error.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=not truncated)
    except UnicodeDecodeError:
        return Preview(None, truncated, binary=True)
    return Preview(text, truncated, binary=False)


def _column_row(profile: Profile, column: Any) -> dict[str, str]:
    distinct = "" if column.distinct is None else f"{column.distinct:,}"
    if column.distinct is not None and column.distinct >= EXACT_DISTINCT_BELOW:
        distinct = "~" + distinct  # estimated (mlv.tables.sketch)
    return {
        "name": column.name,
        "type": column.type,
        "nulls": f"{column.nulls:,}",
        "min": _stat_text(column.min),
        "max": _stat_text(column.max),
        "mean": "?" if "mean" in profile.pending else _stat_text(column.mean),
        "distinct": "?" if "distinct" in profile.pending else distinct,
    }


def _stat_text(value: Any) -> str:
    return statistic_text(value, CELL_CHARS)


# -- rows ------------------------------------------------------------------------------


def _row_window(request: Request) -> tuple[int, int]:
    """``offset`` and ``limit`` of the rows asked for; out of range is bad input."""
    offset = _whole(request, "offset", 0)
    limit = _whole(request, "limit", ROWS_DEFAULT)
    if offset < 0:
        raise InvalidArgumentError(f"offset must be 0 or more, not {offset}")
    if not 1 <= limit <= ROWS_MAX:
        raise InvalidArgumentError(f"limit must be between 1 and {ROWS_MAX}, not {limit}")
    return offset, limit


def _whole(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name, "")
    if not raw:
        return default
    if not re.fullmatch(r"-?[0-9]{1,19}", raw):
        raise InvalidArgumentError(f"{name} must be a whole number, not {raw[:40]!r}")
    return int(raw)


@dataclass(frozen=True)
class RowPage:
    """Rows ``offset`` to ``offset + len(rows)`` of a table of ``total`` rows."""

    names: list[str]
    numeric: list[bool]
    rows: list[list[str | None]]
    offset: int
    limit: int
    total: int


def _rows_context(
    repo: Repo,
    rev: str,
    commit_id: str,
    path: str,
    entry: TreeEntry,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    """What ``_files_rows.html`` shows: a page of rows, or why there is none."""
    import pyarrow as pa

    if entry.kind != KIND_FILE or table_format(path) is None:
        raise InvalidArgumentError(f"{path} is not a table: it has no rows to page")
    base = files_url(rev, path)
    try:
        found = repo.table_rows(path, commit_id, offset=offset, limit=limit)
        page = _page_of(found.table, offset, limit, found.total)
    except (pa.ArrowException, OSError, ValueError) as exc:
        return {"page": None, "rows_error": f"the rows cannot be read: {exc}", "base": base}
    except MlvError as exc:
        return {"page": None, "rows_error": str(exc), "base": base}
    if offset and offset >= page.total:
        raise InvalidArgumentError(
            f"offset {offset} is past the last row: the table has {page.total:,}"
        )
    return {"page": page, "rows_error": None, "base": base}


def _page_of(table: pa.Table, offset: int, limit: int, total: int) -> RowPage:
    import pyarrow.types as types

    numeric = [
        types.is_integer(f.type) or types.is_floating(f.type) or types.is_decimal(f.type)
        for f in table.schema
    ]
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = [[_cell(column[r]) for column in columns] for r in range(table.num_rows)]
    return RowPage(table.schema.names, numeric, rows, offset, limit, total)


def _cell(value: Any) -> str | None:
    """A value as a cell shows it; None for a null (shown apart from the text 'null')."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return _cut(value.hex())
    if isinstance(value, dict | list):
        return _cut(json.dumps(value, default=str, ensure_ascii=False))
    return _cut(str(value))


def _cut(text: str) -> str:
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


# -- downloads ----------------------------------------------------------------------


def _closing(blocks: Iterator[bytes], held: ExitStack) -> Iterator[bytes]:
    try:
        yield from blocks
    finally:
        held.close()


def _download_type(name: str) -> str:
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if guessed is None or encoding is not None or _ACTIVE_TYPE.search(guessed):
        return "application/octet-stream"
    return guessed


def _attachment(name: str) -> str:
    """A Content-Disposition that saves the file under its own name: plain ASCII for
    every browser, the exact name in UTF-8 for those that read ``filename*``."""
    plain = _UNSAFE_NAME_CHARS.sub("_", name).strip("._") or "download"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


routes = [
    Route("/files", files_start),
    Route("/files/{rev}", files_at_revision),
    Route("/files/{rev}/{path:path}", files_page),
    Route("/raw/{rev}/{path:path}", raw),
    Route("/file-history", file_history),
]
