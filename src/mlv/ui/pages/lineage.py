"""Lineage: what made an output (upstream) or what used it (downstream), drawn as a DAG."""

from __future__ import annotations

from dataclasses import dataclass, field
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


def _drawing(found: Lineage) -> Layout | None:
    """The graph laid out, or None when it has a cycle (a run that wrote back what it
    read): the table shows that case."""
    layout = layered_layout(
        list(found.nodes), found.edges, node_width=NODE_WIDTH, node_height=NODE_HEIGHT
    )
    return None if layout.reversed else layout


def _lineage_url(path: str, rev: str, direction: str, all_history: bool) -> str:
    query = {"path": path, "rev": rev, "direction": direction}
    if all_history:
        query["all"] = "1"
    return "/lineage?" + urlencode(query)


def _shorten(text: str, width: int) -> str:
    """The end of a long path matters most (the file's name): cut from the front."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]


routes = [Route("/lineage", lineage_page)]
