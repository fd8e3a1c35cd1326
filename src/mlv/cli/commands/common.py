"""Helpers every command uses: opening the repository, the shared options."""

from __future__ import annotations

import typer

from mlv.cli.context import author_from_env, open_repo, user_paths

JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON.")
PATH_OPTION = typer.Option(
    None, "--path", hidden=True, help="Paths given after '--' (filled in by mlv itself)."
)


__all__ = ["JSON_OPTION", "PATH_OPTION", "author_from_env", "open_repo", "user_paths"]
