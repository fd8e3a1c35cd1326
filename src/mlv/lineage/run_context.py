"""A run in its context: the runs upstream of it that made its inputs, with their
parameters, and the previous run of the same stage to score it against.

This answers "what made these predictions, with which parameters, and how did they
score against the previous run" from one run, as its page shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlv.lineage.run_compare import ComparedRow, compare_values
from mlv.lineage.runs_table import METRICS_PREFIX, RunRow
from mlv.model.runs import Run
from mlv.repo.protocols import ObjectReader
from mlv.runs.commits import effective_runs, in_order


@dataclass(frozen=True)
class Upstream:
    """A run that made (directly or not) an input of the run asked about."""

    run_id: str
    run: Run
    params: dict[str, object]  # "FILE: KEY" -> value


def upstream_runs(objects: ObjectReader, commit_id: str, run_id: str) -> list[Upstream]:
    """The runs behind ``commit_id``'s outputs that ``run_id`` depends on, in the order
    they ran, itself left out; none when the run is not behind that commit's outputs
    (a later run wrote them again)."""
    runs = effective_runs(objects, commit_id)
    if run_id not in runs:
        return []
    found = []
    for upstream_id in in_order(runs, [run_id]):
        if upstream_id == run_id:
            continue
        run = runs[upstream_id]
        params: dict[str, object] = {
            f"{path}: {key}": value
            for path, use in run.params.items()
            for key, value in use.values.items()
        }
        found.append(Upstream(upstream_id, run, params))
    return found


@dataclass(frozen=True)
class AgainstPrevious:
    """The run's metrics beside those of the run of its stage before it."""

    previous: RunRow
    metrics: list[ComparedRow]  # values: (this run's, the previous run's)


def against_previous(rows: Sequence[RunRow], run_id: str) -> AgainstPrevious | None:
    """The previous run of the same stage in ``rows`` (a runs table, newest first, of
    that stage), or None when ``run_id`` is the first or not among them."""
    ids = [row.run_id for row in rows]
    if run_id not in ids:
        return None
    at = ids.index(run_id)
    if at + 1 >= len(rows):
        return None
    this, previous = rows[at], rows[at + 1]
    return AgainstPrevious(previous, compare_values([this, previous], METRICS_PREFIX))
