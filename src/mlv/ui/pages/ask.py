"""Ask: one search box for "what was this on that day, and what made it?"."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlv.lineage.ask import answer, read_question
from mlv.ui.site import repo_path, site_of

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
        question = read_question(text, repo.current_branch(), repo.revisions)
        repo_path(question.path)  # the path rules every page keeps: no "..", no .mlv
        found = answer(repo.objects, repo.revisions, question)
    context.update(title=f"Ask: {text}", found=found, asked=question)
    return site.render(request, "ask.html", context)


routes = [Route("/ask", ask)]
