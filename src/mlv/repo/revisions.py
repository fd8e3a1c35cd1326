"""Revision names: full ids, unique prefixes, branches, tags, remote-tracking branches,
HEAD, and ``~N`` / ``^N`` steps."""

from __future__ import annotations

import contextlib
import re
from typing import Protocol

from mlv.core.hashing import is_object_id
from mlv.errors import InvalidArgumentError, NotFoundError
from mlv.model.objects import Commit
from mlv.repo.refnames import shown
from mlv.repo.refs import HEADS, REMOTES, TAGS, RefStore

MIN_PREFIX = 4
# A step count past any real history: more digits are refused as malformed rather than
# converted (Python refuses ints of over 4300 digits, and nothing walks that far).
MAX_STEP_DIGITS = 9
_STEP = re.compile(r"([~^])([0-9]*)")
_HEX = re.compile(r"[0-9a-f]+")


class CommitSource(Protocol):
    refs: RefStore

    def read_commit(self, commit_id: str) -> Commit: ...

    def commits_with_prefix(self, prefix: str) -> list[str]: ...


def split_revision(text: str) -> tuple[str, list[tuple[str, int]]]:
    """Split ``main~2^2`` into ``("main", [("~", 2), ("^", 2)])``."""
    cut = len(text)
    for i, ch in enumerate(text):
        if ch in "~^":
            cut = i
            break
    base, rest = text[:cut], text[cut:]
    steps: list[tuple[str, int]] = []
    pos = 0
    while pos < len(rest):
        match = _STEP.match(rest, pos)
        if match is None:
            raise InvalidArgumentError(f"cannot parse revision {shown(text)}")
        op, digits = match.groups()
        if len(digits.lstrip("0")) > MAX_STEP_DIGITS:
            raise InvalidArgumentError(
                f"revision {shown(text)}: a step of {len(digits)} digits is past any history; "
                f"give at most {MAX_STEP_DIGITS} digits"
            )
        steps.append((op, int(digits) if digits else 1))
        pos = match.end()
    return base, steps


def resolve(source: CommitSource, text: str) -> str:
    """The commit id that ``text`` names.

    Raises:
        NotFoundError: nothing by that name, or a step past the first commit.
        InvalidArgumentError: the name is ambiguous or malformed.
    """
    if not text:
        raise InvalidArgumentError("empty revision")
    base, steps = split_revision(text)
    commit_id = _resolve_base(source, base or "HEAD", text)
    for op, n in steps:
        commit = source.read_commit(commit_id)
        if op == "~":
            for _ in range(n):
                if not commit.parents:
                    raise NotFoundError(f"revision {shown(text)} goes back past the first commit")
                commit_id = commit.parents[0]
                commit = source.read_commit(commit_id)
        elif n == 0:
            continue
        else:
            if len(commit.parents) < n:
                raise NotFoundError(
                    f"revision {shown(text)}: commit {commit_id[:12]} has {len(commit.parents)} "
                    f"parent(s), not {n}"
                )
            commit_id = commit.parents[n - 1]
    return commit_id


def _resolve_base(source: CommitSource, name: str, whole: str) -> str:
    refs = source.refs
    if name in ("HEAD", "@"):
        head = refs.head()
        if head.commit is None:
            raise NotFoundError("HEAD has no commit yet: make the first commit with 'mlv commit'")
        return head.commit
    lowered = name.lower()
    # A full id names its commit, whatever a ref of that name says (git does the same):
    # no ref can hide a commit, and a damaged ref cannot stop the id being used.
    if is_object_id(lowered):
        with contextlib.suppress(NotFoundError):
            source.read_commit(lowered)
            return lowered
    # git's order: a branch, then a tag, then a remote-tracking branch (origin/main).
    for ref in (
        (name, HEADS + name, TAGS + name, REMOTES + name)
        if name.startswith("refs/")
        else (HEADS + name, TAGS + name, REMOTES + name)
    ):
        commit = refs.read(ref)
        if commit:
            return commit
    if is_object_id(lowered):
        source.read_commit(lowered)
        return lowered
    if len(lowered) >= MIN_PREFIX and _HEX.fullmatch(lowered):
        matches = source.commits_with_prefix(lowered)
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            starts = ", ".join(m[:12] for m in matches[:5])
            raise InvalidArgumentError(
                f"revision {shown(name)} is ambiguous: it starts {len(matches)} commits "
                f"({starts}); give more characters"
            )
    raise NotFoundError(
        f"unknown revision {shown(whole)}: not a branch, tag, remote-tracking branch or "
        "commit id; see 'mlv log' or 'mlv branch -a'"
    )
