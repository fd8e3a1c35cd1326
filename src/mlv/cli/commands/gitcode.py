"""lock, sync: the ``mlv.lock`` file that ties git's code to mlv's data."""

from __future__ import annotations

import typer

from mlv.cli.commands.common import JSON_OPTION, open_repo
from mlv.cli.output import echo, print_json


def lock(
    check: bool = typer.Option(
        False, "--check", help="Write nothing; exit 1 when mlv.lock does not name HEAD."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Write mlv.lock for HEAD, or check that it is current.

    mlv commit keeps it up to date inside git; commit it to git with your code.

    Example: mlv lock      mlv lock --check
    """
    with open_repo() as repo:
        if check:
            current = repo.pin_is_current()
            path = None
        else:
            path = repo.write_pin()
            current = True
    if json:
        print_json({"current": current, "path": str(path) if path else None})
    elif check:
        echo("mlv.lock is current" if current else "mlv.lock is stale: run 'mlv lock'")
    else:
        echo(f"wrote {path}")
    if not current:
        raise typer.Exit(1)


def sync(
    force: bool = typer.Option(
        False, "--force", "-f", help="Overwrite files with uncommitted changes."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Make the working tree's data match mlv.lock (after a git checkout or pull).

    Same as mlv checkout --lock. Files with uncommitted changes are never
    overwritten without --force.

    Example: git checkout experiment && mlv sync
    """
    with open_repo() as repo:
        result = repo.sync(force=force)
    if json:
        print_json(result.to_json())
        return
    done = result.checkout
    echo(f"{len(done.written)} file(s) written, {len(done.removed)} removed")
    for path in (done.written + done.removed)[:10]:
        echo(f"    {path}")
    if len(done.written) + len(done.removed) > 10:
        echo(f"    and {len(done.written) + len(done.removed) - 10} more")
    where = f"branch {done.branch}" if done.branch else f"{result.commit[:12]} (detached)"
    echo(f"data now matches mlv.lock: {where}")


def register(app: typer.Typer) -> None:
    for command in (lock, sync):
        app.command()(command)
