"""Which runs stand behind a commit, and how those runs feed one another."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Mapping

from mlv.core.paths import overlaps
from mlv.errors import MlvError
from mlv.model.runs import Run
from mlv.repo.history import reachable, topo_order
from mlv.repo.protocols import ObjectReader


def effective_runs(objects: ObjectReader, commit_id: str) -> dict[str, Run]:
    """The runs that produced the outputs a commit holds, by run id, newest first.

    A commit carries the runs recorded since its parent; outputs that did not
    change since were produced by runs that earlier commits carry. A run counts
    when every output it wrote is still in the commit's tree with the same id,
    and no newer run wrote the same path.

    Every run of the history is looked at, so each is first read for its outputs
    alone (its JSON): only the runs that count are made into ``Run`` objects, which
    checks them whole and costs several times more.
    """
    tree = objects.read_commit(commit_id).tree
    ids_at: dict[str, str | None] = {}

    def id_at(path: str) -> str | None:
        if path not in ids_at:
            ids_at[path] = _id_at(objects, tree, path)
        return ids_at[path]

    found: dict[str, Run] = {}
    claimed: set[str] = set()
    for current in topo_order(reachable(objects.read_commit, [commit_id])):
        for run_id in objects.read_commit(current).runs:
            if run_id in found:
                continue
            try:
                data = objects.get(run_id)
            except MlvError:
                continue  # a missing run object is fsck's to report
            outs = _outputs_of(data)
            if outs is None or any(p in claimed for p in outs):
                continue
            if not all(id_at(p) == out_id for p, out_id in outs.items()):
                continue
            try:
                run = Run.from_bytes(data)
            except MlvError:
                continue  # a damaged run object is fsck's to report
            found[run_id] = run
            claimed.update(run.outs)
    return found


def _outputs_of(data: bytes) -> dict[str, str] | None:
    """A run's outputs as path -> id, from its JSON; None when they cannot be read
    (``Run.from_bytes`` would refuse the run too)."""
    try:
        outs = json.loads(data)["outs"]
        return {str(path): str(artifact["id"]) for path, artifact in outs.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _id_at(objects: ObjectReader, tree: str, path: str) -> str | None:
    entry = objects.entry_at(tree, path)
    return None if entry is None else entry.id


def in_order(runs: Mapping[str, Run], wanted: Iterable[str] | None = None) -> list[str]:
    """Run ids in an order where every run comes after the runs whose outputs it read.

    With ``wanted``, only those runs and the runs upstream of them. Among runs free
    to go, the oldest goes first, so the order is the order they were recorded in.
    A plain topological sort: the runs behind a commit are few, and importing
    networkx would cost ``reproduce`` a fifth of a second.
    """
    readers: dict[str, set[str]] = {r: set() for r in runs}
    writers: dict[str, set[str]] = {r: set() for r in runs}
    for reader_id, reader in runs.items():
        for path in reader.inputs():
            for writer_id, writer in runs.items():
                if writer_id != reader_id and any(overlaps(path, out) for out in writer.outs):
                    readers[writer_id].add(reader_id)
                    writers[reader_id].add(writer_id)
    keep = set(runs)
    if wanted is not None:
        keep, stack = set(), list(wanted)
        while stack:
            run_id = stack.pop()
            if run_id not in keep:
                keep.add(run_id)
                stack.extend(writers[run_id])
    # ``runs`` is newest first (as effective_runs gives them); runs started in the
    # same second keep the order they were recorded in.
    rank = {run_id: i for i, run_id in enumerate(reversed(list(runs)))}
    waiting = {r: len(writers[r] & keep) for r in keep}
    ready = [(runs[r].started, rank[r], r) for r in keep if not waiting[r]]
    heapq.heapify(ready)
    order = []
    while ready:
        *_, run_id = heapq.heappop(ready)
        order.append(run_id)
        for reader_id in readers[run_id] & keep:
            waiting[reader_id] -= 1
            if not waiting[reader_id]:
                heapq.heappush(ready, (runs[reader_id].started, rank[reader_id], reader_id))
    # A cycle cannot come from recorded runs unless two runs wrote each other's
    # inputs; those go last, oldest first, rather than being dropped.
    order += sorted(keep - set(order), key=lambda r: (runs[r].started, rank[r]))
    return order


def producer_of(runs: Mapping[str, Run], path: str) -> str | None:
    """The run that wrote ``path`` (or the folder holding it, or files inside it)."""
    for run_id, run in runs.items():
        if any(overlaps(path, out) for out in run.outs):
            return run_id
    return None
