"""Running the checks of ``mlv ci``: choose the base, reproduce, check contracts, compare."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from mlv.ci.report import (
    DIFFERENT,
    FAILED,
    NOTHING_TO_REPRODUCE,
    REPRODUCED,
    CiReport,
)
from mlv.errors import CommandFailedError
from mlv.lineage.values import METRICS, PARAMS, ValueChange, diff, table
from mlv.repo import history
from mlv.repo.diff import diff_trees
from mlv.repo.refs import HEADS
from mlv.repo.repository import Repo
from mlv.runs.commits import effective_runs
from mlv.tables.checking import check_tables
from mlv.tables.repo_diff import diff_changed_tables

# The branches a pull request is compared with when no base is given, in this order.
MAIN_BRANCHES = ("main", "master")


def run_ci(
    repo: Repo,
    head: str = "HEAD",
    base: str | None = None,
    *,
    reproduce: bool = False,
    environ: Mapping[str, str],
    who: str,
    stdout: IO[Any] | int | None = None,
) -> CiReport:
    """Check ``head`` for a CI job and compare it with ``base``.

    ``base`` None: the merge base of ``head`` with ``main`` (else ``master``) when
    ``head`` is on another branch, else ``head``'s first parent; none for a first
    commit. With ``reproduce`` the runs behind ``head`` are re-executed and every
    output compared (a failing command makes the report fail, it does not raise).
    Contracts are checked on the tables at ``head``. Bad revisions raise
    ``NotFoundError``.
    """
    head_id = repo.resolve(head)
    if base is not None:
        base_id: str | None = repo.resolve(base)
        reason = "given"
    else:
        base_id, reason = default_base(repo, head, head_id)
    report = CiReport(head_id, base_id, reason, repo.read_commit(head_id).message)
    if reproduce:
        _reproduce(repo, report, environ=environ, who=who, stdout=stdout)
    report.contracts = check_tables(repo, None, head_id)
    if not report.contracts.tables_checked and not report.contracts.violations:
        report.contracts = None  # no contract in mlv.yaml names a table here
    _values(repo, report)
    base_tree = repo.read_commit(base_id).tree if base_id else None
    report.changes = diff_trees(repo.trees, base_tree, repo.read_commit(head_id).tree)
    if base_id is not None:
        report.tables = diff_changed_tables(repo, report.changes, base_id, head_id)
    return report


def default_base(repo: Repo, head: str, head_id: str) -> tuple[str | None, str]:
    """The commit a CI run compares ``head`` with, and how it was chosen."""
    branch = head if head in repo.branches() else None
    if head == "HEAD":
        branch = repo.current_branch()
    parents = repo.read_commit(head_id).parents
    for main in MAIN_BRANCHES:
        main_id = repo.refs.read(HEADS + main)
        if main_id is None:
            continue
        if branch == main or main_id == head_id:
            break
        found = history.merge_base(repo.read_commit, head_id, main_id)
        if found is not None and found != head_id:
            return found, f"merge base with {main}"
        break
    if parents:
        return parents[0], "parent"
    return None, "first commit"


def _reproduce(
    repo: Repo,
    report: CiReport,
    *,
    environ: Mapping[str, str],
    who: str,
    stdout: IO[Any] | int | None,
) -> None:
    from mlv.reproduce.verify import reproduce

    if not effective_runs(repo.objects, report.head):
        report.reproduction_status = NOTHING_TO_REPRODUCE
        return
    try:
        result = reproduce(repo, report.head, environ=environ, who=who, stdout=stdout)
    except CommandFailedError as exc:
        report.reproduction_status = FAILED
        report.reproduction_error = str(exc)
        return
    report.reproduction = result
    report.reproduction_status = REPRODUCED if result.ok else DIFFERENT


def _values(repo: Repo, report: CiReport) -> None:
    if report.base is None:
        # No base: every metric and parameter of the head is new.
        metrics_now = table(repo, [report.head], METRICS)
        params_now = table(repo, [report.head], PARAMS)
        report.metrics = [ValueChange(f, k, None, v[0]) for f, k, v in metrics_now.rows]
        report.params = [ValueChange(f, k, None, v[0]) for f, k, v in params_now.rows]
        report.warnings += list(dict.fromkeys([*metrics_now.warnings, *params_now.warnings]))
        return
    metrics = diff(repo, report.base, report.head, METRICS, all_keys=True)
    params = diff(repo, report.base, report.head, PARAMS)
    report.metrics = metrics.changes
    report.params = params.changes
    report.warnings += list(dict.fromkeys([*metrics.warnings, *params.warnings]))
