"""Lineage: the runs and artifacts upstream or downstream of one content, as a graph."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlv.errors import InvalidArgumentError, NotFoundError
from mlv.lineage.index import CommitInfo, HistoryIndex
from mlv.model.objects import KIND_DIR
from mlv.model.runs import Run
from mlv.repo.protocols import ObjectReader, RefReader, RevisionResolver
from mlv.repo.refs import HEADS, TAGS

if TYPE_CHECKING:
    import networkx as nx

UPSTREAM = "upstream"
DOWNSTREAM = "downstream"


@dataclass(slots=True)
class ArtifactNode:
    """A content at a path: a file's id, or a folder's tree id."""

    key: str
    path: str
    id: str
    kind: str
    size: int
    commit: CommitInfo | None = None  # the commit that first carried it
    source: bool = False  # no recorded run produced it
    more: bool = False  # the graph goes on past here; the depth limit cut it

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "type": "artifact",
            "path": self.path,
            "id": self.id,
            "kind": self.kind,
            "size": self.size,
            "commit": self.commit.to_json() if self.commit else None,
            "source": self.source,
            "more": self.more,
        }


@dataclass(slots=True)
class RunNode:
    """One recorded run, and the commit that first carried it."""

    key: str
    id: str
    run: Run
    commit: CommitInfo | None = None
    more: bool = False

    def to_json(self) -> dict[str, Any]:
        run = self.run
        return {
            "key": self.key,
            "type": "run",
            "id": self.id,
            "name": run.name,
            "cmd": run.cmd,
            "wdir": run.wdir,
            "user": run.user,
            "host": run.host,
            "started": run.started,
            "duration_ms": run.duration_ms,
            "params": {path: use.values for path, use in run.params.items()},
            "metrics": run.metrics,
            "commit": self.commit.to_json() if self.commit else None,
            "more": self.more,
        }


Node = ArtifactNode | RunNode


@dataclass
class Lineage:
    """What one content came from (upstream) or went into (downstream).

    ``graph`` (networkx) has an edge for every read and write, pointing the way the
    data flowed: artifact -> the run that read it, run -> the artifact it wrote. The
    edge's ``path`` is the path the run declared when that was a folder around it.
    """

    root: str
    direction: str
    rev: str  # the commit the root was taken from
    nodes: dict[str, Node]
    graph: nx.DiGraph
    depth: int | None = None
    scope: list[str] = field(default_factory=list)  # the commits the search started from

    @property
    def edges(self) -> list[tuple[str, str]]:
        return list(self.graph.edges)

    def children(self, key: str) -> list[str]:
        """The nodes one step further from the root: inputs upstream, readers downstream."""
        if self.direction == UPSTREAM:
            return list(self.graph.predecessors(key))
        return list(self.graph.successors(key))

    def runs(self) -> list[RunNode]:
        return [n for n in self.nodes.values() if isinstance(n, RunNode)]

    def artifacts(self) -> list[ArtifactNode]:
        return [n for n in self.nodes.values() if isinstance(n, ArtifactNode)]

    def sources(self) -> list[ArtifactNode]:
        """The artifacts that no recorded run produced: data, code and parameters."""
        return [n for n in self.artifacts() if n.source]

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "direction": self.direction,
            "rev": self.rev,
            "depth": self.depth,
            "nodes": [n.to_json() for n in self.nodes.values()],
            "edges": [
                {"from": a, "to": b, "path": data.get("path")}
                for a, b, data in self.graph.edges(data=True)
            ],
        }


def artifact_key(path: str, object_id: str) -> str:
    return f"{path}@{object_id}"


def run_key(run_id: str) -> str:
    return f"run:{run_id}"


def history_starts(refs: RefReader, commit_id: str, all_history: bool) -> list[str]:
    """Where the search starts: the commit alone, or every branch, tag and HEAD as well."""
    if not all_history:
        return [commit_id]
    starts = [commit_id]
    for prefix in (HEADS, TAGS):
        starts += refs.list(prefix, skip_damaged=True).values()
    head = refs.head().commit
    return list(dict.fromkeys(starts + ([head] if head else [])))


def trace(
    objects: ObjectReader,
    revisions: RevisionResolver,
    refs: RefReader,
    path: str,
    rev: str = "HEAD",
    *,
    downstream: bool = False,
    all_history: bool = False,
    depth: int | None = None,
) -> Lineage:
    """The lineage of ``path`` as it is at ``rev`` (``path`` relative to the root).

    ``depth`` counts runs: 1 is the run that made the content (or read it) and that
    run's inputs (or outputs); None follows the graph to its ends.
    """
    import networkx as nx

    if depth is not None and depth < 0:
        raise InvalidArgumentError(f"--depth must be 0 or more, not {depth}")
    commit_id = revisions.resolve(rev)
    entry = objects.entry_at(objects.read_commit(commit_id).tree, path) if path else None
    if entry is None:
        raise NotFoundError(f"path {path or '.'} does not exist in {rev}")
    starts = history_starts(refs, commit_id, all_history)
    builder = _Builder(HistoryIndex(objects, starts), commit_id, nx.DiGraph())
    root = builder.artifact(path, entry.id, entry.kind, entry.size)
    if downstream:
        builder.downstream(root, depth)
    else:
        builder.upstream(root, depth)
    builder.date_sources()
    return Lineage(
        root=root.key,
        direction=DOWNSTREAM if downstream else UPSTREAM,
        rev=commit_id,
        nodes=builder.nodes,
        graph=builder.graph,
        depth=depth,
        scope=starts,
    )


class _Builder:
    """Walks the index from the root, level by level, adding nodes and edges."""

    def __init__(self, index: HistoryIndex, rev: str, graph: nx.DiGraph) -> None:
        self.index = index
        self.rev = rev
        self.graph = graph
        self.nodes: dict[str, Node] = {}

    def artifact(self, path: str, object_id: str, kind: str, size: int) -> ArtifactNode:
        key = artifact_key(path, object_id)
        node = self.nodes.get(key)
        if node is None:
            node = ArtifactNode(key, path, object_id, kind, size)
            self.nodes[key] = node
            self.graph.add_node(key)
        assert isinstance(node, ArtifactNode)
        return node

    def run(self, run_id: str) -> tuple[RunNode, bool]:
        """The node of a run, and whether it is new."""
        key = run_key(run_id)
        node = self.nodes.get(key)
        if node is not None:
            assert isinstance(node, RunNode)
            return node, False
        commit = self.index.run_commit.get(run_id)
        info = self.index.info(commit) if commit else None
        node = RunNode(key, run_id, self.index.run(run_id), info)
        self.nodes[key] = node
        self.graph.add_node(key)
        return node, True

    def edge(self, a: str, b: str, declared: str, actual: str) -> None:
        self.graph.add_edge(a, b, path=declared if declared != actual else None)

    def upstream(self, root: ArtifactNode, depth: int | None) -> None:
        queue = deque([(root, 0, self.rev)])
        while queue:
            node, level, by = queue.popleft()
            run_id = self.index.producer(node.path, node.id, by=by)
            if run_id is None:
                node.source = True
                continue
            if depth is not None and level >= depth:
                node.more = True
                node.commit = self.index.info(self.index.run_commit[run_id])
                continue
            run_node, new = self.run(run_id)
            node.commit = run_node.commit
            self.edge(run_node.key, node.key, _declared(run_node.run.outs, node.path), node.path)
            if not new:
                continue
            for path, artifact in run_node.run.inputs().items():
                child = self.artifact(path, artifact.id, artifact.kind, artifact.size)
                self.edge(child.key, run_node.key, path, path)
                queue.append((child, level + 1, self.index.run_commit[run_id]))

    def downstream(self, root: ArtifactNode, depth: int | None) -> None:
        made_by = self.index.producer(root.path, root.id, by=self.rev)
        if made_by is None:
            root.source = True
        else:
            commit = self.index.run_commit[made_by]
            root.commit = self.index.info(commit)
        queue = deque([(root, 0)])
        while queue:
            node, level = queue.popleft()
            readers = self.index.consumers(node.path, node.id, folder=node.kind == KIND_DIR)
            if readers and depth is not None and level >= depth:
                node.more = True
                continue
            for run_id in readers:
                run_node, new = self.run(run_id)
                declared = _declared(run_node.run.inputs(), node.path)
                self.edge(node.key, run_node.key, declared, node.path)
                if not new:
                    continue
                for path, artifact in run_node.run.outs.items():
                    child = self.artifact(path, artifact.id, artifact.kind, artifact.size)
                    child.commit = run_node.commit
                    self.edge(run_node.key, child.key, path, path)
                    queue.append((child, level + 1))

    def date_sources(self) -> None:
        """Give each artifact with no commit yet the oldest commit that holds it."""
        for node in self.nodes.values():
            if isinstance(node, ArtifactNode) and node.commit is None:
                first = self.index.first_holding(node.path, node.id)
                node.commit = self.index.info(first) if first else None


def _declared(artifacts: dict[str, Any], path: str) -> str:
    """The path a run declared for ``path``: itself, a folder around it, or one inside it."""
    if path in artifacts:
        return path
    for declared in artifacts:
        if path.startswith(declared + "/") or declared.startswith(path + "/"):
            return declared
    return path
