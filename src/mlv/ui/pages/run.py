"""One run: what it executed, with what, what it read and wrote, and how its reproductions went."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlv.api import Repo
from mlv.errors import InvalidArgumentError, MlvError, NotFoundError
from mlv.gitcode.describe import code_line
from mlv.lineage.graph import history_starts
from mlv.lineage.index import CommitInfo, HistoryIndex
from mlv.lineage.run_context import against_previous, upstream_runs
from mlv.model.runs import Env, Reproduction, Run
from mlv.ui.site import site_of

# A shorter prefix than this would name many runs in any real history.
MIN_PREFIX = 4
ID_LENGTH = 64
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class RunReproduction:
    """A verified reproduction that re-ran this run: its verdict, and this run's outputs'."""

    id: str
    record: Reproduction
    results: dict[str, dict[str, Any]]  # this run's output path -> its result


def run_page(request: Request) -> Response:
    site = site_of(request)
    wanted = request.path_params["run_id"].strip().lower()
    with site.repo() as repo:
        index = _history_of_every_ref(repo)
        run_id = _resolve_run(repo, index, wanted)
        run = repo.read_run(run_id)
        commit_id = index.run_commit.get(run_id)
        commit: CommitInfo | None = index.info(commit_id) if commit_id else None
        context = {
            "title": f"Run {run.name} {run_id[:10]}",
            "run_id": run_id,
            "run": run,
            "commit": commit,
            "env": _env_of(repo, run),
            "code": code_line(repo.objects, run.code),
            "params": [
                (path, name, value_text(value))
                for path, use in run.params.items()
                for name, value in use.values.items()
            ],
            "metrics": [
                (path, name, value_text(value))
                for path, values in run.metrics.items()
                for name, value in values.items()
            ],
            "reproductions": _reproductions_of(repo, index, run_id, run),
            "upstream": upstream_runs(repo.objects, commit_id, run_id) if commit_id else [],
            "against": _against_previous(repo, run_id, run),
        }
    return site.render(request, "run.html", context)


def value_text(value: Any) -> str:
    """A parameter or metric as the file held it: text as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _history_of_every_ref(repo: Repo) -> HistoryIndex:
    """Every commit that any branch, tag or HEAD reaches, with the runs they carry."""
    head = repo.refs.head().commit
    starts = history_starts(repo.refs, head, all_history=True) if head else []
    return HistoryIndex(repo.objects, starts)


def _resolve_run(repo: Repo, index: HistoryIndex, wanted: str) -> str:
    """The full id of the run ``wanted`` names: its id, or a unique prefix of one that a
    commit carries."""
    if not _HEX.fullmatch(wanted):
        raise NotFoundError(f"no run {wanted!r}: a run id is hexadecimal")
    if len(wanted) < MIN_PREFIX:
        raise InvalidArgumentError(
            f"run id {wanted!r} is too short: give at least {MIN_PREFIX} hex digits"
        )
    if len(wanted) == ID_LENGTH:
        if wanted in index.run_commit:
            return wanted
        try:
            repo.read_run(wanted)  # a run no commit carries yet is still a run
        except MlvError:
            raise NotFoundError(f"no run {wanted} in this repository") from None
        return wanted
    # Runs recorded in the working tree and not committed yet are runs too.
    known = set(index.run_commit) | {run_id for run_id, _ in repo.records.pending()}
    matches = sorted(r for r in known if r.startswith(wanted))
    if not matches:
        raise NotFoundError(f"no run starts with {wanted} in the history of any branch or tag")
    if len(matches) > 1:
        shown = ", ".join(m[:12] for m in matches[:5])
        raise InvalidArgumentError(
            f"run id {wanted} is ambiguous: {shown}{', …' if len(matches) > 5 else ''}"
        )
    return matches[0]


@dataclass(frozen=True)
class MetricChange:
    name: str
    this: Any
    previous: Any
    change: str  # "+0.014", "-2", or "" where it cannot be said
    css: str  # "added" for a rise, "removed" for a fall


def _against_previous(repo: Repo, run_id: str, run: Run) -> dict[str, Any] | None:
    """The run of the same stage before this one (any branch), and the metrics of both."""
    found = against_previous(repo.runs_table(all_refs=True, stage=run.name).rows, run_id)
    if found is None:
        return None
    changes = []
    for row in found.metrics:
        this, previous = row.values
        change, css = "", ""
        if isinstance(this, int | float) and isinstance(previous, int | float):
            delta = this - previous
            change = f"{delta:+.6g}" if delta else "0"
            css = "added" if delta > 0 else "removed" if delta < 0 else ""
        changes.append(MetricChange(row.name, this, previous, change, css))
    return {"previous": found.previous, "metrics": changes}


def _env_of(repo: Repo, run: Run) -> Env | None:
    try:
        return repo.read_env(run.env)
    except MlvError:
        return None  # an environment not stored (a partial clone) is shown as unknown


def _reproductions_of(
    repo: Repo, index: HistoryIndex, run_id: str, run: Run
) -> list[RunReproduction]:
    """The reproductions that re-executed this run, oldest first.

    A reproduction is recorded against the commit it reproduced, which need not be the
    commit that carries the run (a later commit whose outputs it still made), so every
    commit in the history is asked; the lookup is one indexed query each.
    """
    found: list[RunReproduction] = []
    for commit_id in index.newest_first:
        for reproduction_id in repo.records.reproductions_of(commit_id):
            try:
                record = repo.read_reproduction(reproduction_id)
            except MlvError:
                continue  # a record whose object is missing is fsck's to report
            if run_id not in record.runs:
                continue
            results = {p: r for p, r in record.results.items() if p in run.outs}
            found.append(RunReproduction(reproduction_id, record, results))
    found.sort(key=lambda r: (r.record.time, r.id))
    return found


routes = [Route("/run/{run_id}", run_page)]
