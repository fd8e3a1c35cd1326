"""remote: name the folders and object stores a repository is shared through."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mlv.cli.commands.common import JSON_OPTION, open_repo
from mlv.cli.output import echo, print_json, warn

if TYPE_CHECKING:
    from mlv.remote.config import RemoteSpec

remote_app = typer.Typer(
    name="remote", no_args_is_help=True, rich_markup_mode=None, add_completion=False
)


@remote_app.callback()
def remote() -> None:
    """The remotes this repository is shared through: folders and S3-compatible stores.

    A remote's URL is a folder (a local or mounted path), file:///PATH, or
    s3://BUCKET/PREFIX. Remotes are kept in .mlv/config.toml, which git shares;
    S3 credentials come from the AWS chain (environment, ~/.aws files, --profile)
    or from [remote.NAME] in .mlv/config.local.toml, which git never sees.

    Example: mlv remote add origin s3://team-bucket/project      mlv remote test
    """


def _describe(spec: RemoteSpec, default: bool) -> str:
    extra = [
        f"{key} {value}"
        for key, value in (
            ("endpoint", spec.endpoint_url),
            ("region", spec.region),
            ("profile", spec.profile),
        )
        if value
    ]
    if spec.allow_http:
        extra.append("plain HTTP")
    shown = f"  ({', '.join(extra)})" if extra else ""
    return f"{'*' if default else ' '} {spec.name}  {spec.url}{shown}"


def _said(spec: RemoteSpec, json: bool, line: str) -> None:
    """What an edit of one remote prints: the remote as it now is, or one line."""
    if json:
        print_json(spec.to_json())
    else:
        echo(line)


@remote_app.command("add")
def add(
    name: str = typer.Argument(..., help="The remote's name, e.g. origin."),
    url: str = typer.Argument(..., help="A folder, file:///PATH or s3://BUCKET/PREFIX."),
    default: bool = typer.Option(False, "--default", help="Make it the default remote."),
    endpoint_url: str = typer.Option(
        None, "--endpoint-url", help="An S3-compatible server's URL (MinIO, Ceph, R2, ...)."
    ),
    region: str = typer.Option(None, "--region", help="The S3 region."),
    profile: str = typer.Option(None, "--profile", help="The AWS profile for credentials."),
    allow_http: bool = typer.Option(
        False, "--allow-http", help="Allow plain HTTP, for a server on the local network."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Name a remote. The first remote added becomes the default.

    Example: mlv remote add origin s3://bucket/project --endpoint-url http://minio:9000 --allow-http
    """
    with open_repo() as repo:
        spec = repo.add_remote(
            name,
            url,
            default=default,
            endpoint_url=endpoint_url,
            region=region,
            profile=profile,
            allow_http=allow_http,
        )
        is_default = repo.remotes().default == spec.name
    if json:
        print_json({**spec.to_json(), "default": is_default})
        return
    echo(f"added remote {spec.name}: {spec.url}{' (the default)' if is_default else ''}")


@remote_app.command("list")
def list_(json: bool = JSON_OPTION) -> None:
    """List the remotes; the default one is marked with *.

    Example: mlv remote list
    """
    with open_repo() as repo:
        remotes = repo.remotes()
    if json:
        print_json(
            {
                "default": remotes.default,
                "remotes": [spec.to_json() for spec in remotes.by_name.values()],
            }
        )
        return
    if not remotes.by_name:
        echo("no remotes; add one with 'mlv remote add NAME URL'")
    for spec in remotes.by_name.values():
        echo(_describe(spec, spec.name == remotes.default))


@remote_app.command("remove")
def remove(
    name: str = typer.Argument(..., help="The remote to forget."), json: bool = JSON_OPTION
) -> None:
    """Forget a remote. Nothing on the remote itself is touched.

    Example: mlv remote remove backup
    """
    with open_repo() as repo:
        spec = repo.remove_remote(name)
    _said(spec, json, f"removed remote {spec.name} ({spec.url}); what it holds is left as it is")


@remote_app.command("rename")
def rename(
    old: str = typer.Argument(..., help="The remote's name now."),
    new: str = typer.Argument(..., help="Its new name."),
    json: bool = JSON_OPTION,
) -> None:
    """Rename a remote (its credentials in .mlv/config.local.toml too).

    Example: mlv remote rename origin team
    """
    with open_repo() as repo:
        spec = repo.rename_remote(old, new)
    _said(spec, json, f"renamed remote {old} to {spec.name}")


@remote_app.command("set-url")
def set_url(
    name: str = typer.Argument(..., help="The remote."),
    url: str = typer.Argument(..., help="Its new URL."),
    json: bool = JSON_OPTION,
) -> None:
    """Point a remote at another URL; its other settings stay.

    Example: mlv remote set-url origin s3://new-bucket/project
    """
    with open_repo() as repo:
        spec = repo.set_remote_url(name, url)
    _said(spec, json, f"remote {spec.name} is now {spec.url}")


@remote_app.command("default")
def default(
    name: str = typer.Argument(..., help="The remote push and pull use when none is named."),
    json: bool = JSON_OPTION,
) -> None:
    """Make a remote the default one.

    Example: mlv remote default origin
    """
    with open_repo() as repo:
        spec = repo.set_default_remote(name)
    _said(spec, json, f"the default remote is {spec.name}")


@remote_app.command("test")
def test(
    name: str = typer.Argument(None, help="The remote (default: the default remote)."),
    json: bool = JSON_OPTION,
) -> None:
    """Check that a remote can be listed, written, read and deleted, and that it
    enforces conditional writes: a second create of the same key, or a replace from
    a stale version, must be refused, or concurrent pushes could lose commits.

    Writes and removes one small probe under tmp/. Exits 1 when a check fails.

    Example: mlv remote test origin
    """
    with open_repo() as repo:
        report = repo.test_remote(name)
    if json:
        print_json(report.to_json())
    else:
        echo(f"remote {report.remote} ({report.url}):")
        for step in report.steps:
            echo(f"  {'ok  ' if step.ok else 'FAIL'} {step.name}: {step.detail}")
        if report.ok:
            echo("all checks passed: it can be written, and enforces conditional writes")
        elif report.conditional_writes is False:
            warn("this remote does not enforce conditional writes")
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(remote_app)
