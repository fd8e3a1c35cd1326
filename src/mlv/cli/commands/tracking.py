"""init, add, rm, status, commit."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from mlv.cli.commands.common import JSON_OPTION, author_from_env, open_repo, user_paths
from mlv.cli.output import (
    TerminalProgress,
    echo,
    human_size,
    print_json,
    quote_path,
    warn,
)


def init(
    path: Path = typer.Argument(
        Path("."), help="Folder to make a repository (created if missing)."
    ),
    branch: str = typer.Option("main", "--branch", "-b", help="Name of the first branch."),
    json: bool = JSON_OPTION,
) -> None:
    """Create an empty repository.

    Works in a plain folder or inside a git work tree: the store (.mlv) keeps
    itself out of git, except its config.

    Example: mlv init
    """
    from mlv.api import Repo

    repo = Repo.init(path, branch=branch)
    if json:
        print_json({"root": str(repo.root), "branch": branch})
    else:
        echo(f"Initialised empty mlv repository in {repo.layout.mlv}")
    repo.close()


STRICT_OPTION = typer.Option(
    False, "--strict", help="Refuse tables that break their contract in mlv.yaml (exit 1)."
)


def add(
    paths: list[str] = typer.Argument(..., help="Files and folders to stage."),
    strict: bool = STRICT_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Stage files and folders for the next commit.

    New and changed files are stored; files deleted under a named folder are
    staged as removed. Paths matched by .mlvignore (gitignore syntax) are skipped.
    Tables (Parquet, CSV, Arrow, JSON Lines) are profiled, and checked against
    their contracts in mlv.yaml: a broken contract is a warning, or with --strict
    (or tables.strict in .mlv/config.toml) a refusal that stages nothing.

    Example: mlv add data/ models/model.pkl
    """
    with open_repo() as repo:
        result = repo.add(
            user_paths(paths), progress=TerminalProgress(), strict=True if strict else None
        )
    for message in result.warnings:
        warn(message)
    if json:
        print_json(result.to_json())
        return
    parts = [
        f"{len(result.added)} added",
        f"{len(result.modified)} modified",
        f"{len(result.removed)} removed",
        f"{result.unchanged} unchanged",
    ]
    echo(f"staged: {', '.join(parts)} ({human_size(result.bytes_read)} read)")


def rm(
    paths: list[str] = typer.Argument(..., help="Tracked files or folders."),
    cached: bool = typer.Option(False, "--cached", help="Keep the files on disk; only untrack."),
    force: bool = typer.Option(
        False, "--force", "-f", help="Delete files even when their changes are not committed."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Stop tracking paths, and delete them from disk unless --cached.

    Example: mlv rm --cached data/scratch/
    """
    with open_repo() as repo:
        removed = repo.rm(user_paths(paths), cached=cached, force=force)
    if json:
        print_json({"removed": removed, "cached": cached})
        return
    for path in removed:
        echo(f"rm {quote_path(path)}")


def status(json: bool = JSON_OPTION) -> None:
    """Show staged changes, changes not yet staged, and untracked files in tracked folders.

    Example: mlv status
    """
    from mlv.cli.views import show_status

    show_status(json)


def commit(
    message: str = typer.Option(..., "--message", "-m", help="What the commit records and why."),
    allow_empty: bool = typer.Option(
        False, "--allow-empty", help="Commit even when nothing changed."
    ),
    strict: bool = STRICT_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Record the staged content as a new commit.

    The author comes from MLV_AUTHOR_NAME / MLV_AUTHOR_EMAIL, else git's
    user.name / user.email. Staged tables that changed are checked against their
    contracts in mlv.yaml: a warning, or with --strict a refusal. The pre-commit
    and post-commit hooks of mlv.yaml run around it.

    Example: mlv commit -m "Add the November training data"
    """
    with open_repo() as repo:
        commit_id = repo.commit(
            message,
            author=author_from_env(),
            allow_empty=allow_empty,
            strict=True if strict else None,
            on_warning=warn,
            environ=os.environ,
            stdout=sys.stderr if json else None,
        )
        if json:
            print_json(repo.show(commit_id).to_json())
            return
        counts = repo.change_counts(commit_id)
        branch = repo.current_branch() or "HEAD"
        made = repo.read_commit(commit_id)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no file changes"
    echo(f"[{branch} {commit_id[:12]}] {made.summary}")
    echo(f" {summary}")
    runs = made.runs
    if runs:
        echo(f" {len(runs)} run(s) recorded with it: see 'mlv show'")


def register(app: typer.Typer) -> None:
    for command in (init, add, rm, status, commit):
        app.command()(command)
