"""What the refs reach: the commits, runs and profile maps a user has.

An object no ref reaches is not one the user has: ``mlv index rebuild`` derives the
run cache and the profiles from what this walk finds, and a garbage collector must
keep at least all of it. The walk starts at HEAD, every branch, tag and remote-tracking
branch (``refs/remotes/``), and the
commits of the reproductions on ``refs/notes/reproductions``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from mlv.errors import MlvError
from mlv.model.objects import Commit
from mlv.model.runs import Reproduction
from mlv.repo import notes
from mlv.repo.refs import HEADS, REMOTES, TAGS, RefStore
from mlv.store.objectstore import ObjectStore


@dataclass
class Unreadable:
    """What the walk could not read: (object id or "", where, why); it goes on without."""

    problems: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, object_id: str, where: str, why: str) -> None:
        self.problems.append((object_id, where, why))


def ref_starts(refs: RefStore) -> dict[str, str]:
    """The commit each readable ref names, by ref name (``HEAD``, ``refs/heads/main``, …)."""
    starts: dict[str, str] = {}
    with contextlib.suppress(MlvError):
        head = refs.head()
        if head.commit:
            starts["HEAD"] = head.commit
    for prefix in (HEADS, TAGS, REMOTES):
        for short, commit_id in refs.list(prefix, skip_damaged=True).items():
            starts[prefix + short] = commit_id
    return starts


def reproductions(store: ObjectStore, refs: RefStore, unreadable: Unreadable) -> list[Reproduction]:
    """The reproductions the notes chain names, oldest first; where the chain breaks
    (an entry lost with a damaged pack), those of the entries read before the break."""
    newest_first: list[str] = []
    try:
        for _, entry in notes.walk(store, refs.read(notes.REPRODUCTIONS)):
            newest_first.extend(reversed(entry.records))
    except MlvError as exc:
        unreadable.add("", notes.REPRODUCTIONS, f"read only up to a break: {exc}")
    ids = list(dict.fromkeys(reversed(newest_first)))
    found = []
    for rep_id in ids:
        try:
            found.append(Reproduction.from_bytes(store.get(rep_id)))
        except MlvError as exc:
            unreadable.add(rep_id, notes.REPRODUCTIONS, f"skipped: {exc}")
    return found


def commits(
    store: ObjectStore, starts: list[str], unreadable: Unreadable
) -> Iterator[tuple[str, Commit]]:
    """Every commit reachable from ``starts``, each once, children before parents where
    a single line of history is walked."""
    stack = list(reversed(starts))
    seen: set[str] = set()
    while stack:
        commit_id = stack.pop()
        if commit_id in seen:
            continue
        seen.add(commit_id)
        try:
            commit = Commit.from_bytes(store.get(commit_id))
        except MlvError as exc:
            unreadable.add(commit_id, "reachable from a ref", f"skipped: {exc}")
            continue
        yield commit_id, commit
        stack.extend(reversed(commit.parents))
