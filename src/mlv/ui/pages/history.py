"""History: the commit graph with its filters, and one commit's page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlv.core.timeparse import parse_when
from mlv.gitcode.describe import code_line
from mlv.ui.graphs import commit_lanes
from mlv.ui.site import NavItem, query_int, repo_path, site_of

NAV = NavItem("History", "/history", 30)
PAGE_SIZE = 100
ROW_HEIGHT = 28
LANE_WIDTH = 14


def history(request: Request) -> Response:
    site = site_of(request)
    params = request.query_params
    path = repo_path(params.get("path", ""))
    author = params.get("author", "").strip()
    since, until = params.get("since", "").strip(), params.get("until", "").strip()
    offset = query_int(request, "offset", 0)
    with site.repo() as repo:
        entries = repo.log(
            all_refs=True,
            author=author or None,
            since=parse_when(since) if since else None,
            until=parse_when(until) if until else None,
            paths=[path] if path else None,
        )
        current = repo.current_branch()
    page = entries[offset : offset + PAGE_SIZE]
    lanes = commit_lanes([(e.id, e.commit.parents) for e in entries])[offset : offset + PAGE_SIZE]
    widest = max((max([r.lane, *(to for _, to, _ in r.below)]) for r in lanes), default=0)
    width = (widest + 1) * LANE_WIDTH
    rows = [
        {
            "entry": entry,
            "lane": lane,
            "summary": entry.commit.message.splitlines()[0] if entry.commit.message else "",
        }
        for entry, lane in zip(page, lanes, strict=True)
    ]
    return site.render(
        request,
        "history.html",
        {
            "title": "History",
            "active": NAV.url,
            "rows": rows,
            "total": len(entries),
            "offset": offset,
            "page_size": PAGE_SIZE,
            "filters": {"path": path, "author": author, "since": since, "until": until},
            "current": current,
            "graph_width": width + LANE_WIDTH,
            "row_height": ROW_HEIGHT,
            "lane_width": LANE_WIDTH,
        },
    )


def commit(request: Request) -> Response:
    site = site_of(request)
    rev = request.path_params["rev"]
    with site.repo() as repo:
        details = repo.show(rev)
        code = code_line(repo.objects, details.entry.commit.code)
    return site.render(
        request,
        "commit.html",
        {
            "title": f"Commit {details.entry.id[:10]}",
            "active": NAV.url,
            "details": details,
            "commit": details.entry.commit,
            "runs": details.runs,
            "code": code,
        },
    )


routes = [
    Route("/history", history),
    Route("/commit/{rev:path}", commit),
]
