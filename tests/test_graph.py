"""GraphDrawer against real `git log --graph`: named shapes, random DAGs, grown histories."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlv.cli.graph import GraphDrawer

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")

# DAG spec: one entry per commit in creation order, each the list of its parents' indices
# (first parent first). Every commit gets its own branch so `--all` shows all of them.
Dag = Sequence[Sequence[int]]


def make_repo(path: Path, dag: Dag) -> None:
    """Create a real git repository with exactly this commit DAG (via git fast-import)."""
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    stream = []
    for i, parents in enumerate(dag):
        msg = f"c{i}"
        stream.append(f"commit refs/heads/c{i}\nmark :{i + 1}\n")
        stream.append(f"committer a <a@b> {1_700_000_000 + 60 * i} +0000\n")
        stream.append(f"data {len(msg)}\n{msg}\n")
        for k, p in enumerate(parents):
            stream.append(f"{'from' if k == 0 else 'merge'} :{p + 1}\n")
        stream.append("\n")
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"],
        input="".join(stream),
        text=True,
        check=True,
    )


def git_graph(path: Path, *extra: str, multiline: bool = False) -> list[str]:
    """`git log --graph --topo-order`, each commit's text being `@<sha> <parents>` (+2 lines)."""
    fmt = "--pretty=format:@%H %P%nsecond%nthird%n" if multiline else "--format=@%H %P"
    out = subprocess.run(
        ["git", "-C", str(path), "log", "--graph", "--topo-order", "--all", fmt, *extra],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(path)},
    ).stdout
    return [line.rstrip() for line in out.splitlines()]


def walked(lines: list[str]) -> list[tuple[str, list[str]]]:
    commits = [line.split("@", 1)[1].split() for line in lines if "@" in line]
    return [(c[0], c[1:]) for c in commits]


def draw(
    commits: list[tuple[str, list[str]]], *, multiline: bool = False, shown: bool = False
) -> list[str]:
    drawer = GraphDrawer({c for c, _ in commits} if shown else None)
    out = []
    for n, (cid, parents) in enumerate(commits):
        rows = drawer.next_commit(cid, parents, gap=multiline and n > 0)
        text = [f"@{cid} {' '.join(parents)}".rstrip()]
        out += rows.lines([*text, "second", "third"] if multiline else text)
    return out


def assert_same_as_git(path: Path, dag: Dag) -> None:
    make_repo(path, dag)
    for multiline in (False, True):
        expected = git_graph(path, multiline=multiline)
        assert draw(walked(expected), multiline=multiline) == expected


SHAPES: dict[str, Dag] = {
    "linear": [[], [0], [1], [2]],
    "feature_merged_back": [[], [0], [1], [2], [1, 3], [4]],  # --no-ff merge of a 2-commit branch
    "two_branches_merged": [[], [0], [1], [1], [2], [3], [4, 5], [6]],
    "second_parent_older": [[], [0], [0], [1], [3], [4], [5, 2], [6]],
    "fork_then_join_three_ways": [[], [0], [0], [0], [1], [4, 2], [5, 3], [6]],
    "octopus_3": [[], [0], [0], [0], [1, 2, 3], [4]],
    "octopus_4_with_side_lane": [[], [0], [0], [0], [0], [0], [1, 2, 3, 4], [6, 5]],
    "disjoint_roots": [[], [0], [], [2], [1, 3], [], [5]],
    "criss_cross": [[], [0], [0], [1, 2], [2, 1], [3], [4]],
    "merge_into_left_lane": [[], [0], [0], [1], [2], [3, 4], [2], [5, 6]],
    "wide_collapse": [[], [0], [0], [0], [0], [1], [2], [3], [4], [5, 6, 7, 8], [1]],
    # The smallest histories that show each rule of the drawer (see its module docstring).
    "skewed_merge_steps_over_a_lane": [[], [0], [1, 0], [1, 0]],
    "lean_after_a_widening_fan": [[], [0], [1, 0], [2, 1, 0]],
    "first_widening_row_leans": [[], [0], [1, 0], [0, 1, 2], [3, 0, 1, 2]],
    "last_parent_meets_the_next_lane": [[], [0], [1, 0], [2, 0]],
    "second_parent_meets_the_lane_on_the_left": [[], [0], [], [2, 1, 0], [2, 1]],
    "collapse_crosses_lanes_along_underscores": [[], [0], [1], [0, 1, 2], [2, 1]],
    "skewed_first_parent_crosses_lanes": [[], [0], [0, 1], [0, 2], [0, 1], [4, 2]],
    "blank_line_before_a_skewed_octopus": [[], [0], [0, 1], [2, 1, 0], [3, 1], [4], [2, 4], []],
    "edge_follows_the_lead_home": [
        [], [0], [1], [1, 2], [], [0, 2, 1, 3, 4], [2, 1, 5, 3, 4], [1, 3], [7, 3], [8], [0, 6]
    ],
    "no_slash_after_a_skewed_fan": [
        [], [], [1], [2, 1], [3], [2, 3], [5], [0, 1, 2, 5, 6], [7], [8], [9], [10], [10], [12],
        [10], [8],
    ],
}  # fmt: skip


@needs_git
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_matches_git_log_graph(tmp_path: Path, shape: str) -> None:
    assert_same_as_git(tmp_path, SHAPES[shape])


@needs_git
def test_matches_git_for_porcelain_feature_branch(tmp_path: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b"}
    env |= {"GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b", "HOME": str(tmp_path)}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, env=env)

    git("init", "-q", "-b", "main")
    for msg in ("A", "B"):
        git("commit", "-q", "--allow-empty", "-m", msg)
    git("checkout", "-q", "-b", "feature")
    for msg in ("F1", "F2"):
        git("commit", "-q", "--allow-empty", "-m", msg)
    git("checkout", "-q", "main")
    git("commit", "-q", "--allow-empty", "-m", "C")
    git("merge", "-q", "--no-ff", "feature", "-m", "M")
    git("commit", "-q", "--allow-empty", "-m", "D")
    expected = git_graph(tmp_path)
    assert [line.split("@")[0].rstrip() for line in expected] == [
        "*", "*", "|\\", "| *", "| *", "* |", "|/", "*", "*"
    ]  # fmt: skip
    assert draw(walked(expected)) == expected


@needs_git
def test_history_cut_by_max_count_leaves_lanes_open(tmp_path: Path) -> None:
    make_repo(tmp_path, SHAPES["two_branches_merged"])
    expected = git_graph(tmp_path, "-n", "4")
    assert draw(walked(expected)) == expected


@needs_git
def test_parents_outside_the_walk_get_no_lane(tmp_path: Path) -> None:
    # --no-merges hides merges; their children's lanes to them must not be drawn.
    make_repo(tmp_path, SHAPES["two_branches_merged"])
    expected = git_graph(tmp_path, "--no-merges")
    assert draw(walked(expected), shown=True) == expected


def test_worked_example() -> None:
    drawer = GraphDrawer()
    walk = [("M", ["C", "F"]), ("F", ["B"]), ("C", ["B"]), ("B", [])]
    lines = [line for cid, ps in walk for line in drawer.next_commit(cid, ps).lines([cid])]
    assert lines == ["*   M", "|\\", "| * F", "* | C", "|/", "* B"]


def test_multiline_text_uses_connector_rows_then_padding() -> None:
    drawer = GraphDrawer()
    rows = drawer.next_commit("M", ["A", "B"])
    assert rows.lines(["M", "Merge: A B", "", "    msg"]) == [
        "*   M", "|\\  Merge: A B", "| |", "| |     msg"
    ]  # fmt: skip
    rows = drawer.next_commit("B", ["A"], gap=True)
    assert rows.before == ["| | "] and rows.commit == "| * " and rows.after == ["|/  "]
    assert rows.lines([]) == ["| |", "| *", "|/"]


# Random DAGs: commit i may have parents among 0..i-1 (0 to 4 of them).
dags = st.integers(min_value=1, max_value=14).flatmap(
    lambda n: st.tuples(
        *[
            st.lists(st.integers(0, i - 1), max_size=min(i, 4), unique=True) if i else st.just([])
            for i in range(n)
        ]
    )
)


def topo_walk(dag: Dag) -> list[tuple[str, list[str]]]:
    """Newest first; children always before parents."""
    return [(f"c{i}", [f"c{p}" for p in dag[i]]) for i in reversed(range(len(dag)))]


@settings(max_examples=300, deadline=None)
@given(dags, st.booleans())
def test_properties_on_random_dags(dag: Dag, gap: bool) -> None:
    drawer = GraphDrawer()
    open_lanes: list[str] = []  # commits some shown child still expects
    for n, (cid, parents) in enumerate(topo_walk(dag)):
        rows = drawer.next_commit(cid, parents, gap=gap and n > 0)
        assert "*" in rows.commit and all("*" not in r for r in rows.before + rows.after)
        assert rows.commit.count("*") == 1 and "*" not in rows.padding
        glyphs = rows.commit.replace("-", "").replace(".", "").split()
        assert len(glyphs) == len(open_lanes) + (cid not in open_lanes)
        widths = {len(r) for r in [*rows.before, rows.commit, *rows.after, rows.padding]}
        assert min(widths) == len(rows.padding)  # rows padded alike, so text lines up
        text = ["a", "b", "c"][: n % 4]
        lines = rows.lines(text)
        assert len(lines) == len(rows.before) + max(len(text), 1 + len(rows.after))
        open_lanes = [c for c in open_lanes if c != cid]
        open_lanes += [p for p in dict.fromkeys(parents) if p not in open_lanes]
        assert rows.padding.split() == ["|"] * len(open_lanes)


@needs_git
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(dag=dags)
def test_random_dags_match_git(tmp_path_factory: pytest.TempPathFactory, dag: Dag) -> None:
    assert_same_as_git(tmp_path_factory.mktemp("dag"), dag)


STEPS = ("run", "branch", "root", "merge", "octopus", "criss_cross", "fan_out")


@st.composite
def histories(draw: st.DrawFn) -> list[list[int]]:
    """A DAG grown by the steps histories take (runs, branches, roots, merges, octopus merges of
    3-4 parents, criss-cross merges, many branches off one commit: many lanes at once)."""
    dag: list[list[int]] = [[]]

    def some(n: int) -> list[int]:  # n distinct commits made so far (fewer if there are fewer)
        n = min(n, len(dag))
        return draw(st.lists(st.integers(0, len(dag) - 1), min_size=n, max_size=n, unique=True))

    for step in draw(st.lists(st.sampled_from(STEPS), min_size=1, max_size=8)):
        if step == "run":
            tip = some(1)[0]
            for _ in range(draw(st.integers(1, 3))):
                dag.append([tip])
                tip = len(dag) - 1
        elif step == "branch":
            dag.append(some(1))
        elif step == "root":
            dag.append([])
        elif step == "merge":
            dag.append(some(2))
        elif step == "octopus":
            dag.append(some(draw(st.integers(3, 4))))
        elif step == "criss_cross":
            pair = some(2)
            dag += [pair, pair[::-1]]
        else:
            dag += [some(1)] * draw(st.integers(2, 4))
    return dag


@needs_git
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(dag=histories())
def test_grown_histories_match_git(tmp_path_factory: pytest.TempPathFactory, dag: Dag) -> None:
    path = tmp_path_factory.mktemp("history")
    assert_same_as_git(path, dag)
    without_merges = git_graph(path, "--no-merges")
    assert draw(walked(without_merges), shown=True) == without_merges
    cut = git_graph(path, "-n", str(len(dag) // 2 + 1), multiline=True)
    assert draw(walked(cut), multiline=True) == cut
