"""Starting the server: the socket, the guard that goes with its address, uvicorn."""

from __future__ import annotations

import contextlib
import socket
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlv.errors import InvalidArgumentError
from mlv.ui.security import Guard, is_loopback, new_token, served_hosts

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@dataclass(frozen=True)
class Served:
    """Where the server listens, as the user should open it."""

    url: str
    host: str
    port: int
    read_only: bool
    exposed: bool  # listening on more than this machine
    everywhere: bool = False  # on every address: other machines use this one's address


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; port 0 takes a free one.

    Raises:
        InvalidArgumentError: no such address here, the port is out of range or taken.
    """
    if not 0 <= port <= 65535:
        raise InvalidArgumentError(f"port {port} is out of range: give 1 to 65535, or 0")
    if not host:
        raise InvalidArgumentError(
            "--host is empty: give an address, e.g. 127.0.0.1, or 0.0.0.0 for every one"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno in (98, 48):  # EADDRINUSE on Linux, macOS
            raise InvalidArgumentError(
                f"port {port} on {host} is in use: pick another with --port (0 for any free one)"
            ) from None
        raise InvalidArgumentError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _warm(root: Path) -> None:
    """Read the branch's runs once while the user opens the page: the runs table keeps
    what it read (objects never change), so the first Runs page is as quick as the next."""
    from mlv.api import Repo
    from mlv.errors import MlvError

    with contextlib.suppress(MlvError, OSError), Repo(root) as repo:
        repo.runs_table(limit=1)


def serve(
    root: Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    read_only: bool = False,
    open_browser: bool = False,
    on_ready: Callable[[Served], None] | None = None,
) -> None:
    """Serve the repository at ``root`` until interrupted."""
    import uvicorn

    from mlv.ui.app import create_app

    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # an IPv6 address as URLs write it
    sock = bind(host, port)
    port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown_host = "127.0.0.1"
    everywhere = host in ("0.0.0.0", "::")
    guard = Guard(served_hosts(host, port), new_token(), read_only, everywhere)
    app = create_app(root, guard)
    served = Served(
        f"http://{shown_host}:{port}/", host, port, read_only, not is_loopback(host), everywhere
    )
    if on_ready is not None:
        on_ready(served)
    threading.Thread(target=_warm, args=(root,), name="mlv-ui-warm", daemon=True).start()
    if open_browser:
        webbrowser.open(served.url)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        # Commands started from the pages run in their own process groups, out of
        # reach of the terminal's Ctrl-C: they end with the server.
        runner = getattr(app.state, "jobs", None)
        if runner is not None:
            runner.stop_all()
