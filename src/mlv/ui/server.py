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


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; port 0 takes a free one."""
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

    sock = bind(host, port)
    port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown_host = "127.0.0.1"
    guard = Guard(served_hosts(host, port), new_token(), read_only)
    app = create_app(root, guard)
    served = Served(f"http://{shown_host}:{port}/", host, port, read_only, not is_loopback(host))
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
