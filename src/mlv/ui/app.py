"""The web application: every page module's routes, the static files, the guard, and
one page for errors.

Each module in ``mlv.ui.pages`` holds one page (or a family of them): a ``routes``
list and, when it belongs in the top bar, a ``NAV`` item. Adding a page is adding
a module there.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mlv.errors import InvalidArgumentError, MlvError, NotFoundError
from mlv.ui import pages
from mlv.ui.security import Guard, GuardMiddleware
from mlv.ui.site import NavItem, Site, site_of

STATIC = Path(__file__).parent / "static"


def create_app(root: Path, guard: Guard) -> Starlette:
    """The application serving the repository at ``root``."""
    routes: list[BaseRoute] = [Route("/", _home)]
    nav: list[NavItem] = []
    for module in _page_modules():
        routes.extend(module.routes)
        item = getattr(module, "NAV", None)
        if item is not None:
            nav.append(item)
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(GuardMiddleware, guard=guard)],
        exception_handlers={MlvError: _mlv_error, HTTPException: _http_error},
    )
    app.state.site = Site(root, guard, nav)
    return app


def _page_modules() -> list:  # type: ignore[type-arg]
    found = []
    for info in sorted(pkgutil.iter_modules(pages.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            found.append(importlib.import_module(f"{pages.__name__}.{info.name}"))
    return found


async def _home(request: Request) -> Response:
    nav = site_of(request).nav
    if not nav:
        raise HTTPException(404, "no pages are installed")
    return RedirectResponse(nav[0].url, status_code=302)


def _status_of(error: MlvError) -> int:
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, InvalidArgumentError):
        return 400
    return 500


async def _mlv_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, MlvError)
    return _error_page(request, _status_of(error), str(error))


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return _error_page(request, error.status_code, str(error.detail))


def _error_page(request: Request, status: int, message: str) -> Response:
    if request.headers.get("hx-request"):
        # htmx shows a refusal in place (mlv.js), not a whole page inside a fragment.
        return PlainTextResponse(message, status_code=status)
    site = site_of(request)
    return site.render(request, "error.html", {"status": status, "message": message}, status)
