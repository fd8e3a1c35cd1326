"""Running the checks of ``mlv ci``: choose the base, reproduce, check contracts, compare."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mlv.ci.report import (
    DIFFERENT,
    FAILED,
    NOTHING_TO_REPRODUCE,
    REPRODUCED,
    CiReport,
)
from mlv.errors import CommandFailedError
from mlv.lineage.values import METRICS, PARAMS, ValueChange
from mlv.repo import history
from mlv.repo.diff import diff_trees
from mlv.repo.protocols import RefReader
from mlv.repo.refs import HEADS
from mlv.runs.commits import effective_runs
from mlv.tables.checking import check_tables
from mlv.tables.repo_diff import diff_changed_tables

if TYPE_CHECKING:
    from mlv.lineage.values import Values
    from mlv.repo.protocols import ObjectReader, RevisionResolver
    from mlv.reproduce.verify import ReproductionReport

# The branches a pull request is compared with when no base is given, in this order.
MAIN_BRANCHES = ("main", "master")


class BranchRefs(RefReader, Protocol):
    """HEAD and the branches, and one ref by its full name (``repo.refs``)."""

    def read(self, name: str) -> str | None:
        """The commit ref ``name`` (e.g. ``refs/heads/main``) holds; None when there is none."""
        ...


def run_ci(
    head: str = "HEAD",
    base: str | None = None,
    *,
    root: Path,
    objects: ObjectReader,
    revisions: RevisionResolver,
    refs: BranchRefs,
    values: Values,
    reproduce: Callable[[str], ReproductionReport] | None = None,
) -> CiReport:
    """Check ``head`` for a CI job and compare it with ``base``.

    ``base`` None: the merge base of ``head`` with ``main`` (else ``master``) when
    ``head`` is on another branch, else ``head``'s first parent; none for a first
    commit. With ``reproduce`` (given a commit id, it re-executes the runs behind it
    and compares every output, as ``mlv.reproduce.verify.reproduce`` does) the runs
    behind ``head`` are reproduced (a failing command makes the report fail, it does
    not raise). Contracts (the ``mlv.yaml`` under ``root``) are checked on the tables
    at ``head``. Revisions are named by ``revisions`` and ``refs``, commits read from
    ``objects``, metrics and parameters through ``values``. Bad
    revisions raise ``NotFoundError``.
    """
    head_id = revisions.resolve(head)
    if base is not None:
        base_id: str | None = revisions.resolve(base)
        reason = "given"
    else:
        base_id, reason = default_base(objects, refs, head, head_id)
    report = CiReport(head_id, base_id, reason, objects.read_commit(head_id).message)
    if reproduce is not None:
        _reproduce(objects, report, reproduce)
    report.contracts = check_tables(None, head_id, root=root, objects=objects, revisions=revisions)
    if not report.contracts.tables_checked and not report.contracts.violations:
        report.contracts = None  # no contract in mlv.yaml names a table here
    _values(values, report)
    base_tree = objects.read_commit(base_id).tree if base_id else None
    report.changes = diff_trees(objects, base_tree, objects.read_commit(head_id).tree)
    if base_id is not None:
        report.tables = diff_changed_tables(
            report.changes, base_id, head_id, root=root, objects=objects, revisions=revisions
        )
    return report


def default_base(
    objects: ObjectReader, refs: BranchRefs, head: str, head_id: str
) -> tuple[str | None, str]:
    """The commit a CI run compares ``head`` with, and how it was chosen."""
    branch = head if head in refs.list(HEADS) else None
    if head == "HEAD":
        branch = refs.head().branch
    parents = objects.read_commit(head_id).parents
    for main in MAIN_BRANCHES:
        main_id = refs.read(HEADS + main)
        if main_id is None:
            continue
        if branch == main or main_id == head_id:
            break
        found = history.merge_base(objects.read_commit, head_id, main_id)
        if found is not None and found != head_id:
            return found, f"merge base with {main}"
        break
    if parents:
        return parents[0], "parent"
    return None, "first commit"


def _reproduce(
    objects: ObjectReader,
    report: CiReport,
    reproduce: Callable[[str], ReproductionReport],
) -> None:
    if not effective_runs(objects, report.head):
        report.reproduction_status = NOTHING_TO_REPRODUCE
        return
    try:
        result = reproduce(report.head)
    except CommandFailedError as exc:
        report.reproduction_status = FAILED
        report.reproduction_error = str(exc)
        return
    report.reproduction = result
    report.reproduction_status = REPRODUCED if result.ok else DIFFERENT


def _values(values: Values, report: CiReport) -> None:
    if report.base is None:
        # No base: every metric and parameter of the head is new.
        metrics_now = values.table([report.head], METRICS)
        params_now = values.table([report.head], PARAMS)
        report.metrics = [ValueChange(f, k, None, v[0]) for f, k, v in metrics_now.rows]
        report.params = [ValueChange(f, k, None, v[0]) for f, k, v in params_now.rows]
        report.warnings += list(dict.fromkeys([*metrics_now.warnings, *params_now.warnings]))
        return
    metrics = values.diff(report.base, report.head, METRICS, all_keys=True)
    params = values.diff(report.base, report.head, PARAMS)
    report.metrics = metrics.changes
    report.params = params.changes
    report.warnings += list(dict.fromkeys([*metrics.warnings, *params.warnings]))
