"""Upstreams: the remote-tracking branch a branch follows, and how far apart the two are."""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

from mlv.model.objects import Commit
from mlv.repo.history import ReadCommit
from mlv.repo.refnames import REMOTES, ref_name_problem, remote_name_problem
from mlv.repo.refs import RefStore

# Which side reaches a commit: the local branch, its upstream, or both (a common commit).
_LOCAL = 1
_UPSTREAM = 2
_BOTH = _LOCAL | _UPSTREAM


@dataclass(frozen=True)
class Upstream:
    """A branch against its upstream: ``ref`` is the short name (``origin/main``)."""

    ref: str
    ahead: int
    behind: int

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "ahead": self.ahead, "behind": self.behind}


def upstream_of(refs: RefStore, branch: str, default_remote: str | None) -> str | None:
    """``refs/remotes/<default_remote>/<branch>`` when that ref exists; else None.

    A damaged ref is refused (``FormatError``), as reading any ref is.
    """
    if default_remote is None or remote_name_problem(default_remote):
        return None
    name = f"{REMOTES}{default_remote}/{branch}"
    if ref_name_problem(name) or refs.read(name) is None:
        return None
    return name


def ahead_behind(read_commit: ReadCommit, local_id: str, upstream_id: str) -> tuple[int, int]:
    """``(ahead, behind)``: the commits reachable from ``local_id`` and not from
    ``upstream_id``, and the reverse.

    Both histories are walked together, newest commit first, and the walk stops once
    every commit still to visit is reachable from both (whatever lies below is common)
    and older than every commit seen from one side only (so none of those can still
    turn out to be common): the cost is the commits since the two parted, not the
    whole history. A commit that gains a side after it was visited is visited again,
    so that side reaches its parents too. Commits made in the same second are counted
    exactly; as with git without a commit graph, a commit dated before its parent
    (clock skew between machines) can make a count too large.
    """
    if local_id == upstream_id:
        return 0, 0
    commits: dict[str, Commit] = {}
    sides: dict[str, int] = {}
    queue: list[tuple[int, str]] = []
    queued: set[str] = set()
    live = 0  # queued commits not yet known to be common

    def mark(commit_id: str, side: int) -> None:
        nonlocal live
        old = sides.get(commit_id, 0)
        new = old | side
        if new == old:
            return
        sides[commit_id] = new
        if commit_id in queued:
            if new == _BOTH:
                live -= 1
            return
        commit = commits.get(commit_id)
        if commit is None:
            commit = commits[commit_id] = read_commit(commit_id)
        heapq.heappush(queue, (-commit.time, commit_id))
        queued.add(commit_id)
        if new != _BOTH:
            live += 1

    mark(local_id, _LOCAL)
    mark(upstream_id, _UPSTREAM)
    # The oldest time of a commit visited from one side only: a common commit dated at
    # or after it may still be its descendant, and must be visited to make it common.
    floor = math.inf
    while queue and (live or -queue[0][0] >= floor):
        when, commit_id = heapq.heappop(queue)
        queued.discard(commit_id)
        side = sides[commit_id]
        if side != _BOTH:
            live -= 1
            floor = min(floor, -when)
        for parent in commits[commit_id].parents:
            mark(parent, side)
    ahead = sum(1 for side in sides.values() if side == _LOCAL)
    behind = sum(1 for side in sides.values() if side == _UPSTREAM)
    return ahead, behind


def upstream_status(
    refs: RefStore, read_commit: ReadCommit, default_remote: str | None
) -> Upstream | None:
    """The current branch against its upstream; None when HEAD is detached or unborn,
    or the branch has no upstream."""
    head = refs.head()
    if head.branch is None or head.commit is None:
        return None
    name = upstream_of(refs, head.branch, default_remote)
    upstream_id = refs.read(name) if name else None
    if name is None or upstream_id is None:
        return None
    ahead, behind = ahead_behind(read_commit, head.commit, upstream_id)
    return Upstream(name[len(REMOTES) :], ahead, behind)
