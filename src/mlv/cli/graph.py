r"""ASCII commit graph for ``mlv log --graph``, drawn row for row the way ``git log --graph`` is.

Feed `GraphDrawer.next_commit` the commits newest first in topological order (every child before
its parents, as ``git log --graph --topo-order`` walks them), parents first parent first. Each call
returns a `GraphRows`; ``rows.lines(text)`` puts the graph in front of the commit's text lines::

    drawer = GraphDrawer()
    for n, (cid, parents, text) in enumerate(walk):
        for line in drawer.next_commit(cid, parents, gap=multi_line and n > 0).lines(text):
            print(line)

Worked example, --oneline (one text line per commit), walk M(C, F), F(B), C(B), B():

    call                       rows.commit  rows.after   printed
    next_commit("M", [C, F])   "*   "       ["|\  "]     *   M merge
                                                         |\
    next_commit("F", [B])      "| * "       []           | * F feature
    next_commit("C", [B])      "* | "       ["|/  "]     * | C main
                                                         |/
    next_commit("B", [])       "* "         []           * B base

With several text lines (the multi-line format) line 1 goes on the commit row, the next ones on
the connector rows in ``rows.after`` (``|\``, ``|/``, ``| |/`` ...) and then on ``rows.padding``
(``| | ``); connector rows left over are printed bare, as git does. ``rows.before`` holds rows
printed bare before the commit row: an octopus merge's widening rows and, with ``gap=True``, the
row of the blank line git prints between two commits of a multi-line format.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass

# What the last printed row was; git draws some edges differently right after a merge/collapse.
_PADDING, _PRE_COMMIT, _COMMIT, _POST_MERGE, _COLLAPSING = range(5)


@dataclass(frozen=True)
class GraphRows:
    """The graph rows of one commit; every row is padded to the same width so text aligns."""

    before: list[str]  # printed alone before the commit row (gap row, octopus widening)
    commit: str  # the row holding the commit's `*`
    after: list[str]  # connector rows following the commit row
    padding: str  # prefix for text lines once `after` is used up

    def lines(self, text: Sequence[str]) -> list[str]:
        """Full output for a commit whose text is `text`, one graph prefix per line."""
        out = [row.rstrip() for row in self.before]
        rows = [self.commit, *self.after]
        texts = list(text) or [""]
        for k, line in enumerate(texts):
            prefix = rows[k] if k < len(rows) else self.padding
            out.append(prefix + line if line else prefix.rstrip())
        out += [row.rstrip() for row in rows[len(texts) :]]
        return out


class GraphDrawer:
    """Keeps the lanes (commits still expected below) between calls to `next_commit`."""

    def __init__(self, shown: Container[str] | None = None) -> None:
        # Parents outside `shown` get no lane (like git's uninteresting parents); None: all do.
        # A lane to a parent that never arrives just stops when the output ends, as in git.
        self._shown = shown
        self._columns: list[str] = []
        self._state = _PADDING
        self._index = 0  # column of the previous commit
        self._edges = 0  # edges the previous merge added
        self._mapping: list[int] = []  # last collapsing row of the previous commit

    def next_commit(
        self, commit_id: str, parents: Sequence[str], *, gap: bool = False
    ) -> GraphRows:
        """Rows for the next commit; `parents` first parent first, `gap`: see module docstring."""
        wanted = list(dict.fromkeys(p for p in parents if self._shown is None or p in self._shown))
        n = len(wanted)
        cols = self._columns
        idx = cols.index(commit_id) if commit_id in cols else len(cols)
        lanes = cols if idx < len(cols) else [*cols, commit_id]

        # New lanes, and `mapping`: for each character position of the commit row, the new lane
        # the edge drawn there leads to (-1: blank). Lanes only ever move left afterwards.
        new: list[str] = []
        mapping = [-1] * (2 * (len(lanes) + n) + 2)
        width, layout, edges = 0, -1, 0
        for lane in lanes:
            for p in wanted if lane == commit_id else [lane]:
                if p not in new:
                    new.append(p)
                target = new.index(p)
                if lane == commit_id and n > 1 and layout == -1:
                    # First parent of a merge: skew the merge left if that parent is to the left.
                    dist = idx - target
                    layout = 0 if dist > 0 else 1
                    edges = n + layout - 2
                    pos = width + (layout - 1) * (2 * dist - 3 if dist > 1 else 1)
                    width += 2 * layout
                elif edges > 0 and target == mapping[width - 2]:
                    pos, edges = width - 2, -1  # joins the merge's last edge at once: `|\|`
                else:
                    pos, width = width, width + 2
                mapping[pos] = target
            if lane == commit_id and n == 0:
                width += 2
        while len(mapping) > 1 and mapping[-1] < 0:
            mapping.pop()

        def pad(row: str) -> str:
            return row.ljust(width)

        prev_state, before = self._state, []
        dashed = n + layout - 3
        widen = n >= 3 and idx < len(cols) - 1 and dashed > 0
        if gap and not widen:  # else git uses the first widening row for the gap
            wide = " " * (2 * n - 4 if n > 2 else 1)
            before.append(pad("".join(f"|{wide if c == commit_id else ' '}" for c in cols)))
            prev_state = _PADDING
        if widen:
            # Octopus merge with lanes to its right: push those lanes out to make room.
            for r in range(2 * dashed):
                row = ""
                for i, c in enumerate(cols):
                    if c == commit_id:
                        row += "|" + " " * r
                    elif i > idx and (r > 0 or (prev_state == _POST_MERGE and self._index < i)):
                        row += "\\"
                    else:
                        row += "|"
                    row += " "
                before.append(pad(row))
                prev_state = _PRE_COMMIT

        row = ""
        for i, c in enumerate(lanes):
            if c == commit_id:
                row += "*" + "".join("-" + ("." if d == dashed - 1 else "-") for d in range(dashed))
            elif i > idx and edges > 1:
                row += "\\"
            elif i > idx and edges == 1:
                after_merge = prev_state == _POST_MERGE and self._edges > 0 and self._index < i
                row += "\\" if after_merge else "|"
            elif (
                prev_state == _COLLAPSING
                and _at(self._mapping, 2 * i + 1) == i
                and mapping[2 * i] < i
            ):
                row += "/"  # the lane was already moving left on the row above
            else:
                row += "|"
            row += " "
        commit_row = pad(row)
        state = _COMMIT

        after = []
        if n > 1:
            after.append(pad(_post_merge_row(lanes, commit_id, idx, wanted, layout, edges)))
            state = _POST_MERGE
        while not _settled(mapping):
            row, self._mapping = _collapse(mapping)
            after.append(pad(row))
            state = _COLLAPSING

        padding = pad("| " * len(new))
        self._columns, self._state, self._index, self._edges = new, state, idx, edges
        return GraphRows(before, commit_row, after, padding)


def _at(mapping: list[int], i: int) -> int:
    return mapping[i] if 0 <= i < len(mapping) else -1


def _settled(mapping: list[int]) -> bool:
    # An edge one position right of its lane is drawn as `/`, which reaches the lane already.
    return all(t < 0 or t == i // 2 for i, t in enumerate(mapping))


def _post_merge_row(
    lanes: list[str], commit_id: str, idx: int, parents: list[str], layout: int, edges: int
) -> str:
    """The row right under a merge: one edge per parent (`|\\`, `|/|`, `|\\ \\` ...)."""
    row, seen, first_seen = "", False, False
    for i, lane in enumerate(lanes):
        if lane == commit_id:
            seen = True
            k = layout  # the first parent's edge: `/` if skewed left, else `|`, then `\`s
            for j in range(len(parents)):
                row += "/|\\"[k]
                if k < 2:
                    k += 1
                elif edges > 0 or j < len(parents) - 1:
                    row += " "
            if edges == 0:
                row += " "
        elif seen:
            row += ("\\" if edges > 0 else "|") + " "
        else:
            row += "|"
            if layout != 0 or i != idx - 1:
                # Lanes between the merge and its first parent's lane carry the `_` edge.
                row += "_" if first_seen else " "
        first_seen = first_seen or lane == parents[0]
    return row


def _collapse(mapping: list[int]) -> tuple[str, list[int]]:
    """Move every edge one step toward its lane; one edge may travel further as `_`s.

    Updates `mapping` in place, returns the row and the mapping as it stood before the `_`
    segments were dropped (which the next commit row consults).
    """
    old = mapping[:]
    mapping[:] = [-1] * len(old)
    h_edge = h_target = -1
    for i, target in enumerate(old):
        if target < 0:
            continue
        if 2 * target == i:
            mapping[i] = target
        elif mapping[i - 1] == target:
            continue  # merges into the edge just left of it: same lane
        else:
            step = 1 if mapping[i - 1] < 0 else 2  # 2: hop over an edge going elsewhere
            mapping[i - step] = target
            if h_edge == -1:
                h_edge, h_target = i + 1 - step, target
                for j in range(2 * target + 3, i - 2, 2):
                    mapping[j] = target
    snapshot = mapping[:]
    if mapping[-1] < 0:
        mapping.pop()
    row, used_h = "", False
    for i, target in enumerate(mapping):
        if target < 0:
            row += " "
        elif 2 * target == i:
            row += "|"
        elif target == h_target and i != h_edge - 1:
            if i != 2 * target + 3:
                mapping[i] = -1  # only the leftmost `_` continues on the next row
            used_h = True
            row += "_"
        else:
            if used_h and i < h_edge:
                mapping[i] = -1
            row += "/"
    return row, snapshot
