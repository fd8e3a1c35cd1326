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
- in read-only mode no request changes anything;
- no page may be framed by another (a click on a hostile page must not land on a
  button here, token or not), and pages run only the scripts mlv ships
  (``Content-Security-Policy``), so text from the repository cannot become script.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_HEADER = "x-mlv-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# Sent with every answer. Styles may be inline (the pages set colours in attributes);
# scripts, frames, forms and fetches stay on this origin.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


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
    everywhere: bool = False  # listening on every address (0.0.0.0 or ::)

    def refusal(
        self, method: str, headers: dict[str, str], local: tuple[str, int] | None = None
    ) -> tuple[int, str] | None:
        """Why a request is refused, as (status, message), or None to let it through.

        ``local`` is the address the request came in on: a server listening on every
        address answers to each of its addresses written as a number, whatever this
        machine's name resolves to (a rebinding attack sends a name, never the number).
        """
        host = headers.get("host", "").lower()
        if host not in self.hosts and host != _address_host(local):
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


def _address_host(local: tuple[str, int] | None) -> str | None:
    if local is None:
        return None
    address, port = local[0], local[1]
    return (f"[{address}]" if ":" in address else address).lower() + f":{port}"


class GuardMiddleware:
    """ASGI middleware applying a ``Guard`` to every HTTP request, and the security
    headers to every answer."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        local = self.guard_local(scope)
        refusal = self.guard.refusal(scope["method"], headers, local)

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        if refusal is not None:
            status, text = refusal
            body = text.encode()
            await send_secured(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_secured({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send_secured)

    def guard_local(self, scope: Scope) -> tuple[str, int] | None:
        """The address the request came in on, when the server listens on every one."""
        server = scope.get("server")
        if not self.guard.everywhere or not server or server[1] is None:
            return None
        return (str(server[0]), int(server[1]))
