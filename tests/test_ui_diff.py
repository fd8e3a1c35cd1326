"""The diff page of ``mlv ui``: files changed between two revisions, and a table's rows."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from mlv import Repo
from mlv.tables.formats import is_table
from mlv.tables.pyvalues import MINUS
from mlv.ui.pages.diff import MAX_PAGE_ROWS
from ui_support import client

DASH = "\N{EN DASH}"  # the pager writes a range of rows as 1, en dash, 50
OLD_SCORES = "id,name,score\n1,ada,0.1\n2,bob,0.2\n3,cy,0.5\n4,dee,0.4\n5,eve,0.5\n"
# id 2 removed, id 3's score changed, ids 6 and 7 added.
NEW_SCORES = "id,name,score\n1,ada,0.1\n3,cy,0.9\n4,dee,0.4\n5,eve,0.5\n6,fay,0.6\n7,gus,0.7\n"

CHANGE_ROW = re.compile(
    r'<td class="(added|removed|modified)">\1</td>\s*<td><a href="/files/([0-9a-f]+)/([^"]+)">'
)


def changed_files(text: str) -> dict[str, tuple[str, str]]:
    """path -> (status, the commit its link opens) for each row of the files table."""
    return {html.unescape(p): (s, rev) for s, rev, p in CHANGE_ROW.findall(text)}


def cells(text: str, css: str) -> list[str]:
    return [html.unescape(c) for c in re.findall(rf'<span class="{css}">([^<]*)</span>', text)]


@pytest.fixture
def scores_repo(repo_path: Path, commit_files: Callable[..., str]) -> tuple[Path, str, str]:
    a = commit_files(repo_path, {"data/scores.csv": OLD_SCORES, "notes.txt": "one\n"}, "first")
    b = commit_files(repo_path, {"data/scores.csv": NEW_SCORES}, "second")
    return repo_path, a, b


def test_baseline_to_main_lists_the_files_the_library_finds(demo_repo: Path) -> None:
    with Repo(demo_repo) as repo:
        expected = {c.path: c.status for c in repo.diff("baseline", "main")}
        main = repo.resolve("main")
    response = client(demo_repo).get("/diff", params={"a": "baseline", "b": "main"})
    assert response.status_code == 200
    found = changed_files(response.text)
    assert {p: s for p, (s, _) in found.items()} == expected
    for path in ("models/model.pkl", "predictions/test.parquet", "metrics.json", "params.yaml"):
        assert found[path] == ("modified", main)
    modified = sum(1 for s in expected.values() if s == "modified")
    assert (
        f"{len(expected)} files changed: 0 added, {modified} modified, 0 removed" in response.text
    )
    # Only tables get a row diff, and its link names both sides and the path.
    links = {
        html.unescape(u)
        for u in re.findall(r'<a href="(/diff\?[^"]+)">row diff</a>', response.text)
    }
    assert "/diff?a=baseline&b=main&path=predictions%2Ftest.parquet" in links
    assert len(links) == sum(1 for p in expected if is_table(p))


def test_without_revisions_head_is_compared_with_its_parent(demo_repo: Path) -> None:
    with Repo(demo_repo) as repo:
        baseline = repo.resolve("baseline")
        assert list(repo.read_commit(repo.resolve("HEAD")).parents) == [baseline]
        expected = {c.path for c in repo.diff("baseline", "HEAD")}
    response = client(demo_repo).get("/diff")
    assert response.status_code == 200
    assert f'value="{baseline[:10]}"' in response.text and 'value="HEAD"' in response.text
    assert set(changed_files(response.text)) == expected
    assert "models/model.pkl" in expected


def test_a_repository_of_one_commit_says_there_is_no_parent(
    repo_path: Path, commit_files: Callable[..., str]
) -> None:
    commit_files(repo_path, {"a.txt": "a\n"}, "only")
    response = client(repo_path).get("/diff")
    assert response.status_code == 200
    assert "is the first commit: there is no parent to compare it with" in response.text
    assert changed_files(response.text) == {}


def test_added_and_removed_files_link_to_the_side_that_has_them(
    repo_path: Path, commit_files: Callable[..., str]
) -> None:
    a = commit_files(repo_path, {"old.txt": "x\n", "kept.txt": "k\n"}, "first")
    b = commit_files(repo_path, {"new.txt": "yy\n"}, "second", remove=("old.txt",))
    found = changed_files(client(repo_path).get("/diff", params={"a": a, "b": b}).text)
    assert found == {"new.txt": ("added", b), "old.txt": ("removed", a)}


def test_keyed_row_diff_shows_rows_added_removed_and_values_old_to_new(
    scores_repo: tuple[Path, str, str],
) -> None:
    root, a, b = scores_repo
    response = client(root).get(
        "/diff", params={"a": a, "b": b, "path": "data/scores.csv", "key": "id"}
    )
    assert response.status_code == 200, response.text
    text = response.text
    assert f"data/scores.csv: 5 → 6 rows; +2 {MINUS}1 ~1 changed (score)" in html.unescape(text)
    assert "5 in A → 6 in B" in text
    assert "Changed rows (1)" in text and "Added rows (2)" in text and "Removed rows (1)" in text
    assert cells(text, "old") == ["0.5"] and cells(text, "new") == ["0.9"]
    changed = re.search(r'<table class="grid rows-changed">.*?</table>', text, re.S)
    assert changed is not None and ">3</td>" in changed.group(0)
    added = re.search(r'<table class="grid rows-added">.*?</table>', text, re.S)
    assert added is not None
    assert re.findall(r"<td>(\d)</td>", added.group(0)) == ["6", "7"]
    removed = re.search(r'<table class="grid rows-removed">.*?</table>', text, re.S)
    assert removed is not None and "&#39;bob&#39;" in removed.group(0)


def test_rows_page_from_the_server_as_a_fragment(scores_repo: tuple[Path, str, str]) -> None:
    root, a, b = scores_repo
    web = client(root)
    query = {"a": a, "b": b, "path": "data/scores.csv", "key": "id", "rows": "added", "limit": "1"}
    first = web.get("/diff", params=query, headers={"HX-Request": "true"})
    second = web.get("/diff", params={**query, "offset": "1"}, headers={"HX-Request": "true"})
    for page in (first, second):
        assert page.status_code == 200
        assert "<html" not in page.text and page.text.lstrip().startswith("<div")
        assert 'id="rows-added"' in page.text
    assert "&#39;fay&#39;" in first.text and "&#39;gus&#39;" not in first.text
    assert "&#39;gus&#39;" in second.text and "&#39;fay&#39;" not in second.text
    assert f"1{DASH}1 of 2" in first.text and f"2{DASH}2 of 2" in second.text
    # Each page links to the next or previous one, to swap in place.
    assert 'hx-get="' in first.text and "offset=1&amp;limit=1" in first.text
    assert "offset=0&amp;limit=1" in second.text


def test_the_declared_key_serves_when_none_is_chosen(scores_repo: tuple[Path, str, str]) -> None:
    root, a, b = scores_repo
    (root / "mlv.yaml").write_text("tables:\n  data/scores.csv:\n    key: [id]\n")
    response = client(root).get("/diff", params={"a": a, "b": b, "path": "data/scores.csv"})
    assert response.status_code == 200
    assert "on <code>id</code>" in response.text
    assert cells(response.text, "old") == ["0.5"]


def test_without_a_key_rows_are_compared_as_multisets(scores_repo: tuple[Path, str, str]) -> None:
    root, a, b = scores_repo
    text = client(root).get("/diff", params={"a": a, "b": b, "path": "data/scores.csv"}).text
    assert "without a key" in text
    assert "Rows only in B (3)" in text and "Rows only in A (2)" in text
    assert "Changed rows" not in text


def test_an_added_table_shows_its_first_rows(
    scores_repo: tuple[Path, str, str], commit_files
) -> None:  # type: ignore[no-untyped-def]
    root, _, b = scores_repo
    c = commit_files(root, {"data/extra.csv": "k,v\n1,x\n2,y\n"}, "add a table")
    web = client(root)
    text = web.get("/diff", params={"a": b, "b": c, "path": "data/extra.csv"}).text
    assert "First rows of the added table (2)" in text
    assert "&#39;x&#39;" in text and "&#39;y&#39;" in text
    assert "Removed rows" not in text and "Rows only in A" not in text
    query = {"a": b, "b": c, "path": "data/extra.csv", "rows": "removed"}
    refused = web.get("/diff", params=query, headers={"HX-Request": "true"})
    assert refused.status_code == 400
    assert "has no removed rows to page" in refused.text


def test_a_page_of_rows_is_capped(repo_path: Path, commit_files: Callable[..., str]) -> None:
    many = "id\n" + "".join(f"{n}\n" for n in range(MAX_PAGE_ROWS + 100))
    a = commit_files(repo_path, {"t.csv": "id\n"}, "empty")
    b = commit_files(repo_path, {"t.csv": many}, "many")
    query = {"a": a, "b": b, "path": "t.csv", "key": "id", "rows": "added", "limit": "100000"}
    page = client(repo_path).get("/diff", params=query, headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert page.text.count('<tr class="row-added">') == MAX_PAGE_ROWS
    assert f"offset={MAX_PAGE_ROWS}&amp;limit={MAX_PAGE_ROWS}" in page.text


def test_an_unchanged_table_says_so(
    scores_repo: tuple[Path, str, str], commit_files: Callable[..., str]
) -> None:
    root, _, b = scores_repo
    c = commit_files(root, {"notes.txt": "two\n"}, "third")
    response = client(root).get("/diff", params={"a": b, "b": c, "path": "data/scores.csv"})
    assert response.status_code == 200
    assert "is the same in" in response.text


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"key": "nope"}, 400, "key column nope is in neither version of data/scores.csv"),
        ({"key": "id,"}, 400, "give column names separated by commas"),
        ({"rows": "sideways"}, 400, "rows must be one of changed, added, removed"),
        ({"path": "notes.txt"}, 400, "notes.txt is not a table"),
        ({"path": "../outside.csv"}, 400, "may not go up with"),
        ({"path": ".mlv/index.db"}, 400, "the .mlv folder is the store"),
        ({"path": "gone.csv"}, 404, "path gone.csv is in neither"),
        ({"b": "no-such-rev"}, 404, "no-such-rev"),
        ({"limit": "many"}, 400, "limit must be a whole number"),
    ],
)
def test_bad_input_is_refused_with_a_reason(
    scores_repo: tuple[Path, str, str], query: dict[str, str], status: int, message: str
) -> None:
    root, a, b = scores_repo
    params = {"a": a, "b": b, "path": "data/scores.csv", **query}
    response = client(root).get("/diff", params=params)
    assert response.status_code == status
    assert message in html.unescape(response.text)


def test_an_unknown_revision_is_not_found(demo_repo: Path) -> None:
    response = client(demo_repo).get("/diff", params={"a": "nope-not-a-rev", "b": "main"})
    assert response.status_code == 404
    assert "nope-not-a-rev" in html.unescape(response.text)
