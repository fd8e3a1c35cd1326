"""Revision names: full ids, unique prefixes, branches, tags, remote-tracking branches,
HEAD, ``NAME@{WHEN}`` (the commit current on a branch at a time), and ``~N`` / ``^N`` steps.

``NAME@{WHEN}`` walks the first-parent chain from NAME's tip (HEAD when NAME is empty) and
takes the first commit on it whose commit time is at or before WHEN. It reads commits only,
never the reflog, so every clone gives the same answer. WHEN is read by
``mlv.core.timeparse.parse_when``; a bare date means the end of that day, local time.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from mlv.core.hashing import is_object_id
from mlv.core.timeparse import parse_when
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
_AT_TIME = re.compile(r"(?P<name>.*?)@\{(?P<when>[^{}]*)\}", re.DOTALL)


class CommitSource(Protocol):
    refs: RefStore

    def read_commit(self, commit_id: str) -> Commit: ...

    def commits_with_prefix(self, prefix: str) -> list[str]: ...


@dataclass(frozen=True)
class CommitAtTime:
    """What ``NAME@{WHEN}`` found, and how it was decided."""

    commit_id: str
    commit_time: int  # seconds since the epoch, UTC
    tip: str  # the commit NAME named, where the first-parent walk started
    steps: int  # first-parent steps back from the tip
    when: datetime
    rule: str = "newest first-parent commit of the tip with commit time at or before WHEN"


def split_at(text: str, sep: str = "@") -> tuple[str, str, str]:
    """``str.rpartition`` that never cuts inside ``{...}``: ``a.csv@main@{2026-11-24}``
    is ``("a.csv", "@", "main@{2026-11-24}")``, and with ``sep=":"``,
    ``main@{2026-11-24 14:00}:a.csv`` is ``("main@{2026-11-24 14:00}", ":", "a.csv")``.

    For ``@`` the last separator outside braces is taken (a path may hold ``@``, a
    revision's only ``@`` is its ``@{``); for ``:`` the first (a path may hold ``:``).
    """
    depth = 0
    found = -1
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(depth - 1, 0)
        elif ch == sep and depth == 0 and not (sep == "@" and text.startswith("@{", i)):
            found = i
            if sep != "@":
                break
    if found < 0:
        return "", "", text
    return text[:found], sep, text[found + 1 :]


def split_revision(text: str) -> tuple[str, list[tuple[str, int]]]:
    """Split ``main~2^2`` into ``("main", [("~", 2), ("^", 2)])``; ``~`` and ``^``
    inside ``@{...}`` belong to the time."""
    cut = len(text)
    depth = 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(depth - 1, 0)
        elif ch in "~^" and depth == 0:
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


def resolve(source: CommitSource, text: str, *, now: datetime | None = None) -> str:
    """The commit id that ``text`` names; ``now`` anchors ``@{3 days ago}`` (the clock
    when None).

    Raises:
        NotFoundError: nothing by that name, a step past the first commit, or a time
            before it.
        InvalidArgumentError: the name is ambiguous or malformed.
    """
    if not text:
        raise InvalidArgumentError("empty revision")
    base, steps = split_revision(text)
    if "{" in base or "}" in base:
        match = _AT_TIME.fullmatch(base)
        if match is None or "@{" in match["name"]:
            raise InvalidArgumentError(
                f"cannot parse revision {shown(text)}: write NAME@{{WHEN}}, e.g. "
                "main@{2026-11-24} or @{3 days ago}"
            )
        when = parse_when(match["when"], now, day_end=True)
        commit_id = commit_at(source, match["name"], when).commit_id
    else:
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


def resolve_at_time(
    source: CommitSource, text: str, *, now: datetime | None = None
) -> CommitAtTime:
    """``NAME@{WHEN}`` (``main@{2026-11-24}``, ``@{yesterday}``), with how it was decided.

    Raises:
        InvalidArgumentError: ``text`` is not ``NAME@{WHEN}`` or WHEN is not a time.
        NotFoundError: no such NAME, or WHEN is before the first commit.
    """
    match = _AT_TIME.fullmatch(text)
    if match is None or "@{" in match["name"]:
        raise InvalidArgumentError(
            f"cannot parse {shown(text)}: write NAME@{{WHEN}}, e.g. main@{{2026-11-24}}"
        )
    return commit_at(source, match["name"], parse_when(match["when"], now, day_end=True))


def commit_at(source: CommitSource, name: str, when: datetime) -> CommitAtTime:
    """The commit that was current on ``name`` (a revision; HEAD when empty) at ``when``:
    the first commit on the first-parent chain from ``name``'s commit whose commit time
    is at or before ``when``.

    Raises:
        NotFoundError: ``when`` is before every commit on that chain.
    """
    tip = resolve(source, name or "HEAD")
    limit = when.timestamp()
    commit_id, steps = tip, 0
    while True:
        commit = source.read_commit(commit_id)
        if commit.time <= limit:
            return CommitAtTime(commit_id, commit.time, tip, steps, when)
        if not commit.parents:
            first = datetime.fromtimestamp(commit.time, UTC).astimezone()
            raise NotFoundError(
                f"{shown(name or 'HEAD')} had no commit yet at {when.isoformat(' ', 'seconds')}: "
                f"its first commit {commit_id[:12]} is of {first.isoformat(' ', 'seconds')}"
            )
        commit_id, steps = commit.parents[0], steps + 1


def _resolve_base(source: CommitSource, name: str, whole: str) -> str:
    if name in ("HEAD", "@"):
        head = source.refs.head()
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
    refs = source.refs
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
    head = refs.head()
    if head.commit is None and name in (head.branch, head.ref):
        raise NotFoundError(
            f"branch {shown(head.branch or name)} has no commit yet: make the first commit "
            "with 'mlv commit'"
        )
    raise NotFoundError(
        f"unknown revision {shown(whole)}: not a branch, tag, remote-tracking branch or "
        "commit id; see 'mlv log' or 'mlv branch -a'"
    )
