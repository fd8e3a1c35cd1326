"""Everyday questions in one line: "predictions/ on 2026-11-24", "model.pkl at v1",
"metrics.json@main@{last tuesday}", "yesterday".

A question is a path (or none, for the whole repository) and a moment: a time, read
as "the commit current on the branch then" (``NAME@{WHEN}``), or a revision. The
answer is that commit, how it was chosen, what the path was in it, and the runs
that wrote it with their inputs. The revision syntax does the deciding, so every
answer here is also one command: ``mlv lineage PATH@BRANCH@{WHEN}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mlv.core.paths import name_problem, overlaps
from mlv.core.timeparse import parse_when
from mlv.errors import InvalidArgumentError, MlvError
from mlv.model.objects import Commit, TreeEntry
from mlv.model.runs import Run
from mlv.repo.protocols import ObjectReader
from mlv.repo.revisions import CommitAtTime, CommitSource, commit_at, resolve, split_at
from mlv.runs.commits import effective_runs

# "X on WHEN", "X at REV", "X as of WHEN": the last such word splits path from moment.
_JOINER = re.compile(r"\s+(?:on|at|as of)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Question:
    """What was asked: a repository path ("" for all of it) and a revision that names
    the moment (``main@{2026-11-24}`` for a time)."""

    path: str
    rev: str
    text: str

    @property
    def command(self) -> str:
        """The same question as one command."""
        if self.path:
            return f"mlv lineage {self.path}@{self.rev}"
        return f"mlv show {self.rev}"


@dataclass
class Answer:
    question: Question
    commit_id: str
    commit: Commit
    at_time: CommitAtTime | None  # how a time was decided; None for a plain revision
    entry: TreeEntry | None  # the path in that commit; None when absent or no path
    runs: dict[str, Run] = field(default_factory=dict)  # the runs that wrote the path


def read_question(text: str, branch: str | None, source: CommitSource) -> Question:
    """The path and revision a question names; ``branch`` is the branch a bare time
    is read on (the current one; HEAD when detached), ``source`` tells a lone
    revision from a lone path.

    Raises:
        InvalidArgumentError: the text is empty.
    """
    value = " ".join(text.split())
    if not value:
        raise InvalidArgumentError(
            "ask a path and a time or revision, e.g. 'predictions/ on 2026-11-24'"
        )
    name = branch or ""
    parts = _JOINER.split(value)
    if len(parts) > 1:
        path, moment = " on ".join(parts[:-1]), parts[-1]
        return Question(_clean(path), _as_rev(moment, name), value)
    path, at, rev = split_at(value)
    if at and path and rev:
        return Question(_clean(path), rev, value)
    if _is_time(value):
        return Question("", _as_rev(value, name), value)
    # A lone word: a revision when it names one, else a path at the branch's tip.
    if _names_commit(source, value):
        return Question("", value, value)
    return Question(_clean(value), name or "HEAD", value)


def answer(objects: ObjectReader, source: CommitSource, question: Question) -> Answer:
    """The commit the question names, the path in it, and the runs that wrote it.

    Raises:
        NotFoundError: no such revision, or the time is before the first commit.
    """
    at_time = _at_time(source, question.rev)
    commit_id = at_time.commit_id if at_time else resolve(source, question.rev)
    commit = objects.read_commit(commit_id)
    entry = objects.entry_at(commit.tree, question.path) if question.path else None
    runs = effective_runs(objects, commit_id)
    if question.path:
        runs = {
            run_id: run
            for run_id, run in runs.items()
            if any(overlaps(question.path, out) for out in run.outs)
        }
    return Answer(question, commit_id, commit, at_time, entry, runs)


def _at_time(source: CommitSource, rev: str) -> CommitAtTime | None:
    """How ``NAME@{WHEN}`` was decided, when ``rev`` is exactly that."""
    match = re.fullmatch(r"(?P<name>[^{}]*?)@\{(?P<when>[^{}]*)\}", rev)
    if match is None:
        return None
    return commit_at(source, match["name"], parse_when(match["when"], day_end=True))


def _as_rev(moment: str, branch: str) -> str:
    """A moment as a revision: a time on ``branch``, or the revision as written."""
    return f"{branch}@{{{moment}}}" if _is_time(moment) else moment


def _is_time(text: str) -> bool:
    try:
        parse_when(text)
    except MlvError:
        return False
    return True


def _names_commit(source: CommitSource, text: str) -> bool:
    try:
        resolve(source, text)
    except MlvError:
        return False
    return True


def _clean(path: str) -> str:
    """A path as asked, as the repository names it; refused when it could not name
    anything mlv tracks (``..``, ``.mlv``, NUL, a backslash)."""
    cleaned = path.strip().strip("'\"").strip("/")
    for part in cleaned.split("/") if cleaned else ():
        problem = name_problem(part)
        if problem is not None:
            raise InvalidArgumentError(f"cannot ask about {path!r}: {part!r}: {problem}")
    return cleaned
