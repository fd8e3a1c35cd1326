"""ui: the repository as web pages on this machine (``mlv.ui``)."""

from __future__ import annotations

import contextlib
import sys

import typer

from mlv.cli.output import warn


def ui(
    port: int = typer.Option(8765, "--port", "-p", help="Port to listen on (0: any free one)."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on. Anything but 127.0.0.1 is warned of."
    ),
    read_only: bool = typer.Option(
        False, "--read-only", help="Show everything, change nothing: no Run, Commit or edits."
    ),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in a web browser."),
) -> None:
    """Serve runs, history, files, diffs, lineage and the pipeline as web pages.

    The pages work offline: everything they use ships with mlv. The server answers
    only to the address it prints. Buttons that change something (Run, Commit,
    editing parameters) work only from its own pages, and not at all with
    --read-only. Stop it with Ctrl-C.

    Example: mlv ui --open

    Example: mlv ui --read-only --port 0
    """
    from mlv.cli.context import open_repo
    from mlv.ui.server import Served, serve

    with open_repo() as repo:
        root = repo.root

    def ready(served: Served) -> None:
        if served.exposed:
            warn(
                f"listening on {host}, reachable from other machines: anyone who can reach "
                "it can read this repository"
                + ("" if read_only else ", and run its pipeline from its pages")
            )
        mode = " (read-only)" if served.read_only else ""
        sys.stdout.write(f"mlv ui: serving {root} at {served.url}{mode}\n")
        if served.everywhere:
            sys.stdout.write(
                f"Other machines open http://ADDRESS:{served.port}/ with this machine's address.\n"
            )
        sys.stdout.write("Press Ctrl-C to stop.\n")
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        serve(
            root,
            host=host,
            port=port,
            read_only=read_only,
            open_browser=open_browser,
            on_ready=ready,
        )


def register(app: typer.Typer) -> None:
    app.command()(ui)
