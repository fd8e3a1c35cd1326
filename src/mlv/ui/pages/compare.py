"""Compare runs: parameters, metrics, inputs and environment side by side, differences
marked, and the plots their stages declare drawn on top of each other."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlv.ui.graphs import PALETTE
from mlv.ui.site import site_of


def colour(position: int) -> str:
    """A run's colour on the page: the palette, then hues spread by the golden angle, so
    that any number of runs stay apart and a run keeps its colour in every plot."""
    if position < len(PALETTE):
        return PALETTE[position]
    return f"hsl({(position * 137.508) % 360:.0f}, 62%, 42%)"


def compare(request: Request) -> Response:
    site = site_of(request)
    wanted = [r for r in request.query_params.getlist("run") if r.strip()]
    with site.repo() as repo:
        found = repo.compare_runs(wanted)
    colours = [colour(n) for n in range(len(found.runs))]
    labels = [f"{row.run_id[:8]} {row.values.get('stage', '')}" for row in found.runs]
    plots: list[dict[str, Any]] = []
    for group in found.plots:
        series = [
            {"label": labels[n], "colour": colours[n], "x": line.x, "y": line.y}
            for n, line in group.lines
        ]
        plots.append(
            {"title": f"{group.path}: {group.name}", "spec": {"x": group.x_name, "series": series}}
        )
    return site.render(
        request,
        "compare.html",
        {
            "title": f"Compare {len(found.runs)} runs",
            "active": "/runs",
            "found": found,
            "colours": colours,
            "labels": labels,
            "plots": plots,
            "only_differences": request.query_params.get("changed") == "1",
        },
    )


routes = [Route("/compare", compare)]
