"""The lineage and run pages of ``mlv ui``: a graph of what made or used an output, and one run."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from mlv import Repo
from mlv.lineage.graph import ArtifactNode, RunNode
from ui_support import client

NODE_ROW = re.compile(
    r"<tr(?: class=\"focus\")?>\s*<td>(file|folder|run)[^<]*(?:<span[^>]*>[^<]*</span>[^<]*)*</td>"
    r'\s*<td><a href="([^"]+)">([^<]+)</a></td>\s*<td class="id" title="([0-9a-f]+)">'
)


def node_rows(text: str) -> list[tuple[str, str, str, str]]:
    """(kind, link, label, id) for each row of the nodes table."""
    nodes = text.split('<table class="grid lineage-nodes">', 1)[1]
    return [
        (kind, html.unescape(href), html.unescape(label), node_id)
        for kind, href, label, node_id in NODE_ROW.findall(nodes)
    ]


def test_upstream_of_the_predictions_holds_every_run_and_file_behind_them(
    demo_repo: Path,
) -> None:
    with Repo(demo_repo) as repo:
        lineage = repo.lineage("predictions/test.parquet")
    web = client(demo_repo)
    response = web.get("/lineage", params={"path": "predictions/test.parquet"})
    assert response.status_code == 200
    rows = node_rows(response.text)
    runs = {label for kind, _, label, _ in rows if kind == "run"}
    assert {"run predict", "run train", "run features"} <= runs
    files = {label for kind, _, label, _ in rows if kind != "run"}
    assert {
        "predictions/test.parquet",
        "models/model.pkl",
        "data/features/train.parquet",
        "data/features/test.parquet",
        "params.yaml",
        "src/train.py",
    } <= files
    # The page shows exactly the library's graph: each node once, each edge drawn.
    assert {node_id for *_, node_id in rows} == {n.id for n in lineage.nodes.values()}
    assert response.text.count('<path class="edge"') == len(lineage.edges)
    assert response.text.count('<g class="node') == len(lineage.nodes)
    assert re.search(r'<g class="node file focus', response.text)


def test_every_link_of_the_lineage_opens(demo_repo: Path) -> None:
    web = client(demo_repo)
    text = web.get("/lineage", params={"path": "predictions/test.parquet"}).text
    svg = text.split("<svg", 1)[1].split("</svg>", 1)[0]
    links = {html.unescape(h) for h in re.findall(r'href="([^"]+)"', svg)}
    assert any(h.startswith("/run/") for h in links)
    assert any(h.startswith("/commit/") for h in links)
    assert any(h.startswith("/files/") for h in links)
    with Repo(demo_repo) as repo:
        for kind, href, _, node_id in node_rows(text):
            assert href in links
            if kind != "run":
                # The file link opens the version the node is: the same content id.
                rev, path = unquote(href).removeprefix("/files/").split("/", 1)
                entry = repo.objects.entry_at(repo.read_commit(rev).tree, path)
                assert entry is not None and entry.id == node_id, href
    for href in sorted(links):
        assert web.get(href).status_code == 200, href


def test_downstream_of_the_training_table_reaches_the_model(demo_repo: Path) -> None:
    with Repo(demo_repo) as repo:
        lineage = repo.lineage("data/features/train.parquet", downstream=True)
    models = {
        n.id
        for n in lineage.nodes.values()
        if isinstance(n, ArtifactNode) and n.path == "models/model.pkl"
    }
    assert models
    response = client(demo_repo).get(
        "/lineage", params={"path": "data/features/train.parquet", "direction": "downstream"}
    )
    assert response.status_code == 200
    rows = node_rows(response.text)
    assert {node_id for _, _, label, node_id in rows if label == "models/model.pkl"} == models
    assert "run train" in {label for _, _, label, _ in rows}
    assert 'aria-current="true">Downstream: what used this?' in response.text


def test_the_toggle_switches_direction_and_keeps_the_path(demo_repo: Path) -> None:
    text = (
        client(demo_repo)
        .get("/lineage", params={"path": "models/model.pkl", "rev": "baseline"})
        .text
    )
    assert 'aria-current="true">Upstream: what made this?' in text
    toggles = re.findall(r'<a href="(/lineage\?[^"]+)" class="[a-z]*"', text)
    assert {html.unescape(t) for t in toggles} == {
        "/lineage?path=models%2Fmodel.pkl&rev=baseline&direction=upstream",
        "/lineage?path=models%2Fmodel.pkl&rev=baseline&direction=downstream",
    }


def test_without_a_path_the_page_offers_the_outputs_of_head(demo_repo: Path) -> None:
    with Repo(demo_repo) as repo:
        outputs = {out for run in repo.runs("HEAD").values() for out in run.outs}
    response = client(demo_repo).get("/lineage")
    assert response.status_code == 200
    shown = set(re.findall(r"<tr>\s*<td>([^<]+)</td>", response.text))
    assert shown == outputs
    assert {"models/model.pkl", "predictions/test.parquet", "metrics.json"} <= shown


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"path": "../etc/passwd"}, 400, "may not go up with"),
        (
            {"path": "models/model.pkl", "direction": "sideways"},
            400,
            "direction must be upstream or downstream",
        ),
        ({"path": "models/model.pkl", "rev": "no-such-rev"}, 404, "no-such-rev"),
        ({"path": "no/such/file"}, 404, "path no/such/file does not exist"),
    ],
)
def test_bad_lineage_requests_are_refused(
    demo_repo: Path, query: dict[str, str], status: int, message: str
) -> None:
    response = client(demo_repo).get("/lineage", params=query)
    assert response.status_code == status
    assert message in html.unescape(response.text)


# -- one run ------------------------------------------------------------------------------


def demo_run(repo: Repo, name: str, rev: str = "main") -> tuple[str, RunNode]:
    for run_id, run in repo.runs(rev).items():
        if run.name == name:
            return run_id, RunNode(f"run:{run_id}", run_id, run)
    raise AssertionError(f"no run {name} behind {rev}")


def test_a_run_shows_its_parameters_metrics_and_commit(demo_repo: Path) -> None:
    with Repo(demo_repo) as repo:
        train_id, train = demo_run(repo, "train")
        predict_id, predict = demo_run(repo, "predict")
        main = repo.resolve("main")
    web = client(demo_repo)
    text = html.unescape(web.get(f"/run/{train_id}").text)
    for name, value in train.run.params["params.yaml"].values.items():
        assert re.search(rf"<td>{re.escape(name)}</td><td class=\"mono\">{value}</td>", text), name
    assert train.run.params["params.yaml"].values["train.n_estimators"] == 150
    assert f'href="/commit/{main}"' in text
    assert train.run.cmd in text and train.run.host in text
    for path in train.run.outs:
        assert f'href="/files/{main}/{path}"' in text
        assert f"/lineage?path={path}&rev={main}" in text
    predict_text = web.get(f"/run/{predict_id}").text
    for name, value in predict.run.metrics["metrics.json"].items():
        assert f'<td>{name}</td><td class="num mono">{value}</td>' in predict_text


def test_a_run_shows_its_environment_and_reproductions(demo_repo: Path) -> None:
    with Repo(demo_repo) as repo:
        run_id, node = demo_run(repo, "train", "baseline")
        env = repo.read_env(node.run.env)
    text = client(demo_repo).get(f"/run/{run_id[:8]}").text
    assert f"{env.implementation} {env.python}" in text
    assert f"{len(env.packages)} packages" in text
    table = text.split('<table class="grid reproductions">', 1)[1].split("</table>", 1)[0]
    assert "reproduced" in table and "models/model.pkl: identical" in table


@pytest.mark.parametrize(
    ("run_id", "status", "message"),
    [
        ("0" * 64, 404, "no run 0000"),
        ("0000", 404, "no run starts with 0000"),
        ("abc", 400, "give at least 4 hex digits"),
        ("not-hex!", 404, "a run id is hexadecimal"),
    ],
)
def test_an_unknown_run_is_not_found(
    demo_repo: Path, run_id: str, status: int, message: str
) -> None:
    response = client(demo_repo).get(f"/run/{run_id}")
    assert response.status_code == status
    assert message in html.unescape(response.text)
