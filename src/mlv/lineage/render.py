"""Lineage as text: an indented tree, a Graphviz digraph, a Mermaid flowchart, or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from mlv.errors import InvalidArgumentError
from mlv.lineage.graph import UPSTREAM, ArtifactNode, Lineage, Node, RunNode
from mlv.lineage.index import CommitInfo

FORMATS = ("text", "dot", "mermaid", "json")

# (text, style) -> text, for every piece of the text format ("" for plain text). The CLI
# passes one that colours (and escapes) on a terminal; the default leaves text as it is.
Paint = Callable[[str, str], str]

SHORT = 12


def _plain(text: str, style: str) -> str:
    return text


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


def render(lineage: Lineage, fmt: str = "text", paint: Paint | None = None) -> str:
    """The lineage in one of ``FORMATS``; ``paint`` styles the text format only."""
    check_format(fmt)
    if fmt == "text":
        return to_text(lineage, paint)
    if fmt == "dot":
        return to_dot(lineage)
    if fmt == "mermaid":
        return to_mermaid(lineage)
    return json.dumps(lineage.to_json(), indent=2, sort_keys=True)


def when(seconds: int, tz_offset: int = 0) -> str:
    """A moment as ``2025-01-31 14:05 +0100``, in the given offset from UTC (minutes)."""
    zone = timezone(timedelta(minutes=tz_offset)) if tz_offset else UTC
    moment = datetime.fromtimestamp(seconds, UTC).astimezone(zone)
    sign = "+" if tz_offset >= 0 else "-"
    hours, minutes = divmod(abs(tz_offset), 60)
    return moment.strftime("%Y-%m-%d %H:%M ") + f"{sign}{hours:02d}{minutes:02d}"


def size_text(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _value(value: object) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


# -- text ----------------------------------------------------------------------------


def to_text(lineage: Lineage, paint: Paint | None = None) -> str:
    """An indented tree from the root, each node once; repeats point back to the first."""
    paint = paint or _plain
    lines: list[str] = []
    shown: set[str] = set()

    def visit(key: str, lead: str, branch: str, last: bool) -> None:
        node = lineage.nodes[key]
        head, *rest = _describe(node, lineage, paint)
        repeat = key in shown
        if repeat:
            head += paint("  (shown above)", "dim")
            rest = []
        lines.append(paint(lead + branch, "dim") + head)
        inner = lead + ("" if not branch else "   " if last else "│  ")
        children = [] if repeat else lineage.children(key)
        bar = "│  " if children else "   "
        lines.extend(paint(inner + bar, "dim") + line for line in rest)
        shown.add(key)
        for n, child in enumerate(children):
            final = n == len(children) - 1
            visit(child, inner, "└─ " if final else "├─ ", final)

    visit(lineage.root, "", "", True)
    return "\n".join(lines)


def _describe(node: Node, lineage: Lineage, paint: Paint) -> list[str]:
    """The first line of a node, then its detail lines."""
    if isinstance(node, RunNode):
        return _describe_run(node, paint)
    return _describe_artifact(node, lineage, paint)


def _describe_artifact(node: ArtifactNode, lineage: Lineage, paint: Paint) -> list[str]:
    kind = "folder" if node.kind == "dir" else node.kind
    head = (
        paint(node.path, "bold")
        + paint("  ", "")
        + paint(node.id[:SHORT], "yellow")
        + paint(f"  {kind}, {size_text(node.size)}", "dim")
    )
    lines = [head]
    # An output's commit is its run's, shown on the run: said once is enough.
    writers = [lineage.nodes[k] for k in lineage.graph.predecessors(node.key)]
    same = any(isinstance(w, RunNode) and w.commit == node.commit for w in writers)
    if node.commit is not None and (node.key == lineage.root or not same):
        lines.append(_commit_line(node.commit, paint))
    if node.source and lineage.direction == UPSTREAM:
        lines.append(paint("source: not produced by a recorded run", "green"))
    elif node.source and node.key == lineage.root:
        lines.append(paint("not produced by a recorded run", "dim"))
    if (
        node.key == lineage.root
        and lineage.direction != UPSTREAM
        and not lineage.children(node.key)
    ):
        lines.append(paint("not read by any recorded run", "dim"))
    if node.more:
        lines.append(paint("… more beyond --depth", "dim"))
    return lines


def _commit_line(c: CommitInfo, paint: Paint) -> str:
    return (
        paint("commit ", "")
        + paint(c.id[:SHORT], "yellow")
        + paint(f" {when(c.time, c.tz_offset)} by {c.author}: {c.summary}", "")
    )


def _describe_run(node: RunNode, paint: Paint) -> list[str]:
    run = node.run
    tz = node.commit.tz_offset if node.commit else 0
    where = f"  (in {run.wdir})" if run.wdir else ""
    lines = [
        paint("run ", "cyan")
        + paint(run.name, "bold cyan")
        + paint("  ", "")
        + paint(node.id[:SHORT], "yellow")
        + paint(f"  $ {run.cmd}{where}", ""),
        paint(
            f"by {run.user} on {run.host}, {when(run.started, tz)}, {run.duration_ms / 1000:.1f} s",
            "",
        ),
    ]
    if node.commit is not None:
        lines.append(_commit_line(node.commit, paint))
    for path, use in run.params.items():
        values = " ".join(f"{k}={_value(v)}" for k, v in use.values.items())
        lines.append(paint(f"params {path}: {values}", ""))
    for path, metrics in run.metrics.items():
        values = " ".join(f"{k}={_value(v)}" for k, v in metrics.items())
        lines.append(paint(f"metrics {path}: {values}", ""))
    return lines


# -- graphs --------------------------------------------------------------------------


def _short_names(lineage: Lineage) -> dict[str, str]:
    """Graph node names that any tool accepts: n0, n1, … in the order nodes were found."""
    return {key: f"n{n}" for n, key in enumerate(lineage.nodes)}


def _label_lines(node: Node) -> list[str]:
    if isinstance(node, RunNode):
        lines = [f"{node.run.name} ({node.id[:8]})", node.run.cmd]
        if node.commit:
            lines.append(f"{node.commit.author.split(' <')[0]}, {when(node.commit.time)[:10]}")
        return lines
    lines = [node.path, node.id[:8]]
    if node.source:
        lines.append("source")
    return lines


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(lineage: Lineage) -> str:
    """A Graphviz digraph: artifacts as notes, runs as rounded boxes, edges with the data."""
    names = _short_names(lineage)
    out = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=10];',
    ]
    for key, node in lineage.nodes.items():
        label = _dot_string("\n".join(_label_lines(node)))
        if isinstance(node, RunNode):
            shape = "shape=box, style=rounded"
        else:
            shape = "shape=note" + (", style=filled, fillcolor=lightgrey" if node.source else "")
        root = ", penwidth=2" if key == lineage.root else ""
        out.append(f"  {names[key]} [{shape}{root}, label={label}];")
    for a, b in lineage.edges:
        out.append(f"  {names[a]} -> {names[b]};")
    out.append("}")
    return "\n".join(out)


def _mermaid_text(text: str) -> str:
    # Mermaid reads entity codes inside quoted labels; quotes and angle brackets must be.
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def to_mermaid(lineage: Lineage) -> str:
    """A Mermaid flowchart, left to right: artifacts as boxes, runs as rounded ones."""
    names = _short_names(lineage)
    out = ["flowchart LR"]
    for key, node in lineage.nodes.items():
        label = "<br/>".join(_mermaid_text(line) for line in _label_lines(node))
        if isinstance(node, RunNode):
            out.append(f'  {names[key]}(["{label}"])')
        else:
            out.append(f'  {names[key]}["{label}"]')
    for a, b in lineage.edges:
        out.append(f"  {names[a]} --> {names[b]}")
    out.append(f"  classDef root stroke-width:3px\n  class {names[lineage.root]} root")
    return "\n".join(out)
