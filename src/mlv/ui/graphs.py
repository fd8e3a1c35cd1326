"""Pictures drawn on the server as SVG: the commit graph's lanes, and layered DAGs.

Drawing here rather than in the browser keeps the page small and the picture the
same in every browser; the graphs a page shows are at most a few hundred nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# Lane colours, in order; a lane keeps its colour for the rows it spans.
PALETTE = ("#2456c7", "#1f7a3a", "#b3261e", "#9a6700", "#7b3fb3", "#00838f", "#c2185b", "#5d6b00")


@dataclass(frozen=True)
class GraphRow:
    """One commit's row: its lane, and the lines that leave it and pass by it."""

    lane: int
    colour: str
    # (from lane, to lane, colour) for each line between this row and the next.
    below: tuple[tuple[int, int, str], ...]


def commit_lanes(commits: Sequence[tuple[str, Sequence[str]]]) -> list[GraphRow]:
    """Lanes for ``commits`` given newest first, children before parents, as
    ``(id, parent ids)``. A parent outside the list keeps its lane to the bottom."""
    lanes: list[str | None] = []  # the commit each lane waits for
    colours: list[str] = []
    next_colour = 0
    rows: list[GraphRow] = []

    def free_lane() -> int:
        nonlocal next_colour
        for n, waiting in enumerate(lanes):
            if waiting is None:
                colours[n] = PALETTE[next_colour % len(PALETTE)]
                next_colour += 1
                return n
        lanes.append(None)
        colours.append(PALETTE[next_colour % len(PALETTE)])
        next_colour += 1
        return len(lanes) - 1

    for commit_id, parents in commits:
        waiting_here = [n for n, waiting in enumerate(lanes) if waiting == commit_id]
        lane = waiting_here[0] if waiting_here else free_lane()
        colour = colours[lane]
        before = list(lanes)
        for n in waiting_here:
            lanes[n] = None
        targets: list[int] = []
        for k, parent in enumerate(parents):
            if parent in lanes:
                targets.append(lanes.index(parent))
                continue
            if k == 0:
                lanes[lane] = parent
                targets.append(lane)
            else:
                n = free_lane()
                lanes[n] = parent
                targets.append(n)
        below: list[tuple[int, int, str]] = []
        # Lines from this commit to its parents' lanes.
        for target in targets:
            below.append((lane, target, colour if target == lane else colours[target]))
        # Lanes passing by, and lanes merging into this commit from above.
        for n, waiting in enumerate(before):
            if waiting is not None and waiting != commit_id and lanes[n] == waiting:
                below.append((n, n, colours[n]))
        while lanes and lanes[-1] is None:
            lanes.pop()
            colours.pop()
        rows.append(GraphRow(lane, colour, tuple(below)))
    return rows


@dataclass
class Layout:
    """A layered DAG's positions, in pixels, ready for a template to draw."""

    width: int
    height: int
    nodes: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> centre
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, SVG path)


def layered_layout(
    nodes: Iterable[str],
    edges: Iterable[tuple[str, str]],
    *,
    node_width: int = 180,
    node_height: int = 34,
    gap_x: int = 40,
    gap_y: int = 56,
) -> Layout:
    """Nodes in layers from sources (top) to sinks (bottom), each layer ordered to
    cross few edges (barycentres of the layer above, two sweeps)."""
    ids = list(dict.fromkeys(nodes))
    parents: dict[str, list[str]] = {n: [] for n in ids}
    children: dict[str, list[str]] = {n: [] for n in ids}
    pairs = [(a, b) for a, b in dict.fromkeys(edges) if a in parents and b in parents and a != b]
    for a, b in pairs:
        children[a].append(b)
        parents[b].append(a)
    depth = _depths(ids, parents, children)
    layers: dict[int, list[str]] = {}
    for node in ids:
        layers.setdefault(depth[node], []).append(node)
    order = [layers[k] for k in sorted(layers)]
    for _ in range(2):
        for k in range(1, len(order)):
            _sort_by_barycentre(order[k], order[k - 1], parents)
        for k in range(len(order) - 2, -1, -1):
            _sort_by_barycentre(order[k], order[k + 1], children)
    widest = max((len(layer) for layer in order), default=0)
    width = max(1, widest) * (node_width + gap_x) + gap_x
    layout = Layout(width, len(order) * (node_height + gap_y) + gap_y)
    for k, layer in enumerate(order):
        offset = (width - len(layer) * (node_width + gap_x) + gap_x) // 2
        for j, node in enumerate(layer):
            x = offset + j * (node_width + gap_x) + node_width // 2
            y = gap_y // 2 + k * (node_height + gap_y) + node_height // 2
            layout.nodes[node] = (x, y)
    half = node_height // 2
    for a, b in pairs:
        (x1, y1), (x2, y2) = layout.nodes[a], layout.nodes[b]
        y1, y2 = (y1 + half, y2 - half) if y2 > y1 else (y1 - half, y2 + half)
        middle = (y1 + y2) // 2
        layout.edges.append((a, b, f"M{x1},{y1} C{x1},{middle} {x2},{middle} {x2},{y2}"))
    return layout


def _depths(
    ids: list[str], parents: Mapping[str, list[str]], children: Mapping[str, list[str]]
) -> dict[str, int]:
    """The longest path from a source to each node; a cycle is broken where met."""
    depth: dict[str, int] = {}
    remaining = {n: len(parents[n]) for n in ids}
    ready = [n for n in ids if remaining[n] == 0]
    while ready:
        node = ready.pop(0)
        depth.setdefault(node, 0)
        for child in children[node]:
            depth[child] = max(depth.get(child, 0), depth[node] + 1)
            remaining[child] -= 1
            if remaining[child] == 0:
                ready.append(child)
    for node in ids:  # nodes on a cycle: below everything already placed
        depth.setdefault(node, max(depth.values(), default=-1) + 1)
    return depth


def _sort_by_barycentre(layer: list[str], other: list[str], links: Mapping[str, list[str]]) -> None:
    position = {node: n for n, node in enumerate(other)}
    # Taken before sorting: a list being sorted reads as empty, so a node with no link
    # to the other layer keeps the place it had.
    here = {node: n for n, node in enumerate(layer)}

    def centre(node: str) -> float:
        linked = [position[n] for n in links[node] if n in position]
        return sum(linked) / len(linked) if linked else here[node]

    layer.sort(key=centre)
