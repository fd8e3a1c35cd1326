"""Named points where capabilities join ``add`` and ``commit``, registered at construction.

The core repository knows no tables and no git: ``mlv.Repo`` registers the
tables extension (contracts, profiles) and the code extension (code version,
``mlv.lock``) here when it opens a repository. Every point runs with the write
lock held, so a handler sees the same stage the operation does.

==================  =================================================  ==================
point               when                                               a handler may
==================  =================================================  ==================
``before_add``      paths named, nothing read or stored yet            refuse (raise)
``after_add``       the stage holds the new content                    record what it made
``before_commit``   nothing written yet                                refuse, set ``code``
``commit_objects``  the tree is stored, the commit object not yet      set ``profiles``
``after_commit``    the ref has moved                                  write files
==================  =================================================  ==================

A handler returns warnings (lines for the user); an error it raises stops the
operation, before any change when it is a ``before_`` point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from mlv.model.objects import Person
    from mlv.repo.results import AddResult, Progress


@dataclass
class AddEvent:
    """One ``add``: the paths as the repository names them.

    ``strict`` asks checks to refuse rather than warn (None: each extension's own
    default, such as ``tables.strict``). ``result`` is set for ``after_add``.
    """

    paths: list[str]
    strict: bool | None
    progress: Progress
    result: AddResult | None = None


@dataclass
class CommitEvent:
    """One ``commit``. A ``before_commit`` handler may set ``code`` (the code version the
    commit records) when the caller gave none. For ``commit_objects``, ``tree`` and
    ``parents`` are set, and a handler may store an object and name it in the commit
    (``profiles``: the profile map of the tables the commit holds first).
    ``commit_id`` is set for ``after_commit``."""

    message: str
    author: Person
    strict: bool | None
    code: dict[str, Any] | None = None
    tree: str | None = None
    parents: tuple[str, ...] = ()
    profiles: str | None = None
    commit_id: str | None = None


E = TypeVar("E")


class Point(Generic[E]):
    """One extension point: handlers run in the order they were registered."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: list[Callable[[E], Iterable[str]]] = []

    def register(self, handler: Callable[[E], Iterable[str]]) -> None:
        self._handlers.append(handler)

    def fire(self, event: E) -> list[str]:
        """Run every handler; return their warnings in order."""
        return [line for handler in self._handlers for line in handler(event)]


class Extensions:
    """The extension points of one repository."""

    def __init__(self) -> None:
        self.before_add: Point[AddEvent] = Point("before_add")
        self.after_add: Point[AddEvent] = Point("after_add")
        self.before_commit: Point[CommitEvent] = Point("before_commit")
        self.commit_objects: Point[CommitEvent] = Point("commit_objects")
        self.after_commit: Point[CommitEvent] = Point("after_commit")
