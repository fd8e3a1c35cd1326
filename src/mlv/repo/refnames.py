"""Ref names: the one gate every ref name passes, given by a user or read from disk."""

from __future__ import annotations

import re

from mlv.core.paths import temporary_name
from mlv.errors import InvalidArgumentError

HEADS = "refs/heads/"
TAGS = "refs/tags/"
# Chains of notes objects (records kept reachable, such as reproductions), not commits.
NOTES = "refs/notes/"
# Remote-tracking branches, refs/remotes/<remote>/<branch>: where a remote's branches
# were when last fetched.
REMOTES = "refs/remotes/"
# The only namespaces mlv reads and writes refs in; HEAD may point into HEADS only.
NAMESPACES = (HEADS, TAGS, NOTES, REMOTES)
# The name HEAD's reflog has; it is not a ref name but has a reflog beside theirs.
HEAD_LOG = "HEAD"
# Each component is a file or folder name, and the temporary file written beside a
# ref before it is renamed into place must fit the 255-byte NAME_MAX too.
MAX_COMPONENT_BYTES = 255 - len(temporary_name(""))
# Keeps .mlv/logs/<ref> far below PATH_MAX (4096) for any sensible repository root.
MAX_NAME_BYTES = 1024
# git check-ref-format rules 4, 5 and 10: control characters, space, DEL, ~ ^ : ? * [ \.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_SHOWN = 60


_FULL_ID = re.compile(r"[0-9a-f]{64}")
# A remote's name: one ref name part (its branches are refs/remotes/NAME/...) and a bare
# TOML key (its table is [remote.NAME]).
REMOTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def shown(name: str) -> str:
    """``name`` quoted for a message, cut short when it is long."""
    return repr(name if len(name) <= _SHOWN else name[: _SHOWN - 3] + "...")


def ref_name_problem(name: str) -> str | None:
    """Why ``name`` (a full name such as ``refs/heads/main``) cannot be a ref; None if it can.

    The rules are git's check-ref-format; mlv adds its namespaces, names that stay
    usable as revisions and command arguments, and lengths every file system takes.
    """
    namespace = next((ns for ns in NAMESPACES if name.startswith(ns)), None)
    if namespace is None:
        return f"it is not under {' or '.join(NAMESPACES)}"
    short = name[len(namespace) :]
    if namespace == REMOTES:
        remote, _, branch = short.partition("/")
        problem = remote_name_problem(remote)
        if problem:
            return f"its remote part {shown(remote)} {problem}"
        if not branch:
            return f"it names no branch after {REMOTES}{remote}/"
        return _short_name_problem(branch)
    return _short_name_problem(short)


def remote_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a remote; None if it can."""
    if REMOTE_NAME.fullmatch(name):
        return None
    return (
        "is not a remote name (letters, digits, '-' and '_', up to 64, "
        "starting with a letter or digit)"
    )


def remote_ref(remote: str, branch: str) -> str:
    """The full name of ``remote``'s branch ``branch`` (``refs/remotes/origin/main``),
    refused with ``InvalidArgumentError`` when it cannot be a ref."""
    name = f"{REMOTES}{remote}/{branch}"
    problem = ref_name_problem(name)
    if problem:
        raise InvalidArgumentError(
            f"{shown(name)} is not a valid remote-tracking ref name: {problem}; "
            "check the remote and branch names"
        )
    return name


def head_target_problem(name: str) -> str | None:
    """Why HEAD cannot point at ``name``; None if it can (a branch, born or not)."""
    if not name.startswith(HEADS):
        return f"HEAD may only point to a branch, under {HEADS}"
    return ref_name_problem(name)


def check_ref_name(short: str, what: str = "branch") -> None:
    """Refuse a branch (or, with ``what="tag"``, tag) name that cannot be a ref."""
    problem = ref_name_problem((TAGS if what == "tag" else HEADS) + short)
    if problem is None and _FULL_ID.fullmatch(short.lower()):
        problem = "it is a full commit id, which always names that commit"
    if problem:
        raise InvalidArgumentError(
            f"{shown(short)} is not a valid {what} name: {problem}; choose another name"
        )


def _short_name_problem(short: str) -> str | None:
    try:
        size = len(short.encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not valid UTF-8"
    if not short:
        return "it is empty"
    if size > MAX_NAME_BYTES:
        return f"it is longer than {MAX_NAME_BYTES} bytes"
    bad = _FORBIDDEN.search(short)
    if bad:
        return f"it contains {bad.group()!r}"
    for sequence in ("..", "//", "@{"):
        if sequence in short:
            return f"it contains {sequence!r}"
    if short.startswith("/") or short.endswith("/"):
        return "it starts or ends with '/'"
    if short.endswith("."):
        return "it ends with '.'"
    # mlv's own additions: '-x' reads as an option, 'HEAD' and '@' already name HEAD.
    if short.startswith("-"):
        return "it starts with '-'"
    if short in ("HEAD", "@"):
        return f"{short!r} already names HEAD"
    for part in short.split("/"):
        if part.startswith("."):
            return f"its part {shown(part)} starts with '.'"
        if part.endswith(".lock"):
            return f"its part {shown(part)} ends with '.lock'"
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            return f"its part {shown(part)} is longer than {MAX_COMPONENT_BYTES} bytes"
    return None
