"""Ask: one search box for "what was this on that day, and what made it?"."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlv.ui.site import site_of

EXAMPLES = (
    "predictions/ on 2026-11-24",
    "metrics.json at baseline",
    "models/model.pkl@main@{yesterday}",
    "last tuesday",
)


def ask(request: Request) -> Response:
    site = site_of(request)
    text = request.query_params.get("q", "").strip()
    context: dict[str, Any] = {"title": "Ask", "question": text, "examples": EXAMPLES}
    if not text:
        return site.render(request, "ask.html", context)
    with site.repo() as repo:
        found = repo.ask(text)
    context.update(title=f"Ask: {text}", found=found, asked=found.question)
    return site.render(request, "ask.html", context)


routes = [Route("/ask", ask)]
