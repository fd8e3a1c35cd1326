"""checkout, restore, branch, switch, tag, merge."""

from __future__ import annotations

import os
import sys

import typer

from mlv.cli.commands.common import (
    JSON_OPTION,
    PATH_OPTION,
    author_from_env,
    open_repo,
    user_paths,
)
from mlv.cli.output import TerminalProgress, echo, print_json, print_markup, styled
from mlv.errors import InvalidArgumentError


def checkout(
    rev: str = typer.Argument(None, help="Branch, tag or commit to check out."),
    more_paths: list[str] = typer.Argument(
        None, help="Only restore these paths (also after '--')."
    ),
    force: bool = typer.Option(
        False, "--force", "-f", help="Overwrite files with uncommitted changes."
    ),
    paths: list[str] = PATH_OPTION,
    lock: bool = typer.Option(
        False, "--lock", help="Check out the commit mlv.lock names (same as mlv sync)."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Make the working tree match a revision, or restore only some paths from it.

    Without paths HEAD moves to REV. Files with uncommitted changes are never
    overwritten without --force. With --lock, REV is the commit mlv.lock names.

    Example: mlv checkout v1      mlv checkout HEAD~2 -- data/labels.csv
    """
    wanted = (more_paths or []) + (paths or [])
    if lock == (rev is not None) or (lock and wanted):
        raise InvalidArgumentError("name a revision to check out, or use --lock without one")
    with open_repo() as repo:
        if lock:
            result = repo.sync(force=force).checkout
        else:
            result = repo.checkout(
                rev,
                user_paths(wanted) if wanted else None,
                force=force,
                progress=TerminalProgress(),
            )
    if json:
        print_json(result.to_json())
        return
    echo(f"{len(result.written)} file(s) written, {len(result.removed)} removed")
    if result.carried:
        echo(f"kept {len(result.carried)} staged change(s), e.g. {result.carried[0]}")
    if not wanted:
        where = f"branch {result.branch}" if result.branch else f"{result.commit[:12]} (detached)"
        echo(f"HEAD is now at {where}")


def restore(
    paths: list[str] = typer.Argument(..., help="Tracked files or folders to restore."),
    json: bool = JSON_OPTION,
) -> None:
    """Discard changes in the working tree: put back the staged content of PATHS.

    Example: mlv restore data/labels.csv
    """
    with open_repo() as repo:
        result = repo.restore(user_paths(paths), progress=TerminalProgress())
    if json:
        print_json(result.to_json())
        return
    echo(f"{len(result.written)} file(s) restored")


def branch(
    name: str = typer.Argument(None, help="Branch to create (omit to list branches)."),
    start: str = typer.Argument("HEAD", help="Where the new branch starts."),
    delete: bool = typer.Option(False, "--delete", "-d", help="Delete the branch."),
    force: bool = typer.Option(False, "--force", "-D", help="Delete even if not merged."),
    remotes: bool = typer.Option(
        False, "--remotes", "-r", help="List the remote-tracking branches (origin/main)."
    ),
    all_: bool = typer.Option(
        False, "--all", "-a", help="List the branches and the remote-tracking branches."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """List, create or delete branches.

    Example: mlv branch experiment    mlv branch -d experiment    mlv branch -a
    """
    if (remotes or all_) and (name is not None or delete or force):
        raise InvalidArgumentError("--remotes and --all only list: give no branch name with them")
    with open_repo() as repo:
        if name is None:
            current = repo.current_branch()
            branches = {} if remotes else repo.branches()
            tracking = repo.remote_branches() if remotes or all_ else {}
            if json:
                shown: dict[str, object] = {"current": current, "branches": branches}
                if remotes or all_:
                    shown["remotes"] = tracking
                print_json(shown)
                return
            lines = []
            for short, commit_id in branches.items():
                mark = "*" if short == current else " "
                label = styled(short, "green") if short == current else short
                lines.append(f"{mark} {label}  {commit_id[:12]}")
            for short, commit_id in tracking.items():
                label = styled(f"remotes/{short}" if all_ else short, "red")
                lines.append(f"  {label}  {commit_id[:12]}")
            if lines:
                print_markup("\n".join(lines))
            return
        if delete or force:
            commit_id = repo.delete_branch(name, force=force)
            verb = "Deleted"
        else:
            commit_id = repo.create_branch(name, start)
            verb = "Created"
    if json:
        print_json({"branch": name, "commit": commit_id, "action": verb.lower()})
    else:
        echo(f"{verb} branch {name} ({commit_id[:12]})")


def switch(
    name: str = typer.Argument(..., help="Branch to switch to."),
    create: bool = typer.Option(False, "--create", "-c", help="Create the branch from HEAD first."),
    force: bool = typer.Option(
        False, "--force", "-f", help="Overwrite files with uncommitted changes."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Switch to a branch, updating the working tree.

    Example: mlv switch -c experiment
    """
    with open_repo() as repo:
        result = repo.switch(name, create=create, force=force)
    if json:
        print_json(result.to_json())
    else:
        echo(f"Switched to branch {name}")


def tag(
    name: str = typer.Argument(None, help="Tag to create (omit to list tags)."),
    rev: str = typer.Argument("HEAD", help="Commit to tag."),
    delete: bool = typer.Option(False, "--delete", "-d", help="Delete the tag."),
    force: bool = typer.Option(False, "--force", "-f", help="Move an existing tag."),
    json: bool = JSON_OPTION,
) -> None:
    """List, create or delete tags.

    Example: mlv tag v1      mlv tag prod-2026-11 HEAD~1
    """
    with open_repo() as repo:
        if name is None:
            tags = repo.tags()
            if json:
                print_json(tags)
            else:
                for short, commit_id in tags.items():
                    echo(f"{short}  {commit_id[:12]}")
            return
        if delete:
            commit_id, verb = repo.delete_tag(name), "Deleted"
        else:
            commit_id, verb = repo.create_tag(name, rev, force=force), "Tagged"
    if json:
        print_json({"tag": name, "commit": commit_id, "action": verb.lower()})
    else:
        echo(f"{verb} {name} ({commit_id[:12]})")


def merge(
    rev: str = typer.Argument(..., help="Branch or commit to merge into the current branch."),
    ours: bool = typer.Option(False, "--ours", help="Settle conflicts with our version."),
    theirs: bool = typer.Option(False, "--theirs", help="Settle conflicts with their version."),
    message: str = typer.Option(None, "--message", "-m", help="Message of the merge commit."),
    json: bool = JSON_OPTION,
) -> None:
    """Merge a branch: fast-forward when possible, else a three-way merge by file.

    A path changed on both sides is a conflict: nothing is changed and the
    paths are listed, until you rerun with --ours or --theirs. The pre-merge
    hooks of mlv.yaml run first.

    Example: mlv merge experiment --theirs
    """
    if ours and theirs:
        raise InvalidArgumentError("choose one of --ours and --theirs")
    prefer = "ours" if ours else "theirs" if theirs else None
    with open_repo() as repo:
        result = repo.merge(
            rev,
            prefer=prefer,
            message=message,
            author=author_from_env(),
            environ=os.environ,
            stdout=sys.stderr if json else None,
        )
    if json:
        print_json(result.to_json())
        return
    if result.kind == "up-to-date":
        echo("Already up to date.")
    elif result.kind == "fast-forward":
        echo(f"Fast-forward to {result.commit[:12]}")
    else:
        echo(f"Merged {rev}: commit {result.commit[:12]}")
        for path in result.resolved:
            echo(f"  conflict settled with --{prefer}: {path}")


def register(app: typer.Typer) -> None:
    for command in (checkout, restore, branch, switch, tag, merge):
        app.command()(command)
