"""Which runs stand behind a commit, and how those runs feed one another."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from mlv.errors import MlvError
from mlv.model.runs import Run
from mlv.repo.history import reachable, topo_order
from mlv.repo.repository import Repo

if TYPE_CHECKING:
    import networkx as nx


def effective_runs(repo: Repo, commit_id: str) -> dict[str, Run]:
    """The runs that produced the outputs a commit holds, by run id, newest first.

    A commit carries the runs recorded since its parent; outputs that did not
    change since were produced by runs that earlier commits carry. A run counts
    when every output it wrote is still in the commit's tree with the same id,
    and no newer run wrote the same path.
    """
    tree = repo.read_commit(commit_id).tree
    found: dict[str, Run] = {}
    claimed: set[str] = set()
    for current in topo_order(reachable(repo.read_commit, [commit_id])):
        for run_id in repo.read_commit(current).runs:
            if run_id in found:
                continue
            try:
                run = repo.read_run(run_id)
            except MlvError:
                continue  # a missing run object is fsck's to report, not a reason to stop
            if any(p in claimed for p in run.outs):
                continue
            if all(_id_at(repo, tree, p) == a.id for p, a in run.outs.items()):
                found[run_id] = run
                claimed.update(run.outs)
    return found


def _id_at(repo: Repo, tree: str, path: str) -> str | None:
    entry = repo.trees.entry_at(tree, path)
    return None if entry is None else entry.id


def overlaps(a: str, b: str) -> bool:
    """Whether two paths are the same, or one is a folder holding the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def run_graph(runs: Mapping[str, Run]) -> nx.DiGraph:
    """Runs as nodes, an edge A -> B when B read something that A wrote."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(runs)
    for reader_id, reader in runs.items():
        for path in reader.inputs():
            for writer_id, writer in runs.items():
                if writer_id != reader_id and any(overlaps(path, out) for out in writer.outs):
                    graph.add_edge(writer_id, reader_id)
    return graph


def in_order(runs: Mapping[str, Run], wanted: Iterable[str] | None = None) -> list[str]:
    """Run ids in an order where every run comes after the runs it reads from.

    With ``wanted``, only those runs and the runs upstream of them. Among runs free
    to go, the oldest goes first, so the order is the order they were recorded in.
    """
    import networkx as nx

    graph = run_graph(runs)
    if wanted is not None:
        keep: set[str] = set()
        for run_id in wanted:
            keep |= {run_id} | nx.ancestors(graph, run_id)
        graph = graph.subgraph(keep)
    # ``runs`` is newest first (as effective_runs gives them); runs started in the
    # same second keep the order they were recorded in.
    rank = {run_id: i for i, run_id in enumerate(reversed(list(runs)))}
    return list(
        nx.lexicographical_topological_sort(graph, key=lambda r: (runs[r].started, rank[r]))
    )


def producer_of(runs: Mapping[str, Run], path: str) -> str | None:
    """The run that wrote ``path`` (or the folder holding it, or files inside it)."""
    for run_id, run in runs.items():
        if any(overlaps(path, out) for out in run.outs):
            return run_id
    return None
