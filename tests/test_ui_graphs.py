"""The pictures ``mlv ui`` draws on the server: a layered DAG's layout, and the commit
graph's lanes."""

from __future__ import annotations

import random
import re
import time
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from mlv.ui.graphs import PALETTE, Layout, commit_lanes, layered_layout

WIDTH, HEIGHT, GAP_X = 180, 34, 40
Point = tuple[float, float]


# -- reading a layout back ---------------------------------------------------------------


def path_points(path: str, steps: int = 24) -> list[Point]:
    """Points along an SVG path of M, C and L commands, as the layout writes them."""
    tokens = re.findall(r"[MCL]|-?\d+(?:\.\d+)?", path)
    assert tokens and tokens[0] == "M", path
    points: list[Point] = []
    at: Point = (0.0, 0.0)
    n = 0
    while n < len(tokens):
        command, n = tokens[n], n + 1
        count = {"M": 1, "L": 1, "C": 3}[command]
        numbers = [float(t) for t in tokens[n : n + 2 * count]]
        n += 2 * count
        ends = [(numbers[k], numbers[k + 1]) for k in range(0, len(numbers), 2)]
        if command == "M":
            at = ends[0]
            points.append(at)
        elif command == "L":
            points.extend(_line(at, ends[0], steps))
            at = ends[0]
        else:
            points.extend(_cubic(at, ends[0], ends[1], ends[2], steps))
            at = ends[2]
    return points


def _line(a: Point, b: Point, steps: int) -> list[Point]:
    return [
        (a[0] + (b[0] - a[0]) * t / steps, a[1] + (b[1] - a[1]) * t / steps)
        for t in range(1, steps + 1)
    ]


def _cubic(p0: Point, p1: Point, p2: Point, p3: Point, steps: int) -> list[Point]:
    points = []
    for k in range(1, steps + 1):
        t = k / steps
        a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
        points.append(
            (
                a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1],
            )
        )
    return points


def last_control(path: str) -> Point:
    """The second control point of the path's last cubic: where the arrowhead points from."""
    numbers = [float(t) for t in re.findall(r"-?\d+(?:\.\d+)?", path.rsplit("C", 1)[1])]
    return numbers[2], numbers[3]


def inside(point: Point, centre: tuple[int, int], width: int = WIDTH, height: int = HEIGHT) -> bool:
    """Strictly inside a node's box as the pages draw it, from ``size // 2`` left of and
    above the centre (its border does not count)."""
    left, top = centre[0] - width // 2, centre[1] - height // 2
    return left < point[0] < left + width and top < point[1] < top + height


def check_layout(
    layout: Layout,
    nodes: list[str],
    edges: list[tuple[str, str]],
    sizes: tuple[int, int, int] = (WIDTH, HEIGHT, GAP_X),
) -> None:
    """What every drawing needs: each node placed inside the picture, no two nodes of a
    layer overlapping, each edge from its source's bottom to its target's top, arriving
    straight down, and running through no node's box on its way."""
    width, height, gap = sizes
    assert set(layout.nodes) == set(nodes)
    for x, y in layout.nodes.values():
        assert x - width // 2 >= 0 and x - width // 2 + width <= layout.width
        assert y - height // 2 >= 0 and y - height // 2 + height <= layout.height
    by_layer: dict[int, list[int]] = {}
    for x, y in layout.nodes.values():
        by_layer.setdefault(y, []).append(x)
    for xs in by_layer.values():
        xs.sort()
        assert all(b - a >= width + gap for a, b in pairwise(xs)), xs
    known = {(a, b) for a, b in edges if a in layout.nodes and b in layout.nodes and a != b}
    assert {(a, b) for a, b, _ in layout.edges} == known
    assert len(layout.edges) == len(known)
    for a, b, path in layout.edges:
        (xa, ya), (xb, yb) = layout.nodes[a], layout.nodes[b]
        points = path_points(path)
        assert points[0] == (xa, ya - height // 2 + height), (a, b, path)
        assert points[-1] == (xb, yb - height // 2), (a, b, path)
        control = last_control(path)
        assert control[0] == xb and control[1] < yb - height // 2  # the arrow points down
        assert all(p1[1] <= p2[1] for p1, p2 in pairwise(points))  # never doubles back
        for node, centre in layout.nodes.items():
            hits = [p for p in points if inside(p, centre, width, height)]
            assert not hits, f"{a} -> {b} runs through {node} at {hits[0]}"


def layout_of(
    nodes: list[str],
    edges: list[tuple[str, str]],
    sizes: tuple[int, int, int] = (WIDTH, HEIGHT, GAP_X),
) -> Layout:
    width, height, gap = sizes
    return layered_layout(nodes, edges, node_width=width, node_height=height, gap_x=gap)


# -- layered_layout ----------------------------------------------------------------------


def test_a_chain_with_a_shortcut_stands_in_one_column_and_the_shortcut_goes_round() -> None:
    nodes = ["features", "train", "predict"]
    edges = [("features", "train"), ("train", "predict"), ("features", "predict")]
    layout = layout_of(nodes, edges)
    check_layout(layout, nodes, edges)
    xs = {x for x, _ in layout.nodes.values()}
    assert len(xs) == 1  # the chain is straight
    ys = [layout.nodes[n][1] for n in nodes]
    assert ys == sorted(ys) and len(set(ys)) == 3
    # The long edge has a place of its own beside train, narrower than a node's.
    (column,) = xs
    shortcut = next(path for a, b, path in layout.edges if b == "predict" and a == "features")
    beside = [x for x, y in path_points(shortcut) if abs(y - layout.nodes["train"][1]) < HEIGHT / 2]
    assert beside and all(abs(x - column) >= WIDTH / 2 + 10 for x in beside)
    assert layout.width < 2 * WIDTH


def test_a_long_edge_runs_past_the_nodes_of_the_layers_it_crosses() -> None:
    # a -> b -> c -> d with a -> d, and wide layers between for it to weave through.
    nodes = ["a", "b", "c", "d", "b2", "b3", "c2", "c3"]
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")]
    edges += [("a", "b2"), ("a", "b3"), ("b2", "c2"), ("b3", "c3"), ("c2", "d"), ("c3", "d")]
    layout = layout_of(nodes, edges)
    check_layout(layout, nodes, edges)
    long_edge = next(path for a, b, path in layout.edges if (a, b) == ("a", "d"))
    assert long_edge.count("C") == 3 and long_edge.count("L") == 2  # a bend in each layer


def test_layers_follow_the_longest_path_and_a_source_sits_above_its_first_child() -> None:
    nodes = ["raw", "clean", "model", "params"]
    edges = [("raw", "clean"), ("clean", "model"), ("params", "model")]
    layout = layout_of(nodes, edges)
    y = {n: layout.nodes[n][1] for n in nodes}
    assert y["raw"] < y["clean"] < y["model"]
    assert y["params"] == y["clean"]  # not at the top, with a long edge down
    check_layout(layout, nodes, edges)


def test_barycentre_sweeps_uncross_edges() -> None:
    layout = layout_of(["a", "b", "c", "d"], [("a", "d"), ("b", "c")])
    x = {n: p[0] for n, p in layout.nodes.items()}
    assert (x["a"] < x["b"]) == (x["d"] < x["c"])


def test_a_node_with_no_neighbour_in_the_next_layer_keeps_a_place() -> None:
    # s is a sink in the second layer, so sorting that layer by the third finds no link
    # for it: it must keep its place (this once read the list being sorted).
    nodes = ["a", "b", "s", "c", "t", "u"]
    edges = [("a", "b"), ("a", "s"), ("b", "c"), ("t", "u"), ("u", "c")]
    layout = layout_of(nodes, edges)
    check_layout(layout, nodes, edges)
    assert layout.nodes["s"][1] == layout.nodes["b"][1]


def test_isolated_nodes_and_an_empty_graph() -> None:
    layout = layout_of(["x", "y", "z"], [])
    check_layout(layout, ["x", "y", "z"], [])
    assert len({y for _, y in layout.nodes.values()}) == 1
    empty = layout_of([], [])
    assert empty.nodes == {} and empty.edges == [] and empty.width > 0 and empty.height >= 0


def test_repeated_edges_self_loops_and_unknown_nodes_are_left_out() -> None:
    nodes = ["a", "b", "a"]
    edges = [("a", "b"), ("a", "b"), ("a", "a"), ("a", "ghost"), ("ghost", "b")]
    layout = layout_of(nodes, edges)
    assert [(a, b) for a, b, _ in layout.edges] == [("a", "b")]
    assert list(layout.nodes) == ["a", "b"] and layout.reversed == []
    check_layout(layout, ["a", "b"], edges)


def test_a_cycle_is_broken_by_drawing_one_edge_upward() -> None:
    nodes = ["a", "b", "c"]
    edges = [("a", "b"), ("b", "c"), ("c", "a")]
    layout = layout_of(nodes, edges)
    assert layout.reversed == [("c", "a")]
    y = {n: layout.nodes[n][1] for n in nodes}
    assert y["a"] < y["b"] < y["c"]
    up = next(path for a, b, path in layout.edges if (a, b) == ("c", "a"))
    points = path_points(up)
    assert points[0] == (layout.nodes["c"][0], y["c"] - HEIGHT // 2)  # leaves c's top
    assert points[-1] == (layout.nodes["a"][0], y["a"] - HEIGHT // 2 + HEIGHT)  # a's bottom
    for node, centre in layout.nodes.items():
        assert not [p for p in points if inside(p, centre)], node
    # Two edges between the same pair, one each way: both drawn.
    both = layout_of(["p", "q"], [("p", "q"), ("q", "p")])
    assert len(both.edges) == 2 and both.reversed == [("q", "p")]


def test_the_same_graph_gives_the_same_picture() -> None:
    nodes, edges = random_dag(random.Random(7), 40, 70)
    assert layout_of(nodes, edges) == layout_of(list(nodes), list(edges))


def test_a_graph_as_big_as_the_lineage_page_draws_is_laid_out_quickly() -> None:
    # 250 nodes and 400 edges, shaped like a lineage: runs that read a few of the files
    # before them (the same sources again and again) and write one or two. About 35 ms
    # on one core; the bound is loose for a busy machine, and catches a quadratic turn.
    nodes, edges = lineage_shaped(random.Random(0), 250, 400)
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        layout = layered_layout(nodes, edges)
        best = min(best, time.process_time() - start)
    assert len(layout.nodes) == len(nodes) and len(layout.edges) == len(edges)
    assert best < 0.15, f"{best * 1000:.0f} ms"


def random_dag(
    rng: random.Random, size: int, count: int
) -> tuple[list[str], list[tuple[str, str]]]:
    nodes = [f"n{k}" for k in range(size)]
    edges = set()
    for _ in range(count):
        a, b = sorted(rng.sample(range(size), 2))
        edges.add((nodes[a], nodes[b]))
    return nodes, sorted(edges)


def lineage_shaped(
    rng: random.Random, size: int, count: int
) -> tuple[list[str], list[tuple[str, str]]]:
    sources = [f"src/step{k}.py" for k in range(10)] + ["params.yaml"]
    nodes = list(sources)
    edges: list[tuple[str, str]] = []
    recent: list[str] = []
    while len(nodes) < size and len(edges) < count:
        run = f"run {len(nodes)}"
        nodes.append(run)
        for read in rng.sample(sources + recent, rng.randint(2, 4)):
            edges.append((read, run))
        for _ in range(rng.randint(1, 2)):
            out = f"out/{len(nodes)}.parquet"
            nodes.append(out)
            edges.append((run, out))
            recent = [*recent[-11:], out]
    return nodes[:size], [
        (a, b) for a, b in edges[:count] if a in nodes[:size] and b in nodes[:size]
    ]


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str]]]:
    """Up to 30 nodes, edges from an earlier node to a later one, in any order."""
    size = draw(st.integers(0, 30))
    nodes = [f"n{k}" for k in range(size)]
    pairs = st.tuples(st.integers(0, max(size - 1, 0)), st.integers(0, max(size - 1, 0)))
    raw = draw(st.lists(pairs, max_size=60)) if size > 1 else []
    edges = [(nodes[min(a, b)], nodes[max(a, b)]) for a, b in raw if a != b]
    shuffled = draw(st.permutations(nodes))
    return list(shuffled), edges


# Node sizes and gaps, odd ones among them: rounding must not bring two nodes closer.
SIZES = st.sampled_from([(WIDTH, HEIGHT, GAP_X), (181, 33, 41), (97, 46, 15)])


@settings(max_examples=150, deadline=None)
@given(dags(), SIZES)
def test_any_dag_is_drawn_with_every_node_placed_and_no_edge_through_a_node(
    graph: tuple[list[str], list[tuple[str, str]]], sizes: tuple[int, int, int]
) -> None:
    nodes, edges = graph
    layout = layout_of(nodes, edges, sizes)
    check_layout(layout, nodes, edges, sizes)
    assert layout.reversed == []
    assert layout == layout_of(nodes, edges, sizes)


# -- commit_lanes ------------------------------------------------------------------------


def test_a_linear_history_stays_in_one_lane() -> None:
    rows = commit_lanes([("c3", ["c2"]), ("c2", ["c1"]), ("c1", [])])
    assert [row.lane for row in rows] == [0, 0, 0]
    assert {row.colour for row in rows} == {PALETTE[0]}
    assert [row.below for row in rows] == [((0, 0, PALETTE[0]),)] * 2 + [()]


def test_a_branch_and_its_merge_take_a_second_lane_between_them() -> None:
    history = [("merge", ["main", "side"]), ("main", ["base"]), ("side", ["base"]), ("base", [])]
    rows = commit_lanes(history)
    assert [row.lane for row in rows] == [0, 0, 1, 0]
    assert rows[0].below == ((0, 0, PALETTE[0]), (0, 1, PALETTE[1]))  # the merge splits
    assert (1, 1, PALETTE[1]) in rows[1].below  # the side lane passes main by
    assert rows[2].colour == PALETTE[1] and (1, 0, PALETTE[0]) in rows[2].below  # joins base
    assert rows[3].below == ()


def test_an_octopus_merge_opens_a_lane_per_parent() -> None:
    history = [("octopus", ["a", "b", "c"]), ("a", ["root"]), ("b", ["root"]), ("c", ["root"])]
    rows = commit_lanes([*history, ("root", [])])
    assert [target for _, target, _ in rows[0].below] == [0, 1, 2]
    assert len({colour for _, _, colour in rows[0].below}) == 3
    assert [row.lane for row in rows] == [0, 0, 1, 2, 0]
    assert (2, 0, PALETTE[0]) in rows[3].below and rows[4].below == ()


def test_a_parent_outside_the_list_keeps_its_lane_to_the_bottom() -> None:
    rows = commit_lanes([("newest", ["older"]), ("other", ["elsewhere"])])
    assert rows[0].below == ((0, 0, PALETTE[0]),)
    assert rows[1].lane == 1
    assert sorted(rows[1].below) == [(0, 0, PALETTE[0]), (1, 1, PALETTE[1])]
