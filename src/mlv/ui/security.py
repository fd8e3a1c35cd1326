"""What stands between the page and the repository: the Host check, the session token,
read-only mode, and repository paths taken from URLs.

A server on 127.0.0.1 is still reachable from any web page the user opens: a page
can post a form to it (cross-site request forgery), and a name it controls can be
made to resolve to 127.0.0.1 (DNS rebinding), after which the browser sends that
page's requests, with the attacker's name as Host. So:

- a request whose Host header is not one this server answers to is refused;
- a request that changes something carries a token that only pages this server
  rendered know (another origin cannot read them), in the ``X-MLV-Token`` header,
  which a cross-site form cannot set;
- in read-only mode no request changes anything.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_HEADER = "x-mlv-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def served_hosts(host: str, port: int) -> frozenset[str]:
    """The Host headers a server bound to ``host:port`` answers to.

    On a loopback address, the loopback names. On another address, that address.
    On every address (0.0.0.0 or ::), the loopback names, this machine's name and
    the addresses that name resolves to.
    """
    names: Iterable[str]
    if is_loopback(host):
        names = LOOPBACK_NAMES
    elif host in ("0.0.0.0", "::", ""):
        names = (*LOOPBACK_NAMES, *_own_names())
    else:
        names = (f"[{host}]" if ":" in host else host,)
    return frozenset(f"{name}:{port}".lower() for name in names)


def _own_names() -> list[str]:
    name = socket.gethostname()
    try:
        _, aliases, addresses = socket.gethostbyname_ex(name)
    except OSError:
        return [name]
    return [name, socket.getfqdn(name), *aliases, *addresses]


@dataclass(frozen=True)
class Guard:
    """The checks every request passes before a page sees it."""

    hosts: frozenset[str]
    token: str
    read_only: bool = False

    def refusal(self, method: str, headers: dict[str, str]) -> tuple[int, str] | None:
        """Why a request is refused, as (status, message), or None to let it through."""
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            return 421, (
                f"this server does not answer to the host {host or '(none)'!r}; "
                "open it by the address 'mlv ui' printed"
            )
        if method in SAFE_METHODS:
            return None
        if self.read_only:
            return 403, "this server was started with --read-only: nothing can be changed here"
        given = headers.get(TOKEN_HEADER, "")
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            return 403, "missing or wrong session token: reload the page and try again"
        return None


class GuardMiddleware:
    """ASGI middleware applying a ``Guard`` to every HTTP request."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self.guard.refusal(scope["method"], headers)
        if refusal is not None:
            status, message = refusal
            body = message.encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
