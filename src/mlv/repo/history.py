"""Walking the commit graph: topological order, merge bases, ancestry."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mlv.model.objects import Commit

ReadCommit = Callable[[str], Commit]


def reachable(read: ReadCommit, starts: Iterable[str]) -> dict[str, Commit]:
    """Every commit reachable from ``starts``, by id."""
    seen: dict[str, Commit] = {}
    stack = list(starts)
    while stack:
        commit_id = stack.pop()
        if commit_id in seen:
            continue
        commit = read(commit_id)
        seen[commit_id] = commit
        stack.extend(p for p in commit.parents if p not in seen)
    return seen


def topo_order(commits: dict[str, Commit]) -> list[str]:
    """Children before parents, in the order ``git log --topo-order`` uses.

    A commit is emitted once all its children in the set have been; the commits
    that become free go on a stack, so a branch is shown whole before the next.
    """
    children_left: dict[str, int] = dict.fromkeys(commits, 0)
    for commit in commits.values():
        for parent in commit.parents:
            if parent in children_left:
                children_left[parent] += 1
    tips = [cid for cid in commits if not children_left[cid]]
    stack = sorted(tips, key=lambda cid: (commits[cid].time, cid))  # newest on top
    order: list[str] = []
    while stack:
        commit_id = stack.pop()
        order.append(commit_id)
        for parent in commits[commit_id].parents:
            if parent not in children_left:
                continue
            children_left[parent] -= 1
            if children_left[parent] == 0:
                stack.append(parent)
    return order


def is_ancestor(read: ReadCommit, ancestor: str, descendant: str) -> bool:
    return ancestor in reachable(read, [descendant])


def merge_base(read: ReadCommit, a: str, b: str) -> str | None:
    """The best common ancestor of two commits: one no other common ancestor descends from."""
    ours = reachable(read, [a])
    theirs = reachable(read, [b])
    common = set(ours) & set(theirs)
    if not common:
        return None
    # Drop every common ancestor that is a proper ancestor of another one.
    parents = [p for c in common for p in ours[c].parents]
    redundant = set(reachable(read, parents)) & common
    best = [c for c in common if c not in redundant] or list(common)
    return max(best, key=lambda c: (ours[c].time, c))
