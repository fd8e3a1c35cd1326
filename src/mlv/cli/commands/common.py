"""Helpers every command uses: opening the repository, the shared options."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from mlv.model.objects import Person
    from mlv.repo.repository import Repo

JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON.")
PATH_OPTION = typer.Option(
    None, "--path", hidden=True, help="Paths given after '--' (filled in by mlv itself)."
)


def open_repo() -> Repo:
    """The repository around the current directory."""
    from mlv.repo.repository import Repo

    def tell(message: str) -> None:
        sys.stderr.write(f"mlv: {message}\n")

    return Repo(Path.cwd(), on_lock_wait=tell)


def author_from_env() -> Person | None:
    """MLV_AUTHOR_NAME / MLV_AUTHOR_EMAIL, when set, override git's user.name/email."""
    import os

    from mlv.model.objects import Person

    name = os.environ.get("MLV_AUTHOR_NAME")
    email = os.environ.get("MLV_AUTHOR_EMAIL")
    if not name and not email:
        return None
    from mlv.repo.identity import default_author

    fallback = default_author(Path.cwd())
    return Person(name or fallback.name, email or fallback.email)


def user_paths(paths: list[str] | None) -> list[str]:
    """Paths as the user typed them, made absolute against the current directory."""
    return [str(Path.cwd() / p) for p in paths or []]
