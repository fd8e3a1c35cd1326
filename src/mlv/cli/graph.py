r"""ASCII commit graph for ``mlv log --graph``, the same characters ``git log --graph`` prints.

Feed `GraphDrawer.next_commit` the commits newest first, every child before its parents (the order
of ``git log --topo-order``), parents first parent first, and put each commit's text lines through
the `GraphRows` it returns::

    drawer = GraphDrawer()
    for n, (cid, parents, text) in enumerate(walk):
        print("\n".join(drawer.next_commit(cid, parents, gap=multi_line and n > 0).lines(text)))

The picture. The graph is a row of *lanes*, one per commit that a row above still waits for; lane
``k`` sits in character column ``2k`` and the odd columns between lanes hold the slanted strokes.
A commit's lane (a new one at the right end if nobody waited for it) is replaced by those of its
parents that have no lane yet; a lane waiting for a commit that already has one is bound for that
one, so the lanes below are the lanes above with repeats dropped. A commit prints, in this order:

* **widening rows**, only for a merge with lanes on its right and three or more parents leaving
  at or right of its ``*`` (see the fan row): those lanes step one character right per row
  (``\``), two rows per such parent beyond the second, until the fan below has room. The blank
  line between commits, if any, is the first of them.
* **the commit row**: ``|`` for each lane and ``*`` for the commit; with three or more parents
  leaving at or right of it, ``-`` runs to a ``.`` above the fan's last edge (``*-.`` for three,
  ``*---.`` for four, two more ``-`` for each further one).
* **the fan row** of a merge: the first parent goes straight down (``|``) and each further parent
  leaves at ``\`` for a lane of its own to the right; the lanes right of the merge lean ``\`` to
  make room. A merge whose first parent already has a lane on its left is drawn skewed: that edge
  leaves at ``/`` (along ``_`` over the lanes it must cross) and the second parent goes straight
  down. The last parent meets the lane just right of the merge at once when that lane is its own
  (``\|``), and the second parent of a skewed merge does the same with the lane just left of it;
  either way the lanes on the right move one lane less.
* **collapse rows**, while some edge is more than one character right of its lane. From left to
  right, each edge not yet in its lane moves one character left and is drawn ``/`` there, or two
  characters when it passes a lane standing in its place; reaching an edge bound for its own lane,
  it joins it. The first edge of a row that moves onto a free character leads: with lanes still
  to cross, it crosses them all in this row along ``_`` and comes down with one more ``/`` on the
  next row; a later edge of that row bound for the lead's lane is drawn ``_`` and goes at once to
  one character from home. An edge one character from home arrives on whatever row comes next.

Some strokes depend on the row above, as in git. A lane that arrives from a collapse on the next
commit row and must move left after that commit is drawn ``/`` there. Right after a merge's fan
row, lanes right of that merge lean ``\`` on the first widening row of an octopus, and on the
commit row of a merge that pushes them right if that fan moved them one lane per parent. Before
a skewed merge of three parents, the blank line between commits shows the lanes right of it one
character further right. All rows of one commit are padded to one width, that of its widest
moment, so the text after them lines up. tests/test_graph.py holds these rules to real
``git log --graph`` output on random histories.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass

_Edge = tuple[int, int]  # (character column in the last row drawn, lane it is bound for)


@dataclass(frozen=True)
class GraphRows:
    """The graph rows of one commit, all of one width."""

    before: list[str]  # printed bare before the commit row: the blank line, widening rows
    commit: str  # the row of the commit's `*`; carries the first text line
    after: list[str]  # fan and collapse rows; carry the next text lines
    padding: str  # prefix of text lines left once `after` is used up

    def lines(self, text: Sequence[str]) -> list[str]:
        """The output lines of a commit whose text is `text`, a graph prefix on each."""
        rows = [self.commit, *self.after]
        texts = list(text) or [""]
        prefixes = (rows + [self.padding] * len(texts))[: len(texts)]
        out = [row.rstrip() for row in self.before]
        out += [pre + t if t else pre.rstrip() for pre, t in zip(prefixes, texts, strict=True)]
        return out + [row.rstrip() for row in rows[len(texts) :]]


@dataclass(frozen=True)
class _Shape:
    """How the edges of one commit leave it."""

    col: int
    fan: list[str]  # parents leaving at or right of the `*`, straight one first
    skewed: bool  # the first parent leaves to the left
    lift: int  # how far the commit row moves the lanes on its right
    spread: int  # how far the fan row moves them
    widened: bool  # they move one lane per parent beyond the first
    shove: int  # how far left of their places the fan's edges start down

    @property
    def merge(self) -> bool:
        return self.skewed or len(self.fan) > 1


def _shape(lanes: list[str], col: int, wanted: list[str], goal: dict[str, int]) -> _Shape:
    skewed = len(wanted) > 1 and goal[wanted[0]] < col
    fan = wanted[1:] if skewed else wanted
    m = len(fan)
    if m < 2:
        return _Shape(col, fan, skewed, 0, 0, False, 0)
    joins_right = col + 1 < len(lanes) and fan[-1] == lanes[col + 1]
    joins_left = skewed and goal[fan[0]] == col - 1
    met = joins_right or joins_left
    return _Shape(col, fan, skewed, 2 * (m - 2), 2 * (m - 1 - met), not met, 2 * joins_left)


def _draw(cells: dict[int, str], width: int) -> str:
    return "".join(cells.get(x, " ") for x in range(width))


def _collapse_row(edges: list[_Edge]) -> tuple[dict[int, str], list[_Edge]]:
    """One collapse row: the strokes it draws and where each edge is after it."""
    cells: dict[int, str] = {}
    taken: dict[int, int] = {}  # character column -> lane of the edge now there
    lead: int | None = None  # lane of the first edge that moved onto a free character
    moved: list[_Edge] = []
    for x, lane in sorted(edges):
        home = new = 2 * lane
        if x == home:
            cells[x] = "|"
        else:
            new = max(x - 1, home)
            if taken.get(new, lane) != lane:
                new = x - 2  # over a lane standing in its place
            if new in taken:
                pass  # joins an edge bound for the same lane
            elif lane == lead and new != home:
                cells[new] = "_"
                new = home + 1
            else:
                cells[new] = "|" if new == home else "/"
                if lead is None and new - 2 >= home + 3:
                    cells.update((y, "_") for y in range(home + 3, new - 1, 2))
                    new = home + 3
                lead = lane if lead is None else lead
        taken[new] = lane
        moved.append((new, lane))
    return cells, sorted(set(moved))


class GraphDrawer:
    """Keeps the lanes, and what the last row drawn left in motion, from commit to commit."""

    def __init__(self, shown: Container[str] | None = None) -> None:
        # Parents outside `shown` get no lane (None: all do); a lane whose commit never comes
        # just stops where the output ends, as in git.
        self._shown = shown
        self._lanes: list[str] = []
        self._arriving: set[int] = set()  # lanes an edge reaches from the right on the next row
        self._fanned: tuple[int, bool] | None = None  # last row: fan row of (column, widened)

    def next_commit(
        self, commit_id: str, parents: Sequence[str], *, gap: bool = False
    ) -> GraphRows:
        """The rows of the next commit; `gap`: a blank line goes before it."""
        wanted = list(dict.fromkeys(p for p in parents if self._shown is None or p in self._shown))
        lanes = self._lanes + ([] if commit_id in self._lanes else [commit_id])
        col = lanes.index(commit_id)
        below: list[str] = []
        for k, lane in enumerate(lanes):
            below += [c for c in (wanted if k == col else [lane]) if c not in below]
        goal = {c: k for k, c in enumerate(below)}
        shape = _shape(lanes, col, wanted, goal)
        fan_row, edges = self._fan(shape, lanes, wanted, goal)
        width = 2 + max([2 * len(lanes) - 2] + [x for x, _ in edges])
        before = self._before(shape, lanes, gap, width)
        commit = self._commit_row(shape, lanes, goal, gap, width)
        after = [_draw(fan_row, width)] if shape.merge else []
        while any(x > 2 * lane + 1 for x, lane in edges):
            cells, edges = _collapse_row(edges)
            after.append(_draw(cells, width))
        collapsed = len(after) > shape.merge
        self._arriving = {lane for x, lane in edges if x == 2 * lane + 1} if collapsed else set()
        self._fanned = (col, shape.widened) if shape.merge and not collapsed else None
        self._lanes = below
        padding = _draw({2 * k: "|" for k in goal.values()}, width)
        return GraphRows(before, commit, after, padding)

    @staticmethod
    def _fan(
        shape: _Shape, lanes: list[str], wanted: list[str], goal: dict[str, int]
    ) -> tuple[dict[int, str], list[_Edge]]:
        """The fan row of a merge, and where every edge starts its way down from the commit."""
        col, p, right = shape.col, 2 * shape.col, range(shape.col + 1, len(lanes))
        cells = {2 * k: "|" for k in range(col)}
        edges = [(2 * k, goal[lanes[k]]) for k in range(col)]
        edges += [(2 * k + shape.spread, goal[lanes[k]]) for k in right]
        if not shape.merge:
            return cells, sorted(set(edges + [(p, goal[c]) for c in wanted]))
        if shape.skewed:
            home, start = 2 * goal[wanted[0]], p - 1
            cells[start] = "/"
            if start - 2 >= home + 3:
                start = home + 3
                cells.update((y, "_") for y in range(start, p - 2, 2))
            edges.append((start, goal[wanted[0]]))
        for j, c in enumerate(shape.fan):
            cells[p + 2 * j - (j > 0)] = "\\" if j else "|"
            edges.append((p + 2 * j - shape.shove, goal[c]))
        for k in right:
            leans = shape.spread > shape.lift
            cells[2 * k + shape.lift + leans] = "\\" if leans else "|"
        return cells, sorted(set(edges))

    def _before(self, shape: _Shape, lanes: list[str], gap: bool, width: int) -> list[str]:
        """The blank line's row and the widening rows, printed before the commit row."""
        col, right = shape.col, range(shape.col + 1, len(lanes))
        widening = shape.lift if right else 0
        rows = []
        for j in range(widening):
            cells = {2 * k: "|" for k in range(col + 1)}
            for k in right:
                leans = j > 0 or (self._fanned is not None and k > self._fanned[0])
                cells[2 * k + j] = "\\" if leans else "|"
            rows.append(_draw(cells, width))
        if gap and not widening:
            nudge = int(shape.skewed and len(shape.fan) == 2)
            cells = {2 * k + nudge * (k > col): "|" for k in range(len(self._lanes))}
            rows.append(_draw(cells, width))
        return rows

    def _commit_row(
        self, shape: _Shape, lanes: list[str], goal: dict[str, int], gap: bool, width: int
    ) -> str:
        col, p, lift = shape.col, 2 * shape.col, shape.lift
        widening = bool(lift) and col + 1 < len(lanes)
        # A blank line or widening rows come between: the lanes above are at rest again.
        arriving = set() if gap or widening else self._arriving
        fanned = None if gap or widening else self._fanned
        cells = {2 * k: "|" for k in range(col)}
        cells[p] = "*"
        if lift:
            cells.update((x, "-") for x in range(p + 1, p + lift))
            cells[p + lift] = "."
        for k in range(col + 1, len(lanes)):
            stroke = "|"
            if widening:
                stroke = "\\" if shape.spread > lift else "|"
            elif shape.spread:
                if fanned is not None and fanned[1] and k > fanned[0]:
                    stroke = "\\"
            elif k in arriving and goal[lanes[k]] < k:
                stroke = "/"
            cells[2 * k + lift] = stroke
        return _draw(cells, width)
