"""What every command needs from its surroundings: the repository here, the author, paths."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlv.api import Repo
    from mlv.model.objects import Person


def open_repo() -> Repo:
    """The repository around the current directory.

    MLV_LOCK_TIMEOUT (seconds, default 600) bounds the wait for another writer.
    """
    from mlv.api import Repo

    def tell(message: str) -> None:
        sys.stderr.write(f"mlv: {message}\n")

    timeout = os.environ.get("MLV_LOCK_TIMEOUT")
    if timeout is None:
        return Repo(Path.cwd(), on_lock_wait=tell)
    try:
        seconds = float(timeout)
    except ValueError:
        from mlv.errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"MLV_LOCK_TIMEOUT={timeout!r} is not a number of seconds"
        ) from None
    return Repo(Path.cwd(), lock_timeout=seconds, on_lock_wait=tell)


def author_from_env() -> Person | None:
    """MLV_AUTHOR_NAME / MLV_AUTHOR_EMAIL, when set, override git's user.name/email."""
    from mlv.model.objects import Person

    name = os.environ.get("MLV_AUTHOR_NAME")
    email = os.environ.get("MLV_AUTHOR_EMAIL")
    if not name and not email:
        return None
    from mlv.repo.identity import default_author

    fallback = default_author(Path.cwd())
    return Person(name or fallback.name, email or fallback.email)


def user_paths(paths: list[str] | None) -> list[str]:
    """Paths as the user typed them, made absolute against the current directory.

    An empty one is refused, as git refuses an empty pathspec: ``mlv restore "$F"``
    with ``F`` unset must not mean the whole tree.
    """
    if any(p == "" for p in paths or []):
        from mlv.errors import InvalidArgumentError

        raise InvalidArgumentError("an empty path names nothing; write '.' for everything here")
    return [str(Path.cwd() / p) for p in paths or []]
