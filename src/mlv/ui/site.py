"""What every page shares: the repository it serves, the templates, and the guard.

The repository is opened for each request and closed after it. Reads never take the
write lock, and a command writing at the same time is seen as it was before or after
its commit, never half-way: objects are written before the ref that names them, and
each request resolves its revisions once, at its start.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from mlv.api import Repo
from mlv.core.paths import RESERVED_NAMES
from mlv.errors import InvalidArgumentError
from mlv.lineage.render import size_text, when
from mlv.ui.security import Guard

PACKAGE = "mlv.ui"
# Cap on a form body: a page posts a few parameters, never a file.
MAX_FORM_BYTES = 1 << 20


@dataclass(frozen=True)
class NavItem:
    """A page's place in the top bar: its label, its URL, and where it comes (low first)."""

    label: str
    url: str
    order: int


class Site:
    """The served repository and the means to render its pages."""

    def __init__(self, root: Path, guard: Guard, nav: list[NavItem]) -> None:
        self.root = root
        self.guard = guard
        self.nav = sorted(nav, key=lambda item: item.order)
        self.templates = Environment(
            loader=PackageLoader(PACKAGE, "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["urlpath"] = lambda text: quote(str(text), safe="/")
        self.templates.filters["short"] = lambda commit_id: str(commit_id)[:10]
        self.templates.filters["when"] = when
        self.templates.filters["size"] = size_text
        self.templates.filters["delta"] = signed_size

    @property
    def read_only(self) -> bool:
        return self.guard.read_only

    @contextmanager
    def repo(self) -> Iterator[Repo]:
        repo = Repo(self.root)
        try:
            yield repo
        finally:
            repo.close()

    def render(
        self, request: Request, template: str, context: Mapping[str, Any], status: int = 200
    ) -> HTMLResponse:
        """A page, or only its fragment when htmx asks for one (``HX-Request``).

        A template that extends ``base.html`` renders its ``content`` block alone for
        an htmx request that targets ``#content``; fragment templates (``_name.html``)
        render as they are.
        """
        values = {
            "request": request,
            "nav": self.nav,
            "token": self.guard.token,
            "read_only": self.read_only,
            "repo_name": self.root.name,
            **context,
        }
        page = self.templates.get_template(template)
        if request.headers.get("hx-target") == "content" and "content" in page.blocks:
            context_obj = page.new_context(values)
            html = "".join(page.blocks["content"](context_obj))
        else:
            html = page.render(values)
        return HTMLResponse(html, status_code=status)


def signed_size(n: int) -> str:
    """A change of size as ``+1.2 KiB``, ``-300 B`` or ``0 B``."""
    sign = "+" if n > 0 else "-" if n < 0 else ""
    return sign + size_text(abs(n))


def site_of(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


async def form_of(request: Request) -> dict[str, str]:
    """A url-encoded form body as its last value per field (htmx posts these).

    Read up to ``MAX_FORM_BYTES`` and no further: a body announced or sent larger is
    refused before it is held in memory.
    """
    too_big = InvalidArgumentError(f"a form over {MAX_FORM_BYTES} bytes is over the limit of 1 MiB")
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > MAX_FORM_BYTES:
        raise too_big
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_FORM_BYTES:
            raise too_big
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[-1] for name, values in fields.items()}


def repo_path(text: str) -> str:
    """A repository path taken from a URL, as the store names it (``a/b.parquet``).

    Refuses what could name something outside the repository's content: ``..``,
    ``.mlv`` and ``.git`` (at any depth: mlv never tracks them), NUL, backslashes. The
    empty string is the root. Content is always read from the store, never from the
    disk, so a path refused here is refused before anything is looked up.
    """
    if "\x00" in text or "\\" in text:
        raise InvalidArgumentError(f"not a repository path: {text!r}")
    parts = [part for part in text.strip("/").split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise InvalidArgumentError(f"a path may not go up with '..': {text!r}")
    for part in parts:
        if part.lower() in RESERVED_NAMES:
            whose = "the store" if part.lower() == ".mlv" else "git's"
            raise InvalidArgumentError(f"the {part} folder is {whose}, not content: {text!r}")
    return "/".join(parts)


def query_int(
    request: Request, name: str, default: int, lowest: int = 0, highest: int = 10**9
) -> int:
    """An integer query parameter, kept within bounds; a malformed one is bad input."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgumentError(f"{name} must be a whole number, not {raw!r}") from None
    return max(lowest, min(highest, value))
