"""Runs side by side: parameters, metrics, inputs, environment and plots, each row
marked where the runs differ."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlv.errors import InvalidArgumentError, MlvError, NotFoundError
from mlv.lineage.plots import PlotFile, Series, declared_plots, read_plot
from mlv.lineage.runs_table import METRICS_PREFIX, PARAMS_PREFIX, RunRow
from mlv.model.runs import Env, Run
from mlv.repo.protocols import ObjectReader

MIN_RUN_PREFIX = 4
# Runs one comparison takes: enough for any sweep a person reads, and a bound on the
# work one request can ask for (each run's plots are read and drawn).
MAX_COMPARED = 500


@dataclass(frozen=True)
class ComparedRow:
    """One name (a parameter, a metric, an input path, a package) and its value in
    each run, in the order the runs were given; None where a run has none."""

    name: str
    values: tuple[Any, ...]

    @property
    def differs(self) -> bool:
        first = self.values[0]
        return any(v != first for v in self.values[1:])


@dataclass
class PlotGroup:
    """One curve of one plot file, as each run that wrote it drew it."""

    path: str
    name: str
    x_name: str
    lines: list[tuple[int, Series]] = field(default_factory=list)  # (run's position, series)


@dataclass
class RunComparison:
    runs: list[RunRow]
    params: list[ComparedRow]
    metrics: list[ComparedRow]
    inputs: list[ComparedRow]  # dependency path -> the content id each run read
    environment: list[ComparedRow]
    plots: list[PlotGroup]
    problems: list[str] = field(default_factory=list)  # plots that could not be drawn


def pick_runs(rows: Sequence[RunRow], wanted: Sequence[str]) -> list[RunRow]:
    """The rows of the runs ``wanted`` names (full ids or unique prefixes), in that order,
    each once.

    Raises:
        InvalidArgumentError: fewer than two runs or more than ``MAX_COMPARED``, a prefix
            too short or ambiguous.
        NotFoundError: no run has that id.
    """
    wanted = list(dict.fromkeys(text.strip().lower() for text in wanted))
    if len(wanted) < 2:
        raise InvalidArgumentError("pick two or more runs to compare")
    if len(wanted) > MAX_COMPARED:
        raise InvalidArgumentError(
            f"{len(wanted)} runs are too many to compare at once: pick at most {MAX_COMPARED}"
        )
    by_id = {row.run_id: row for row in rows}
    picked: dict[str, RunRow] = {}
    for prefix in wanted:
        if len(prefix) < MIN_RUN_PREFIX:
            raise InvalidArgumentError(
                f"run id {prefix!r} is too short: give at least {MIN_RUN_PREFIX} hex digits"
            )
        exact = by_id.get(prefix)
        matches = [exact] if exact else [r for r in rows if r.run_id.startswith(prefix)]
        if not matches:
            raise NotFoundError(f"no recorded run {prefix!r} in any branch or tag")
        if len(matches) > 1:
            raise InvalidArgumentError(f"run id {prefix!r} is ambiguous: give more digits")
        picked.setdefault(matches[0].run_id, matches[0])
    if len(picked) < 2:
        raise InvalidArgumentError("pick two or more runs to compare")
    return list(picked.values())


def compare_runs(
    objects: ObjectReader,
    rows: Sequence[RunRow],
    root: Path,
    read_env: Callable[[str], Env | None] | None = None,
) -> RunComparison:
    """``rows`` (from the runs table) side by side; ``root`` is where the pipeline's
    vars are read from when finding each run's declared plots."""
    runs = [objects.read_run(row.run_id) for row in rows]
    reader = read_env or (lambda env_id: _env(objects, env_id))
    envs = [reader(run.env) for run in runs]
    comparison = RunComparison(
        runs=list(rows),
        params=compare_values(rows, PARAMS_PREFIX),
        metrics=compare_values(rows, METRICS_PREFIX),
        inputs=_inputs(runs),
        environment=_environment(envs),
        plots=[],
    )
    _add_plots(comparison, objects, runs, root)
    return comparison


def compare_values(rows: Sequence[RunRow], prefix: str) -> list[ComparedRow]:
    """The values under ``prefix`` (``params.``, ``metrics.``) of each row, side by side."""
    names = sorted({name for row in rows for name in row.values if name.startswith(prefix)})
    return [
        ComparedRow(name.removeprefix(prefix), tuple(row.values.get(name) for row in rows))
        for name in names
    ]


def _inputs(runs: Sequence[Run]) -> list[ComparedRow]:
    paths = sorted({path for run in runs for path in run.deps})
    return [
        ComparedRow(path, tuple(run.deps[path].id if path in run.deps else None for run in runs))
        for path in paths
    ]


def _env(objects: ObjectReader, env_id: str) -> Env | None:
    try:
        return objects.read_env(env_id)
    except MlvError:
        return None


def _environment(envs: Sequence[Env | None]) -> list[ComparedRow]:
    rows = [
        ComparedRow(name, tuple(getattr(env, name) if env else None for env in envs))
        for name in ("python", "implementation", "platform", "machine")
    ]
    packages = sorted({name for env in envs if env for name in env.packages})
    rows.extend(
        ComparedRow(name, tuple(env.packages.get(name) if env else None for env in envs))
        for name in packages
    )
    return rows


def _add_plots(
    comparison: RunComparison, objects: ObjectReader, runs: Sequence[Run], root: Path
) -> None:
    groups: dict[tuple[str, str], PlotGroup] = {}
    for position, (row, run) in enumerate(zip(comparison.runs, runs, strict=True)):
        commit = objects.read_commit(row.commit_id) if row.commit_id else None
        for path in declared_plots(objects, commit, run, root):
            plot: PlotFile = read_plot(objects, run, path)
            if plot.problem:
                comparison.problems.append(f"{path} of run {row.run_id[:10]}: {plot.problem}")
                continue
            for series in plot.series:
                group = groups.setdefault(
                    (path, series.name), PlotGroup(path, series.name, plot.x_name)
                )
                group.lines.append((position, series))
    comparison.plots = [groups[key] for key in sorted(groups)]
