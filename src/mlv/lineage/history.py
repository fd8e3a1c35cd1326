"""Every version of one path across a history, and the run that produced each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlv.errors import NotFoundError
from mlv.lineage.index import CommitInfo, HistoryIndex
from mlv.model.runs import Run
from mlv.repo.protocols import ObjectReader, RevisionResolver

ADDED = "added"
MODIFIED = "modified"
REMOVED = "removed"


@dataclass(frozen=True)
class PathVersion:
    """A commit where the path's content changed, appeared or disappeared.

    ``id``, ``kind`` and ``size`` are None when the commit removed the path;
    ``run_id`` and ``run`` are None when no recorded run produced the content.
    """

    path: str
    commit: CommitInfo
    status: str
    id: str | None
    kind: str | None
    size: int | None
    run_id: str | None = None
    run: Run | None = None

    def to_json(self) -> dict[str, Any]:
        run = None
        if self.run is not None:
            run = {
                "id": self.run_id,
                "name": self.run.name,
                "cmd": self.run.cmd,
                "user": self.run.user,
                "started": self.run.started,
            }
        return {
            "path": self.path,
            "commit": self.commit.to_json(),
            "status": self.status,
            "id": self.id,
            "kind": self.kind,
            "size": self.size,
            "run": run,
        }


def path_history(
    objects: ObjectReader, revisions: RevisionResolver, path: str, rev: str = "HEAD"
) -> list[PathVersion]:
    """The versions of ``path`` in the history of ``rev``, newest first.

    A merge is listed only when the path differs from every one of its parents.
    """
    index = HistoryIndex(objects, [revisions.resolve(rev)])
    entries = index.at_path(path)
    if all(entry is None for entry in entries.values()):
        raise NotFoundError(f"path {path or '.'} is in no commit of {rev}'s history")
    versions = []
    for commit_id in index.newest_first:
        entry = entries[commit_id]
        current = entry.id if entry else None
        parents = [p for p in index.commits[commit_id].parents if p in entries]
        before = [entries[p] for p in parents]
        if parents and any((b.id if b else None) == current for b in before):
            continue
        if current is None:
            if not parents:
                continue
            status = REMOVED
        else:
            status = ADDED if all(b is None for b in before) else MODIFIED
        run_id = index.producer(path, current, by=commit_id) if current else None
        versions.append(
            PathVersion(
                path=path,
                commit=index.info(commit_id),
                status=status,
                id=current,
                kind=entry.kind if entry else None,
                size=entry.size if entry else None,
                run_id=run_id,
                run=index.run(run_id) if run_id else None,
            )
        )
    return versions
