"""The Runs and Compare pages: the experiments table filtered, sorted and paged on the
server, and runs side by side with their plots."""

from __future__ import annotations

import html
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from mlv import Repo
from ui_support import client


def _run_order(page: str) -> list[str]:
    return re.findall(r'<tr data-run="([0-9a-f]{64})"', page)


def _headers(page: str) -> list[str]:
    return re.findall(r'data-column="([^"]+)"', page)


@pytest.fixture(scope="module")
def demo_runs(demo_repo: Path) -> dict[str, dict]:
    with Repo(demo_repo) as repo:
        table = repo.runs_table(all_refs=True)
    return {row.run_id: row.values for row in table.rows}


def test_every_run_with_its_params_metrics_and_status(
    demo_repo: Path, demo_runs: dict[str, dict]
) -> None:
    page = client(demo_repo).get("/runs").text
    assert _run_order(page) == list(demo_runs)  # newest first, as the library orders them
    assert "5 runs" in page
    for run_id, values in demo_runs.items():
        assert f"/run/{run_id}" in page and f"/commit/{values['commit']}" in page
    for column in ("params.train.n_estimators", "metrics.accuracy", "status", "stage"):
        assert column in _headers(page)
    assert "status-identical" in page and "status-not-yet" in page
    accuracy = next(v["metrics.accuracy"] for v in demo_runs.values() if "metrics.accuracy" in v)
    assert f"{accuracy:.6g}" in page


def test_sorting_by_a_metric_both_ways(demo_repo: Path, demo_runs: dict[str, dict]) -> None:
    web = client(demo_repo)
    scored = sorted(
        (v["metrics.accuracy"], run_id)
        for run_id, v in demo_runs.items()
        if "metrics.accuracy" in v
    )
    best_first = _run_order(web.get("/runs", params={"sort": "-metrics.accuracy"}).text)
    assert best_first[:2] == [run_id for _, run_id in reversed(scored)]
    worst_first = _run_order(web.get("/runs", params={"sort": "metrics.accuracy"}).text)
    assert worst_first[:2] == [run_id for _, run_id in scored]
    # Runs without the metric come last either way.
    assert set(best_first[2:]) == set(worst_first[2:]) == set(demo_runs) - {r for _, r in scored}
    # The header link sorts the other way once sorted.
    page = web.get("/runs", params={"sort": "-metrics.accuracy"}).text
    assert "sort=metrics.accuracy" in html.unescape(page)


def test_filters_stage_and_only_differences(demo_repo: Path, demo_runs: dict[str, dict]) -> None:
    web = client(demo_repo)
    trains = {r for r, v in demo_runs.items() if v["stage"] == "train"}
    assert set(_run_order(web.get("/runs", params={"stage": "train"}).text)) == trains
    wide = web.get("/runs", params={"where": "params.train.n_estimators > 100"}).text
    assert [demo_runs[r]["params.train.n_estimators"] for r in _run_order(wide)] == [150]
    both = web.get("/runs", params=[("where", "stage = predict"), ("where", "metrics.f1 > 0.96")])
    assert len(_run_order(both.text)) == 1
    assert "metrics.f1 &gt; 0.96" in both.text  # the filter stays in its box
    same = web.get("/runs", params={"changed": "1"}).text
    assert "who" not in _headers(same) and "stage" in _headers(same)
    none = web.get("/runs", params={"where": "metrics.accuracy > 2"}).text
    assert "No run matches" in none


def test_the_column_picker(demo_repo: Path) -> None:
    page = client(demo_repo).get("/runs", params=[("col", "stage"), ("col", "metrics.")]).text
    assert _headers(page) == ["stage", "metrics.accuracy", "metrics.f1", "metrics.roc_auc"]
    # Every column stays on offer in the picker.
    assert 'value="params.train.max_depth"' in page


def test_paging(demo_repo: Path, demo_runs: dict[str, dict]) -> None:
    web = client(demo_repo)
    pages = [_run_order(web.get("/runs", params={"limit": 2, "offset": o}).text) for o in (0, 2, 4)]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [r for p in pages for r in p] == list(demo_runs)
    first = web.get("/runs", params={"limit": 2}).text
    assert "offset=2" in first and "1\u20132 of 5" in first


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"where": "nosuch > 1"}, "no column"),
        ({"where": "metrics.accuracy >"}, "no value"),
        ({"sort": "-nosuch"}, "no column"),
        ({"since": "someday"}, "cannot read"),
        ({"limit": "ten"}, "whole number"),
    ],
)
def test_bad_input_is_a_clear_400(demo_repo: Path, params: dict, message: str) -> None:
    response = client(demo_repo).get("/runs", params=params)
    assert response.status_code == 400 and message in response.text


def test_an_htmx_filter_gets_the_table_alone(demo_repo: Path) -> None:
    fragment = client(demo_repo).get(
        "/runs", params={"stage": "train"}, headers={"HX-Request": "true", "HX-Target": "content"}
    )
    assert "<html" not in fragment.text and len(_run_order(fragment.text)) == 2


def test_compare_two_predict_runs(demo_repo: Path, demo_runs: dict[str, dict]) -> None:
    predicts = [r for r, v in demo_runs.items() if v["stage"] == "predict"]
    page = client(demo_repo).get("/compare", params=[("run", r[:8]) for r in predicts]).text
    for run_id in predicts:
        assert f"/run/{run_id}" in page
        assert repr(demo_runs[run_id]["metrics.accuracy"]) in page
    # The model differs between them, the test features do not.
    model = re.search(r"<tr class=\"differs\">\s*<th scope=\"row\">models/model.pkl", page)
    assert model is not None
    assert re.search(r"<tr>\s*<th scope=\"row\">data/features/test.parquet", page)
    # The plot each predict run declared, one line per run, drawn from what it wrote.
    specs = [json.loads(html.unescape(s)) for s in re.findall(r"data-series='([^']+)'", page)]
    assert len(specs) == 1 and specs[0]["x"] == "fpr"
    lines = specs[0]["series"]
    assert len(lines) == 2 and lines[0]["colour"] != lines[1]["colour"]
    with Repo(demo_repo) as repo:
        run = repo.objects.read_run(predicts[0])
        roc = b"".join(repo.objects.iter_content(run.outs["plots/roc.csv"].id)).decode()
    rows = [line.split(",") for line in roc.splitlines()[1:]]
    assert lines[0]["x"] == [float(a) for a, _ in rows]
    assert lines[0]["y"] == [float(b) for _, b in rows]


def test_compare_only_differences(demo_repo: Path, demo_runs: dict[str, dict]) -> None:
    trains = [r for r, v in demo_runs.items() if v["stage"] == "train"]
    web = client(demo_repo)
    everything = web.get("/compare", params=[("run", r) for r in trains]).text
    assert "seed" in everything and "n_estimators" in everything
    changed = web.get("/compare", params=[("run", r) for r in trains] + [("changed", "1")]).text
    params = changed.split("<h2>Parameters</h2>", 1)[1].split("<h2>", 1)[0]
    assert "n_estimators" in params and "max_depth" in params and ">train.seed<" not in params
    assert "more the same in every run" in params


@pytest.mark.parametrize(
    ("runs", "status", "message"),
    [
        (["abcdef12"], 400, "two or more"),
        (["ab", "cd"], 400, "too short"),
        (["ffffffffff", "eeeeeeeeee"], 404, "no recorded run"),
    ],
)
def test_compare_refuses_bad_picks(
    demo_repo: Path, runs: list[str], status: int, message: str
) -> None:
    response = client(demo_repo).get("/compare", params=[("run", r) for r in runs])
    assert response.status_code == status and message in response.text


def test_runs_not_committed_yet_come_first_and_compare(
    demo_copy: Path, run_mlv: Any, demo_runs: dict[str, dict]
) -> None:
    params = demo_copy / "params.yaml"
    params.write_text(params.read_text().replace("n_estimators: 150", "n_estimators: 20"))
    run_mlv(demo_copy, "repro", env={"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    web = client(demo_copy)
    page = web.get("/runs").text
    order = _run_order(page)
    with Repo(demo_copy) as repo:
        pending = [run_id for run_id, _ in repo.records.pending()]
        table = repo.runs_table()
    assert len(pending) == 2 and set(order[:2]) == set(pending)  # train and predict, newest
    assert set(order[2:]) == set(demo_runs)
    assert "(not committed)" in page
    fresh = next(r for r in table.rows if r.run_id in pending and r.values["stage"] == "predict")
    assert fresh.commit_id == "" and "commit" not in fresh.values
    older = next(r for r, v in demo_runs.items() if v["stage"] == "predict")
    compared = web.get("/compare", params=[("run", fresh.run_id), ("run", older)]).text
    assert compared.count("data-series=") == 1 and "(not committed)" in compared
    # Committed, they are rows of the commit like any other.
    run_mlv(demo_copy, "commit", "-m", "fewer trees")
    with Repo(demo_copy) as repo:
        head = repo.resolve("HEAD")
        rows = {r.run_id: r for r in repo.runs_table().rows}
    assert all(rows[r].commit_id == head for r in pending)


def test_a_run_not_committed_yet_has_its_page_by_prefix(demo_copy: Path, run_mlv: Any) -> None:
    params = demo_copy / "params.yaml"
    params.write_text(params.read_text().replace("n_estimators: 150", "n_estimators: 30"))
    run_mlv(
        demo_copy,
        "repro",
        "train",
        env={"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    with Repo(demo_copy) as repo:
        ((pending, _),) = repo.records.pending()
    page = client(demo_copy).get(f"/run/{pending[:10]}")
    assert page.status_code == 200 and pending in page.text and "30" in page.text


def test_compare_takes_each_run_once_and_a_bounded_number(
    demo_repo: Path, demo_runs: dict[str, dict]
) -> None:
    from mlv.lineage.run_compare import MAX_COMPARED

    predicts = [r for r, v in demo_runs.items() if v["stage"] == "predict"]
    web = client(demo_repo)
    twice = web.get(
        "/compare", params=[("run", r) for r in predicts * 3] + [("run", predicts[0][:8])]
    )
    assert twice.status_code == 200 and "Compare 2 runs" in twice.text
    same = web.get("/compare", params=[("run", predicts[0]), ("run", predicts[0][:6])])
    assert same.status_code == 400 and "two or more" in same.text
    many = [("run", f"{n:08x}") for n in range(MAX_COMPARED + 1)]
    refused = web.get("/compare", params=many)
    assert refused.status_code == 400 and "too many" in refused.text


def test_a_run_page_says_what_made_it_and_how_it_scored_against_the_last(
    demo_repo: Path,
) -> None:
    from mlv.lineage.run_context import against_previous, upstream_runs

    with Repo(demo_repo) as repo:
        predicts = repo.runs_table(all_refs=True, stage="predict").rows
        newest, older = predicts
        made = upstream_runs(repo.objects, newest.commit_id, newest.run_id)
        head_runs = repo.runs("HEAD")
    assert [u.run.name for u in made] == ["features", "train"]
    train = next(u for u in made if u.run.name == "train")
    assert train.run_id in head_runs and train.params["params.yaml: train.n_estimators"] == 150
    found = against_previous(predicts, newest.run_id)
    assert found is not None and found.previous.run_id == older.run_id
    accuracy = next(m for m in found.metrics if m.name == "accuracy")
    assert accuracy.values == (newest.values["metrics.accuracy"], older.values["metrics.accuracy"])
    assert against_previous(predicts, older.run_id) is None  # the first predict run

    page = client(demo_repo).get(f"/run/{newest.run_id}").text
    assert f"/run/{train.run_id}" in page and "train.n_estimators = 150" in page
    delta = newest.values["metrics.accuracy"] - older.values["metrics.accuracy"]
    assert f"{delta:+.6g}" in page
    assert f"/compare?run={newest.run_id}&amp;run={older.run_id}" in page
    first = client(demo_repo).get(f"/run/{older.run_id}").text
    assert "It is the first predict run" in first


def test_repo_compare_runs_is_the_page_in_python(
    demo_repo: Path, demo_runs: dict[str, dict]
) -> None:
    predicts = [r for r, v in demo_runs.items() if v["stage"] == "predict"]
    with Repo(demo_repo) as repo:
        found = repo.compare_runs([r[:10] for r in predicts])
    assert [row.run_id for row in found.runs] == predicts
    assert {m.name for m in found.metrics} == {"accuracy", "f1", "roc_auc"}
    assert [(p.path, p.name) for p in found.plots] == [("plots/roc.csv", "tpr")]
    assert len(found.plots[0].lines) == 2
