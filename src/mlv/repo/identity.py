"""Who is committing: an explicit author, else git's user.name/user.email, else the login."""

from __future__ import annotations

import contextlib
import getpass
import socket
from pathlib import Path

from mlv.model.objects import Person


def git_author(root: Path) -> Person | None:
    """user.name and user.email from the repository's git config, then the user's."""
    try:
        from dulwich.config import ConfigFile, StackedConfig
    except ImportError:  # pragma: no cover - dulwich is a dependency
        return None
    configs = []
    for candidate in (*(p / ".git" / "config" for p in (root, *root.parents)),):
        if candidate.is_file():
            with contextlib.suppress(Exception):
                configs.append(ConfigFile.from_path(str(candidate)))
            break
    try:
        stacked = StackedConfig(configs + StackedConfig.default_backends())
        name = stacked.get((b"user",), b"name").decode()
        email = stacked.get((b"user",), b"email").decode()
    except (KeyError, UnicodeDecodeError, OSError):
        return None
    return Person(name, email) if name and email else None


def default_author(root: Path) -> Person:
    person = git_author(root)
    if person is not None:
        return person
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Person(user, f"{user}@{socket.gethostname()}")
