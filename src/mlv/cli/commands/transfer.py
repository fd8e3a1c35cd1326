"""push, fetch, pull, clone: moving commits and their data through a remote."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mlv.cli.commands.common import JSON_OPTION, PATH_OPTION, open_repo, user_paths
from mlv.cli.output import TerminalProgress, echo, human_size, print_json, warn

if TYPE_CHECKING:
    from mlv.remote.fetch import FetchResult
    from mlv.remote.push import PushResult

_SHORT = 10


def _short_ref(ref: str) -> str:
    for prefix in ("refs/heads/", "refs/tags/", "refs/remotes/", "refs/notes/"):
        if ref.startswith(prefix):
            return ref.removeprefix(prefix)
    return ref


def _span(old: str | None, new: str | None) -> str:
    return f"{(old or '')[:_SHORT]}..{(new or '')[:_SHORT]}"


def _print_push(result: PushResult) -> None:
    echo(f"To {result.url}")
    for entry in result.refs:
        name = _short_ref(entry.ref)
        if entry.status == "up-to-date":
            echo(f" = [up to date]  {name}")
        elif entry.status == "new":
            echo(f" * [new]  {name} -> {name}")
        elif entry.status == "forced":
            echo(f" + {_span(entry.remote, entry.local)}  {name} -> {name} (forced)")
        elif entry.status == "rejected":
            echo(f" ! [rejected]  {name} -> {name}")
        else:
            echo(f"   {_span(entry.remote, entry.local)}  {name} -> {name}")
    if result.objects:
        echo(
            f"Sent {result.objects} objects ({human_size(result.bytes)}) in {result.packs} pack(s)."
        )
    elif all(r.status == "up-to-date" for r in result.refs):
        echo("Everything up to date.")
    for line in result.warnings:
        warn(line)


def _print_fetch(result: FetchResult) -> None:
    for line in result.warnings:
        warn(line)
    if result.empty:
        echo(f"Remote {result.url} is empty: nothing to fetch.")
        return
    if result.changes:
        echo(f"From {result.url}")
    for change in result.changes:
        name = _short_ref(change.ref)
        if change.new is None:
            echo(f" - [deleted]  {name}")
        elif change.old is None:
            echo(f" * [new]  {name}")
        else:
            echo(f"   {_span(change.old, change.new)}  {name}")
    if result.objects:
        echo(f"Received {result.objects} objects ({human_size(result.bytes)}).")


def push(
    remote: str = typer.Argument(None, help="The remote (default: the default remote)."),
    refs: list[str] = typer.Argument(
        None, help="Branches or tags to push (default: the current branch)."
    ),
    all_branches: bool = typer.Option(False, "--all", help="Push every branch."),
    tags: bool = typer.Option(False, "--tags", help="Push every tag."),
    force: bool = typer.Option(
        False,
        "--force",
        "-f",
        help="Move a ref that is not a fast-forward, if still where you last fetched it.",
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Send branches and tags, and everything their commits need, to a remote.

    Only what the remote lacks is sent. A remote branch moves only as a
    fast-forward; --force overrides only the state you last fetched (as git's
    --force-with-lease), never commits someone pushed since.

    Example: mlv push      mlv push origin main v1.0      mlv push --all --tags
    """
    from mlv.remote.push import PushRejectedError

    with open_repo() as repo:
        try:
            result = repo.push(
                remote,
                refs or (),
                all_branches=all_branches,
                tags=tags,
                force=force,
                progress=TerminalProgress(),
            )
        except PushRejectedError as exc:
            if json:
                print_json(exc.result.to_json())
            else:
                _print_push(exc.result)
            raise
    if json:
        print_json(result.to_json())
    else:
        _print_push(result)


def fetch(
    remote: str = typer.Argument(None, help="The remote (default: the default remote)."),
    json: bool = JSON_OPTION,
) -> None:
    """Receive a remote's commits and data, and update its remote-tracking branches.

    Your branches and working tree do not change: see what came with
    'mlv log origin/main', then 'mlv merge origin/main' (or 'mlv pull').
    In a partial clone only history is received; content comes when needed.

    Example: mlv fetch      mlv log HEAD..origin/main
    """
    from mlv.remote.fetch import FetchRefusedError

    with open_repo() as repo:
        try:
            result = repo.fetch(remote, progress=TerminalProgress())
        except FetchRefusedError as exc:
            # What was sound moved: say so, then the refusal is the error line.
            if json:
                print_json(exc.result.to_json())
            else:
                exc.result.warnings = exc.result.warnings[1:]
                _print_fetch(exc.result)
            raise
    if json:
        print_json(result.to_json())
    else:
        _print_fetch(result)


def pull(
    remote: str = typer.Argument(None, help="The remote (default: the default remote)."),
    branch: str = typer.Argument(None, help="The remote branch (default: the current one's name)."),
    paths: list[str] = PATH_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Fetch, then bring the current branch up to the remote's: fast-forward or merge.

    With paths after '--', only the content under them is received, and only
    they are checked out from the remote's branch; the branch does not move.

    Example: mlv pull      mlv pull origin main -- data/images/cats
    """
    with open_repo() as repo:
        result = repo.pull(
            remote, branch, user_paths(paths) if paths else None, progress=TerminalProgress()
        )
    if json:
        print_json(result.to_json())
        return
    _print_fetch(result.fetch)
    if result.merge is not None:
        if result.merge.kind == "up-to-date":
            echo("Already up to date.")
        else:
            echo(f"{result.merge.kind.capitalize()} to {result.merge.commit[:_SHORT]}.")
    if result.checkout is not None:
        echo(f"Checked out {len(result.checkout.written)} file(s).")


def clone(
    url: str = typer.Argument(..., help="A folder, file:///PATH or s3://BUCKET/PREFIX."),
    directory: str = typer.Argument(None, help="The new repository's folder."),
    branch: str = typer.Option(None, "--branch", "-b", help="The branch to check out."),
    no_data: bool = typer.Option(
        False, "--no-data", help="History, runs, lineage and profiles only; content when needed."
    ),
    endpoint_url: str = typer.Option(None, "--endpoint-url", help="An S3-compatible server's URL."),
    region: str = typer.Option(None, "--region", help="The S3 region."),
    profile: str = typer.Option(None, "--profile", help="The AWS profile for credentials."),
    allow_http: bool = typer.Option(False, "--allow-http", help="Allow a plain-HTTP endpoint."),
    paths: list[str] = PATH_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Make a new repository from a remote, named origin, and check out a branch.

    --no-data and paths after '--' make a partial clone: all of history comes,
    but only the content under the paths (or none); the rest arrives when a
    command needs it (checkout, pull -- PATH, reproduce). An interrupted clone
    is kept: run the same command again to finish it.

    Example: mlv clone s3://team/churn churn --endpoint-url http://minio:9000 --allow-http
    """
    from mlv.api import Repo

    repo, result = Repo.clone(
        url,
        directory,
        branch=branch,
        no_data=no_data,
        paths=paths or None,
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        allow_http=allow_http,
        progress=TerminalProgress(),
    )
    repo.close()
    if json:
        print_json(result.to_json())
        return
    for line in result.warnings:
        warn(line)
    if result.branch is None:
        echo(f"Cloned an empty remote into {result.path}.")
        return
    kind = "partial clone" if result.partial else "clone"
    echo(
        f"Made a {kind} of {result.url} in {result.path}: branch {result.branch} at "
        f"{(result.commit or '')[:_SHORT]}, {result.written} file(s) written, "
        f"{result.fetch.objects} objects ({human_size(result.fetch.bytes)}) received."
    )


def register(app: typer.Typer) -> None:
    for command in (push, fetch, pull, clone):
        app.command(command.__name__)(command)
