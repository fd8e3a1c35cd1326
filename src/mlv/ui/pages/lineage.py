"""Lineage: what made an output (upstream) or what used it (downstream), drawn as a DAG."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlv.api import Repo
from mlv.errors import InvalidArgumentError
from mlv.lineage.graph import DOWNSTREAM, UPSTREAM, ArtifactNode, Lineage, Node
from mlv.lineage.index import CommitInfo
from mlv.lineage.render import size_text
from mlv.ui.graphs import Layout, layered_layout
from mlv.ui.site import NavItem, repo_path, site_of

NAV = NavItem("Lineage", "/lineage", 60)
DIRECTIONS = (UPSTREAM, DOWNSTREAM)
NODE_WIDTH = 200
NODE_HEIGHT = 46
# Characters of a label that fit in a node at the style sheet's 12 px.
LABEL_CHARS = 27
# Past this many nodes a picture is a tangle: the table alone says it better.
MAX_DRAWN = 250


@dataclass
class ShownNode:
    """A node as the page shows it: what it is, where it links, and its neighbours."""

    key: str
    kind: str  # "file", "folder" or "run"
    label: str
    detail: str
    href: str
    id: str
    commit: CommitInfo | None
    focus: bool
    note: str  # "source", "more" or ""
    inputs: list[ShownNode] = field(default_factory=list)
    outputs: list[ShownNode] = field(default_factory=list)

    @property
    def short_label(self) -> str:
        return _shorten(self.label, LABEL_CHARS)


def lineage_page(request: Request) -> Response:
    site = site_of(request)
    params = request.query_params
    direction = params.get("direction", UPSTREAM) or UPSTREAM
    if direction not in DIRECTIONS:
        raise InvalidArgumentError(f"direction must be upstream or downstream, not {direction!r}")
    path = repo_path(params.get("path", ""))
    rev = params.get("rev", "").strip() or "HEAD"
    all_history = params.get("all", "") not in ("", "0")
    with site.repo() as repo:
        commit_id = repo.resolve(rev)
        if not path:
            return site.render(request, "lineage_pick.html", _pick_context(repo, rev, commit_id))
        found = repo.lineage(
            path, commit_id, downstream=direction == DOWNSTREAM, all_history=all_history
        )
    shown = _shown_nodes(found)
    drawn = len(shown) <= MAX_DRAWN
    layout = _drawing(found) if drawn else None
    context = {
        "title": f"Lineage of {path}",
        "active": NAV.url,
        "path": path,
        "rev": rev,
        "commit_id": commit_id,
        "direction": direction,
        "all_history": all_history,
        "nodes": list(shown.values()),
        "layout": layout,
        "node_width": NODE_WIDTH,
        "node_height": NODE_HEIGHT,
        "too_many": not drawn,
        "cyclic": drawn and layout is None,
        "max_drawn": MAX_DRAWN,
        "toggle": {d: _lineage_url(path, rev, d, all_history) for d in DIRECTIONS},
        "other_scope": _lineage_url(path, rev, direction, not all_history),
    }
    return site.render(request, "lineage.html", context)


def _pick_context(repo: Repo, rev: str, commit_id: str) -> dict[str, object]:
    """The outputs the runs behind ``rev`` wrote, to pick one from."""
    outputs: dict[str, tuple[str, str]] = {}  # path -> (stage, run id)
    for run_id, run in repo.runs(commit_id).items():
        for out in run.outs:
            outputs.setdefault(out, (run.name, run_id))
    return {
        "title": "Lineage",
        "active": NAV.url,
        "rev": rev,
        "commit_id": commit_id,
        "outputs": sorted(outputs.items()),
    }


def _shown_nodes(found: Lineage) -> dict[str, ShownNode]:
    shown = {key: _shown(found, key, node) for key, node in found.nodes.items()}
    for a, b in found.edges:
        shown[a].outputs.append(shown[b])
        shown[b].inputs.append(shown[a])
    return shown


def _shown(found: Lineage, key: str, node: Node) -> ShownNode:
    commit = node.commit
    note = "more" if node.more else ""
    if isinstance(node, ArtifactNode):
        note = note or ("source" if node.source else "")
        # The node's own commit holds exactly this content; the root is as asked.
        rev = found.rev if key == found.root or commit is None else commit.id
        return ShownNode(
            key=key,
            kind="folder" if node.kind == "dir" else "file",
            label=node.path,
            detail=f"{node.id[:8]} · {size_text(node.size)}",
            href=f"/files/{rev}/{quote(node.path, safe='/')}",
            id=node.id,
            commit=commit,
            focus=key == found.root,
            note=note,
        )
    return ShownNode(
        key=key,
        kind="run",
        label=f"run {node.run.name}",
        detail=f"{node.id[:8]} · {node.run.duration_ms / 1000:.1f} s",
        href=f"/run/{node.id}",
        id=node.id,
        commit=commit,
        focus=False,
        note=note,
    )


@dataclass
class Drawing:
    """A laid-out graph: where each node goes, and each edge as an SVG path.

    An edge that spans several layers goes through the places of hidden nodes, one
    per layer it crosses, so that it bends around the nodes between.
    """

    width: int
    height: int
    nodes: dict[str, tuple[int, int]]
    edges: list[str]


def _drawing(found: Lineage) -> Drawing | None:
    """The graph laid out by ``layered_layout``, or None when it has a cycle (a run that
    wrote back what it read): the table shows that case."""
    padded = _padded(list(found.nodes), found.edges)
    if padded is None:
        return None
    nodes, chains, hidden = padded
    pieces = [(a, b) for chain in chains for a, b in pairwise(chain)]
    layout: Layout = layered_layout(nodes, pieces, node_width=NODE_WIDTH, node_height=NODE_HEIGHT)
    places = layout.nodes
    edges = [_edge_path([places[n] for n in chain]) for chain in chains if chain[-1] not in hidden]
    shown = {k: v for k, v in places.items() if k not in hidden}
    return Drawing(layout.width, layout.height, shown, edges)


def _edge_path(points: list[tuple[int, int]]) -> str:
    """From the bottom of the first node through the hidden places to the top of the last."""
    half = NODE_HEIGHT // 2
    (x, y), *rest = points
    path = [f"M{x},{y + half}"]
    y += half
    for n, (x2, y2) in enumerate(rest):
        y2 = y2 - half if n == len(rest) - 1 else y2
        middle = (y + y2) // 2
        path.append(f"C{x},{middle} {x2},{middle} {x2},{y2}")
        x, y = x2, y2
    return " ".join(path)


HIDDEN = "\x00hidden:"


def _padded(
    nodes: list[str], edges: list[tuple[str, str]]
) -> tuple[list[str], list[list[str]], set[str]] | None:
    """Nodes, and each edge as a chain of nodes that joins neighbouring layers only, so
    that every node but those of the last layer has a child in the next.

    Hidden nodes stand in the layers a long edge crosses, and below a sink that is not
    in the last layer (a chain ending in a hidden node, never drawn). A layered layout
    orders each layer by its neighbours in the next; with these, every node has some,
    and a long edge gets room of its own.
    """
    depth = _longest_paths(nodes, edges)
    if depth is None:
        return None
    bottom = max(depth.values(), default=0)
    all_nodes, chains, hidden = list(nodes), [], set()

    def chain(start: str, end: str | None, steps: int) -> None:
        links = [start]
        for step in range(1, steps):
            pad = f"{HIDDEN}{start}\x00{end}\x00{step}"
            hidden.add(pad)
            all_nodes.append(pad)
            links.append(pad)
        if end is not None:
            links.append(end)
        chains.append(links)

    for a, b in edges:
        chain(a, b, depth[b] - depth[a])
    has_child = {a for a, _ in edges}
    for node in nodes:
        if node not in has_child and depth[node] < bottom:
            chain(node, None, bottom - depth[node] + 1)
    return all_nodes, chains, hidden


def _longest_paths(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int] | None:
    """Each node's layer, as ``layered_layout`` counts it; None for a graph with a cycle."""
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        children[a].append(b)
        parents[b].append(a)
    waiting = {n: len(parents[n]) for n in nodes}
    ready = [n for n in nodes if not waiting[n]]
    depth = dict.fromkeys(ready, 0)
    while ready:
        node = ready.pop()
        for child in children[node]:
            depth[child] = max(depth.get(child, 0), depth[node] + 1)
            waiting[child] -= 1
            if not waiting[child]:
                ready.append(child)
    return depth if len(depth) == len(nodes) else None


def _lineage_url(path: str, rev: str, direction: str, all_history: bool) -> str:
    query = {"path": path, "rev": rev, "direction": direction}
    if all_history:
        query["all"] = "1"
    return "/lineage?" + urlencode(query)


def _shorten(text: str, width: int) -> str:
    """The end of a long path matters most (the file's name): cut from the front."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]


routes = [Route("/lineage", lineage_page)]
