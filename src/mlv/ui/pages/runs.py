"""Runs: the experiments table, filtered, sorted and paged on the server by the same
query ``mlv runs`` uses (``mlv.lineage.runs_table``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlv.lineage.render import when
from mlv.lineage.runs_table import METRIC, PARAM, RunTable, cell_text
from mlv.ui.site import NavItem, query_int, site_of

NAV = NavItem("Runs", "/runs", 10)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# Meta columns as their headers read.
HEADERS = {
    "run": "Run",
    "when": "When",
    "who": "Who",
    "stage": "Stage",
    "commit": "Commit",
    "branch": "Branch",
    "duration": "Duration",
    "status": "Status",
}


@dataclass(frozen=True)
class Cell:
    text: str
    css: str = ""
    href: str = ""
    title: str = ""


@dataclass(frozen=True)
class Header:
    name: str
    label: str
    kind: str
    sort_url: str
    arrow: str  # "▲", "▼" or "" for the column the rows are sorted by


def runs(request: Request) -> Response:
    site = site_of(request)
    params = request.query_params
    wheres = [w.strip() for w in params.getlist("where") if w.strip()]
    sort = params.get("sort", "").strip()
    chosen = [c for c in params.getlist("col") if c.strip()]
    query: dict[str, Any] = {
        "all_refs": params.get("all") == "1",
        "stage": params.get("stage", "").strip() or None,
        "since": params.get("since", "").strip() or None,
        "until": params.get("until", "").strip() or None,
        "where": wheres,
        "sort": [sort] if sort else [],
        "columns": chosen,
        "only_changed": params.get("changed") == "1",
        "offset": query_int(request, "offset", 0),
        "limit": query_int(request, "limit", PAGE_SIZE, lowest=1, highest=MAX_PAGE_SIZE),
    }
    with site.repo() as repo:
        table = repo.runs_table(**query)
    shown = {c.name for c in table.columns}
    return site.render(
        request,
        "runs.html",
        {
            "title": "Runs",
            "active": NAV.url,
            "table": table,
            "headers": _headers(request, table, sort),
            "rows": [
                [_cell(c.name, row.values.get(c.name)) for c in table.columns] for row in table.rows
            ],
            "run_ids": [row.run_id for row in table.rows],
            "filters": {
                "all": query["all_refs"],
                "stage": query["stage"] or "",
                "since": query["since"] or "",
                "until": query["until"] or "",
                "where": wheres,
                "changed": query["only_changed"],
                "sort": sort,
            },
            "picker": [(c, c.name in shown) for c in table.available],
            "offset": table.offset,
            "page_size": query["limit"],
            "total": table.total,
        },
    )


def _headers(request: Request, table: RunTable, sort: str) -> list[Header]:
    """Each column's header, with the link that sorts by it (again: the other way)."""
    current, descending = sort.removeprefix("-"), sort.startswith("-")
    headers = []
    for column in table.columns:
        if column.name == current:
            wanted = column.name if descending else f"-{column.name}"
            arrow = "▼" if descending else "▲"
        else:
            # Numbers are most often wanted best first; text A to Z.
            wanted = (
                f"-{column.name}"
                if column.kind in (PARAM, METRIC) or column.name in ("when", "duration")
                else column.name
            )
            arrow = ""
        url = str(request.url.include_query_params(sort=wanted, offset=0))
        label = HEADERS.get(column.name) or column.name.split(".", 1)[-1]
        headers.append(Header(column.name, label, column.kind, url, arrow))
    return headers


def _cell(name: str, value: Any) -> Cell:
    if value is None:
        return Cell("", "missing")
    if name == "run":
        return Cell(str(value)[:10], "id", f"/run/{value}", str(value))
    if name == "commit":
        return Cell(str(value)[:10], "id", f"/commit/{value}", str(value))
    if name == "when":
        return Cell(when(int(value)), "mono")
    if name == "duration":
        return Cell(f"{float(value):.1f} s", "num")
    if name == "who":
        text = str(value)
        return Cell(text.split(" <", 1)[0], title=text)
    if name == "status":
        return Cell(str(value), "status-" + str(value).replace(" ", "-"))
    if isinstance(value, bool):
        return Cell(str(value).lower())
    if isinstance(value, float):
        return Cell(f"{value:.6g}", "num", title=repr(value))
    if isinstance(value, int):
        return Cell(str(value), "num")
    return Cell(cell_text(value))


routes = [Route("/runs", runs)]
