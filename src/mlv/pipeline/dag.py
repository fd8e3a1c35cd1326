"""The stage graph: which stage feeds which, the order they run in, and what a target needs."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlv.core.paths import is_within, normalise_target, parents
from mlv.errors import ParamsKeyError, PipelineError
from mlv.pipeline.spec import Pipeline, Stage
from mlv.runs.params import load_params, lookup

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True)
class Plan:
    order: list[str]  # stage names, topologically sorted; file order among independent stages
    upstream: dict[str, set[str]]  # stage -> stages in the plan whose outputs it reads (direct)


def build_plan(
    pipeline: Pipeline, targets: Sequence[str] = (), *, downstream: bool = False
) -> Plan:
    """The stages to run and their order.

    With no targets, every stage. With targets (stage names, foreach/matrix group
    names, or output paths), the targets and every stage upstream of them; with
    ``downstream=True``, as ``dvc repro --downstream``, the targets and every stage
    that depends on them instead.
    """
    import networkx as nx

    graph = _graph(pipeline)
    position = {name: index for index, name in enumerate(pipeline.stages)}
    selected: set[str] = set()
    if not targets:
        selected.update(pipeline.stages)
    for target in targets:
        for name in _resolve_target(pipeline, target):
            selected.add(name)
            related = nx.descendants if downstream else nx.ancestors
            selected.update(related(graph, name))
    order = list(nx.lexicographical_topological_sort(graph.subgraph(selected), key=position.get))
    upstream = {name: {p for p in graph.predecessors(name) if p in selected} for name in order}
    return Plan(order=order, upstream=upstream)


def producer_of(pipeline: Pipeline, path: str) -> str | None:
    """The stage whose output is ``path``, contains it, or (for a folder) lies inside it."""
    path = normalise_target(path)
    inside: str | None = None
    for stage in pipeline.stages.values():
        for out in stage.outs:
            if is_within(path, out.path):
                return stage.name
            if inside is None and path and is_within(out.path, path):
                inside = stage.name
    return inside


def check_missing_deps(pipeline: Pipeline, root: Path, order: Sequence[str]) -> None:
    """Fail on the first dependency or params key of ``order`` that nothing can provide."""
    loaded: dict[str, dict] = {}
    for name in order:
        stage = pipeline.stages[name]
        where = f"{pipeline.file}: stage '{name}'"
        for dep in stage.deps:
            if not (root / dep).exists() and producer_of(pipeline, dep) is None:
                raise PipelineError(
                    f"{where}: dependency '{dep}' does not exist and no stage writes it; "
                    "create it, fix the path, or add the stage that produces it"
                )
        for file, keys in stage.params.items():
            if producer_of(pipeline, file) is not None:
                continue  # written by a stage that runs first; its keys exist only then
            if not (root / file).is_file():
                raise PipelineError(
                    f"{where}: params file '{file}' does not exist; create it or fix 'params'"
                )
            if file not in loaded:
                loaded[file] = load_params(root / file, name=file)
            for key in keys:
                try:
                    lookup(loaded[file], key)
                except ParamsKeyError as exc:
                    raise PipelineError(
                        f"{where}: {file} has {exc}; add it there or remove it from 'params'"
                    ) from None


def _graph(pipeline: Pipeline) -> nx.DiGraph:
    import networkx as nx

    owners = _check_outputs(pipeline)
    # Every folder above an output -> the stages writing below it, so that a dep on
    # a folder finds the stages filling it without comparing every pair.
    below: dict[str, set[str]] = {}
    for path, owner in owners.items():
        for folder in parents(path):
            below.setdefault(folder, set()).add(owner)

    graph = nx.DiGraph()
    graph.add_nodes_from(pipeline.stages)
    for stage in pipeline.stages.values():
        for dep in (*stage.deps, *stage.params):
            producers = set(below.get(dep, ()))
            for candidate in (dep, *parents(dep)):
                if candidate in owners:
                    producers.add(owners[candidate])
            if stage.name in producers:
                raise PipelineError(
                    f"{pipeline.file}: stage '{stage.name}' both reads and writes '{dep}'; "
                    "a stage cannot depend on its own output (use 'persist: true' on the "
                    "output and drop the dependency if it updates the file in place)"
                )
            graph.add_edges_from((producer, stage.name) for producer in producers)
    _check_acyclic(pipeline, graph)
    return graph


def _check_outputs(pipeline: Pipeline) -> dict[str, str]:
    """Output path -> stage; two outputs that are the same path or nest are an error."""
    owners: dict[str, str] = {}
    for stage in pipeline.stages.values():
        for out in stage.outs:
            clash = [out.path, *parents(out.path)]
            for path in clash:
                other = owners.get(path)
                if other is None:
                    continue
                if other == stage.name:
                    detail = f"lists '{out.path}'" + (
                        " twice" if path == out.path else f" inside its output '{path}'"
                    )
                    raise PipelineError(
                        f"{pipeline.file}: stage '{stage.name}' {detail}; list each output once"
                    )
                raise PipelineError(_clash(pipeline, other, stage.name, path, out.path))
            owners[out.path] = stage.name
    # Outputs nested the other way (a later, larger folder over an earlier file).
    for path, owner in list(owners.items()):
        for folder in parents(path):
            other = owners.get(folder)
            if other is not None and other != owner:
                raise PipelineError(_clash(pipeline, other, owner, folder, path))
            if other == owner:
                raise PipelineError(
                    f"{pipeline.file}: stage '{owner}' lists '{path}' inside its output "
                    f"'{folder}'; list each output once"
                )
    return owners


def _clash(pipeline: Pipeline, one: str, other: str, outer: str, inner: str) -> str:
    names = list(pipeline.stages)
    first, second = sorted((one, other), key=names.index)
    file = pipeline.file
    if outer == inner:
        return (
            f"{file}: stages '{first}' and '{second}' both write '{inner}'; "
            "give each output a single producing stage"
        )
    return (
        f"{file}: stages '{first}' and '{second}' both write '{inner}' "
        f"(one writes the folder '{outer}'); give each output a single producing stage"
    )


def _check_acyclic(pipeline: Pipeline, graph: nx.DiGraph) -> None:
    import networkx as nx

    try:
        edges = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    cycle = [edge[0] for edge in edges]
    # Start from the stage that comes first in the file, so the message is stable.
    position = list(pipeline.stages)
    start = min(range(len(cycle)), key=lambda i: position.index(cycle[i]))
    cycle = cycle[start:] + cycle[:start]
    raise PipelineError(
        f"{pipeline.file}: stages form a cycle: {' -> '.join([*cycle, cycle[0]])}; "
        "remove one of those dependencies"
    )


def _resolve_target(pipeline: Pipeline, target: str) -> list[str]:
    name = target
    # DVC also accepts `dvc.yaml:train`.
    prefix, sep, rest = target.rpartition(":")
    if sep and prefix.rsplit("/", 1)[-1] == pipeline.file:
        name = rest
    if name in pipeline.stages:
        return [name]
    group = [stage for stage in pipeline.stages if stage.startswith(name + "@")]
    if group:
        return group
    path = normalise_target(name)
    if path:
        # An output path: the stage writing it (or the folder holding it), else every
        # stage writing into it when it is a folder.
        writers = [s.name for s in pipeline.stages.values() if _writes(s, path, inside=False)]
        writers = writers or [
            s.name for s in pipeline.stages.values() if _writes(s, path, inside=True)
        ]
        if writers:
            return writers
    names = _group_names(pipeline)
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise PipelineError(
        f"no stage named '{target}' in {pipeline.file}; stages: {shown or '(none)'}{hint}"
    )


def _writes(stage: Stage, path: str, *, inside: bool) -> bool:
    if inside:
        return any(is_within(out.path, path) for out in stage.outs)
    return any(is_within(path, out.path) for out in stage.outs)


def _group_names(pipeline: Pipeline) -> list[str]:
    # `train@1`, `train@2`... are listed once as `train`, which also works as a target.
    names: list[str] = []
    for stage in pipeline.stages:
        group = stage.split("@", 1)[0]
        if group not in names:
            names.append(group)
    return names
