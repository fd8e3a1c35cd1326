"""Pictures drawn on the server as SVG: the commit graph's lanes, and layered DAGs.

Drawing here rather than in the browser keeps the page small and the picture the
same in every browser; the graphs a page shows are at most a few hundred nodes.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, pairwise
from math import floor
from typing import Any

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
    """A layered DAG's positions, in pixels, ready for a template to draw.

    ``nodes`` holds the real nodes only: the places a long edge bends through are in
    its path, never here, so a page can draw every entry.
    """

    width: int
    height: int
    nodes: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> centre
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, SVG path)
    # Edges drawn upward, against the layers, because they closed a cycle.
    reversed: list[tuple[str, str]] = field(default_factory=list)


# Weights of an edge's sideways length when nodes are placed, by how many of its two
# ends are virtual. The middle of a long edge pulls hardest, so that it runs straight
# down the gap it was given (as in Gansner et al.'s dot); its ends pull least, so that a
# chain of real nodes stands in line and the long edge bends out beside it.
REAL_WEIGHT, HALF_WEIGHT, LONG_WEIGHT = 1.0, 0.5, 8.0
# Rounds of crossing reduction (each a sweep down and one up) and of placement (half
# for the squares of the edges' lengths, half for the lengths). A big graph, with the
# many virtual nodes of its long edges, gets fewer: about as many nodes in all as
# ``SWEEP_BUDGET`` allows, so the time stays within a page's (tens of milliseconds).
ORDER_SWEEPS = 4
PLACE_SWEEPS = 8
SWEEP_BUDGET = 12_000
# The most nodes side by side that placement puts at their neighbours' median.
MEDIAN_RUN = 8
# What a node with no edges at all holds to: where it already is, gently.
ANCHOR_WEIGHT = 1e-3


def layered_layout(
    nodes: Iterable[str],
    edges: Iterable[tuple[str, str]],
    *,
    node_width: int = 180,
    node_height: int = 34,
    gap_x: int = 40,
    gap_y: int = 56,
    edge_gap: int = 20,
) -> Layout:
    """Nodes in layers from sources (top) to sinks (bottom), each edge one smooth path.

    The layers are the Sugiyama method's: a node sits one layer below the lowest of
    the nodes that feed it, and a node nothing feeds sits just above the first node it
    feeds. An edge that spans several layers gets a virtual node in each layer between,
    which takes part in ordering the layers like a real one but takes only ``edge_gap``
    of room beside its neighbours, so the edge runs past the nodes between instead of
    through them. A cycle is broken by drawing one of its edges upward (``reversed``);
    self-loops, repeated edges and edges to unknown nodes are left out.
    """
    ids = list(dict.fromkeys(nodes))
    index = {node: n for n, node in enumerate(ids)}
    pairs = list(
        dict.fromkeys(
            (index[a], index[b]) for a, b in edges if a in index and b in index and a != b
        )
    )
    back = _back_edges(len(ids), pairs)
    flow = [(b, a) if k in back else (a, b) for k, (a, b) in enumerate(pairs)]
    graph = _Layers.build(len(ids), flow)
    graph.order()
    room = [node_width / 2 if v < len(ids) else 0.0 for v in range(graph.size)]
    # An edge between two nodes leaves them at least gap_x apart, as if it were not there.
    beside_node = max(edge_gap, gap_x / 2)
    gaps = (edge_gap, beside_node, gap_x)
    xs = graph.place(room, lambda u, v: gaps[(u < len(ids)) + (v < len(ids))])
    margin = gap_x // 2
    left = min((x - room[v] for v, x in enumerate(xs)), default=0.0)
    # Rounded alike (half up, and past a float's error), places a whole number apart stay so.
    places = [floor(x - left + 0.5 + 1e-6) + margin for x in xs]
    width = max((x + room[v] for v, x in enumerate(places)), default=0) + margin
    step = node_height + gap_y
    margin_y = gap_y // 2
    ys = [margin_y + k * step + node_height // 2 for k in graph.layer]
    layout = Layout(
        max(int(width), node_width + 2 * margin), len(graph.layers) * step - gap_y + 2 * margin_y
    )
    for n, node in enumerate(ids):
        layout.nodes[node] = (places[n], ys[n])
    for k, (a, b) in enumerate(pairs):
        chain = graph.chains[k][::-1] if k in back else graph.chains[k]
        points = [(places[v], ys[v]) for v in chain]
        layout.edges.append((ids[a], ids[b], _edge_path(points, node_height)))
        if k in back:
            layout.reversed.append((ids[a], ids[b]))
    return layout


def _edge_path(points: list[tuple[int, int]], height: int) -> str:
    """From the side of the first node facing the next, through each virtual node's
    place, to the side of the last node facing the one before.

    Between layers a cubic leaves and arrives vertically; across a layer it runs
    straight, as high as a node, so it is smooth and meets each end head on. A node's
    box spans ``height`` from ``height // 2`` above its centre, as the pages draw it.
    """
    (x, y), *rest = points
    above, below = height // 2, height - height // 2
    leave, reach = (below, -above) if rest[-1][1] > y else (-above, below)
    path = [f"M{x},{y + leave}"]
    for n, (x2, y2) in enumerate(rest):
        start, end = y + leave, y2 + reach
        middle = (start + end) // 2
        path.append(f"C{x},{middle} {x2},{middle} {x2},{end}")
        if n < len(rest) - 1:
            path.append(f"L{x2},{y2 + leave}")
        x, y = x2, y2
    return " ".join(path)


def _back_edges(size: int, pairs: list[tuple[int, int]]) -> set[int]:
    """The edges that close a cycle, met in a depth-first walk taken in input order:
    turning them round leaves a DAG."""
    out: list[list[tuple[int, int]]] = [[] for _ in range(size)]
    for k, (a, b) in enumerate(pairs):
        out[a].append((k, b))
    state = [0] * size  # 0 not seen, 1 on the walk's path, 2 done
    back: set[int] = set()
    for root in range(size):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            node, todo = stack[-1]
            for k, child in todo:
                if state[child] == 1:
                    back.add(k)
                elif state[child] == 0:
                    state[child] = 1
                    stack.append((child, iter(out[child])))
                    break
            else:
                state[node] = 2
                stack.pop()
    return back


def _depths(size: int, flow: list[tuple[int, int]]) -> list[int]:
    """Each node's layer in a DAG: one below its lowest parent (the longest path from a
    source); a source sits just above its first child, so its edges stay short."""
    children: list[list[int]] = [[] for _ in range(size)]
    waiting = [0] * size
    for a, b in flow:
        children[a].append(b)
        waiting[b] += 1
    depth = [0] * size
    ready = [n for n in range(size) if not waiting[n]]
    sources = list(ready)
    for node in ready:  # grows as it goes: Kahn's order
        for child in children[node]:
            depth[child] = max(depth[child], depth[node] + 1)
            waiting[child] -= 1
            if not waiting[child]:
                ready.append(child)
    for node in sources:
        if children[node]:
            depth[node] = min(depth[child] for child in children[node]) - 1
    return depth


@dataclass
class _Layers:
    """The layered graph: real nodes first, then the virtual nodes of long edges, each
    joined only to nodes of the layers next to its own."""

    layer: list[int]  # each node's layer
    up: list[list[int]]  # each node's neighbours in the layer above
    down: list[list[int]]  # and in the layer below
    chains: list[list[int]]  # each edge as the nodes it goes through, top to bottom
    layers: list[list[int]]  # the nodes of each layer, left to right
    real: int  # how many of the nodes are real: the first ones

    @property
    def size(self) -> int:
        return len(self.layer)

    @classmethod
    def build(cls, size: int, flow: list[tuple[int, int]]) -> _Layers:
        layer = _depths(size, flow)
        up: list[list[int]] = [[] for _ in range(size)]
        down: list[list[int]] = [[] for _ in range(size)]
        chains: list[list[int]] = []
        for a, b in flow:
            chain = [a]
            for k in range(layer[a] + 1, layer[b]):
                layer.append(k)
                up.append([])
                down.append([])
                chain.append(len(layer) - 1)
            chain.append(b)
            for u, v in pairwise(chain):
                down[u].append(v)
                up[v].append(u)
            chains.append(chain)
        layers: list[list[int]] = [[] for _ in range(max(layer, default=-1) + 1)]
        for v, k in enumerate(layer):
            layers[k].append(v)
        return cls(layer, up, down, chains, layers, size)

    def weight(self, u: int, v: int) -> float:
        virtual = (u >= self.real) + (v >= self.real)
        return (REAL_WEIGHT, HALF_WEIGHT, LONG_WEIGHT)[virtual]

    def order(self) -> None:
        """Orders each layer to cross few edges: barycentre sweeps down and up, keeping
        the best order seen."""
        position = self.positions()
        best, fewest = [list(nodes) for nodes in self.layers], self.crossings(position)
        for _ in range(_sweeps(ORDER_SWEEPS, self.size)):
            if not fewest:
                break
            for k in range(1, len(self.layers)):
                _sort_by_barycentre(self.layers[k], len(self.layers[k - 1]), self.up, position)
            for k in range(len(self.layers) - 2, -1, -1):
                _sort_by_barycentre(self.layers[k], len(self.layers[k + 1]), self.down, position)
            crossings = self.crossings(position)
            if crossings < fewest:
                best, fewest = [list(nodes) for nodes in self.layers], crossings
        self.layers = best

    def positions(self) -> list[int]:
        """Each node's place in its layer, counted from the left."""
        position = [0] * self.size
        for nodes in self.layers:
            for n, v in enumerate(nodes):
                position[v] = n
        return position

    def crossings(self, position: list[int]) -> int:
        """How many pairs of edges cross between neighbouring layers."""
        total = 0
        for upper in self.layers[:-1]:
            ends = sorted((position[v], position[w]) for v in upper for w in self.down[v])
            total += _inversions([w for _, w in ends])
        return total

    def place(self, room: list[float], gap: Callable[[int, int], float]) -> list[float]:
        """Each node's x, keeping the layers' order and room, that makes the edges as
        short sideways as it can, each layer in turn placed best for its neighbours:
        first for the weighted squares of the edges' lengths, which spreads the
        picture out evenly, then for the lengths themselves, which lines up chains."""
        neighbours = [
            [(u, self.weight(u, v)) for u in self.up[v] + self.down[v]] or [(v, ANCHOR_WEIGHT)]
            for v in range(self.size)
        ]
        pull = [sum(w for _, w in linked) for linked in neighbours]
        xs = [0.0] * self.size
        offsets = []  # how far right of a layer's first node each must be, at least
        for nodes in self.layers:
            offset = [0.0]
            for u, v in pairwise(nodes):
                offset.append(offset[-1] + room[u] + room[v] + gap(u, v))
            offsets.append(offset)
            for v, at in zip(nodes, offset, strict=True):
                xs[v] = at - offset[-1] / 2
        sweep = list(range(len(self.layers)))
        rounds = _sweeps(PLACE_SWEEPS, self.size)
        for n in range(rounds):
            median = n >= rounds // 2
            for k in sweep if n % 2 == 0 else reversed(sweep):
                _place_layer(self.layers[k], offsets[k], neighbours, pull, xs, median)
        return xs


def _sweeps(most: int, size: int) -> int:
    return max(2, min(most, SWEEP_BUDGET // max(size, 1)))


def _inversions(values: list[int]) -> int:
    """Pairs out of order in ``values``. Inserting into a sorted list is quadratic in
    principle, but a layer is short and the insertion is C: faster here than a tree."""
    seen: list[int] = []
    count = 0
    for value in values:
        at = bisect_right(seen, value)
        count += len(seen) - at
        seen.insert(at, value)
    return count


def _place_layer(
    nodes: list[int],
    offsets: list[float],
    neighbours: list[list[tuple[int, float]]],
    pull: list[float],
    xs: list[float],
    median: bool,
) -> None:
    """The best places for one layer's nodes given the rest (pool adjacent violators).

    Less their ``offsets``, the places only have to be in order; each node wants the
    weighted mean (or median) of its neighbours' places, and a run of nodes that would
    be out of order shares that of all their neighbours. A run longer than
    ``MEDIAN_RUN`` takes the mean: most often it is many long edges side by side, for
    which the two differ little, and the median would cost a sort per node joined.
    """
    # Each block: [place, weighted sum, weight, nodes, wanted places or None].
    blocks: list[list[Any]] = []
    for v, shift in zip(nodes, offsets, strict=True):
        weight = pull[v]
        total = sum(w * xs[u] for u, w in neighbours[v]) - shift * weight
        wanted = [(xs[u] - shift, w) for u, w in neighbours[v]] if median else None
        block = _block(total, weight, 1, wanted)
        while blocks and blocks[-1][0] > block[0]:
            block = _joined(blocks.pop(), block)
        blocks.append(block)
    n = 0
    for place, _, _, count, _ in blocks:
        for v in nodes[n : n + count]:
            xs[v] = place + offsets[n]
            n += 1


def _block(
    total: float, weight: float, count: int, wanted: list[tuple[float, float]] | None
) -> list[Any]:
    place = _median(wanted, weight) if wanted is not None else total / weight
    return [place, total, weight, count, wanted]


def _joined(left: list[Any], right: list[Any]) -> list[Any]:
    count = left[3] + right[3]
    both = left[4] is not None and right[4] is not None and count <= MEDIAN_RUN
    wanted = left[4] + right[4] if both else None
    return _block(left[1] + right[1], left[2] + right[2], count, wanted)


def _median(wanted: list[tuple[float, float]], weight: float) -> float:
    """The weighted median; where a range of places is as good, its middle."""
    if len(wanted) == 1:
        return wanted[0][0]
    if len(wanted) == 2 and wanted[0][1] == wanted[1][1]:  # a long edge's virtual node
        return (wanted[0][0] + wanted[1][0]) / 2
    ordered = sorted(wanted)
    below = list(accumulate([w for _, w in ordered]))
    half = weight / 2
    n = bisect_left(below, half - 1e-9)
    if n + 1 < len(ordered) and below[n] < half + 1e-9:  # exactly half below
        return (ordered[n][0] + ordered[n + 1][0]) / 2
    return ordered[min(n, len(ordered) - 1)][0]


def _sort_by_barycentre(
    layer: list[int], other: int, links: Sequence[list[int]], position: list[int]
) -> None:
    """Sorts ``layer`` by the mean place of each node's links in the layer next to it
    (``other`` nodes wide), and updates ``position`` to match.

    The keys are all taken before sorting (a list being sorted reads as empty), and a
    node with no link there keeps the place it had, scaled to that layer's width.
    """
    scale = (other - 1) / (len(layer) - 1) if len(layer) > 1 else 0.0
    centre: dict[int, float] = {}
    for n, node in enumerate(layer):
        linked = links[node]
        if len(linked) == 1:  # most often a long edge's virtual node
            centre[node] = position[linked[0]]
        else:
            centre[node] = sum(position[u] for u in linked) / len(linked) if linked else n * scale
    layer.sort(key=centre.__getitem__)
    for n, node in enumerate(layer):
        position[node] = n
