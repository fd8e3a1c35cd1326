"""Plain result objects returned by `Repo` methods, for the CLI to render and notebooks to read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mlv.model.objects import Commit
from mlv.model.runs import Env, Reproduction, Run
from mlv.repo.diff import Change

if TYPE_CHECKING:
    from mlv.repo.upstream import Upstream


class Progress(Protocol):
    """Receives progress of long work; the CLI draws a bar, a notebook may ignore it."""

    def start(self, total: int, label: str) -> None: ...

    def advance(self, amount: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def start(self, total: int, label: str) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def finish(self) -> None:
        pass


def change_to_json(change: Change) -> dict[str, Any]:
    return {
        "status": change.status,
        "path": change.path,
        "old": change.old._asdict() if change.old else None,
        "new": change.new._asdict() if change.new else None,
    }


@dataclass
class AddResult:
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    bytes_read: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Status:
    branch: str | None
    head: str | None
    staged: list[Change]
    modified: list[str]
    deleted: list[str]
    untracked: list[str]
    warnings: list[str] = field(default_factory=list)
    pending_runs: list[str] = field(default_factory=list)  # recorded, not yet committed
    # Tracked files a partial clone has not received: absent, and not deleted.
    not_fetched: int = 0
    # The branch against refs/remotes/<core.remote>/<branch>; ``mlv.Repo.status`` sets it.
    upstream: Upstream | None = None

    @property
    def clean(self) -> bool:
        return not (self.staged or self.modified or self.deleted or self.untracked)

    def to_json(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "head": self.head,
            "clean": self.clean,
            "staged": [change_to_json(c) for c in self.staged],
            "modified": self.modified,
            "deleted": self.deleted,
            "untracked": self.untracked,
            "warnings": self.warnings,
            "pending_runs": self.pending_runs,
            "not_fetched": self.not_fetched,
            "upstream": self.upstream.to_json() if self.upstream else None,
        }


@dataclass
class LogEntry:
    id: str
    commit: Commit
    refs: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        c = self.commit
        return {
            "id": self.id,
            "parents": list(c.parents),
            "tree": c.tree,
            "author": {"name": c.author.name, "email": c.author.email},
            "time": c.time,
            "tz_offset": c.tz_offset,
            "message": c.message,
            "refs": self.refs,
        }


@dataclass
class RunDetails:
    """A run behind a commit's outputs, with the environment it ran in."""

    id: str
    run: Run
    env: Env | None
    recorded_here: bool  # carried by this very commit, not an ancestor

    def to_json(self) -> dict[str, Any]:
        env = {"id": self.run.env, **self.env.body()} if self.env else {"id": self.run.env}
        return {"id": self.id, "recorded_here": self.recorded_here, **self.run.body(), "env": env}


@dataclass
class CommitDetails:
    entry: LogEntry
    changes: list[Change]
    runs: list[RunDetails] = field(default_factory=list)
    reproductions: list[tuple[str, Reproduction]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.entry.to_json(),
            "changes": [change_to_json(c) for c in self.changes],
            "code": self.entry.commit.code,
            "runs": [r.to_json() for r in self.runs],
            "reproductions": [{"id": i, **r.body()} for i, r in self.reproductions],
        }


@dataclass
class CheckoutResult:
    commit: str
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    branch: str | None = None
    carried: list[str] = field(default_factory=list)  # staged changes kept across the move

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MergeResult:
    kind: str  # "up-to-date", "fast-forward" or "merge"
    commit: str
    resolved: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Problem:
    object_id: str
    where: str
    problem: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FsckReport:
    objects_checked: int
    commits_checked: int
    problems: list[Problem]
    notes: list[str] = field(default_factory=list)  # worth knowing, not damage

    @property
    def ok(self) -> bool:
        return not self.problems

    @classmethod
    def unusable_index(cls, message: str) -> FsckReport:
        """The report when ``index.db`` cannot be opened: nothing else can be checked."""
        return cls(0, 0, [Problem("", "index.db", message)])

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "objects_checked": self.objects_checked,
            "commits_checked": self.commits_checked,
            "problems": [p.to_json() for p in self.problems],
            "notes": self.notes,
        }
