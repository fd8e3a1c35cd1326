"""The Files pages of ``mlv ui``: the tree at a revision, one file, a table's schema,
statistics and paged rows, the download, and a file's history."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlv import Repo
from mlv.tables.rows import covering_groups
from ui_support import client

TRAIN = "data/features/train.parquet"
PREDICTIONS = "predictions/test.parquet"
DASH = "\N{EN DASH}"  # as the pager writes a range of rows
ROWS_HEADERS = {"HX-Request": "true", "HX-Target": "rows"}


class _Cells(HTMLParser):
    """The text of every cell of the tables whose class list holds ``css_class``."""

    def __init__(self, css_class: str) -> None:
        super().__init__()
        self.css_class = css_class
        self.rows: list[list[str]] = []
        self.depth = 0
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and self.css_class in (dict(attrs).get("class") or "").split():
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.cell is not None and tag in ("td", "th"):
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def cells(html: str, css_class: str) -> list[list[str]]:
    """The rows of the table of ``css_class`` (its header row first), as cell texts."""
    parser = _Cells(css_class)
    parser.feed(html)
    return parser.rows


def shown(value: Any) -> str:
    """A value as the rows table shows it."""
    if value is None:
        return "null"
    return repr(value) if isinstance(value, float) else str(value)


def expected_rows(table: pa.Table, start: int, stop: int) -> list[list[str]]:
    """Rows ``start`` to ``stop`` of ``table`` as the page shows them, numbered from 1."""
    rows = table.slice(start, stop - start).to_pylist()
    return [[str(start + i + 1), *(shown(v) for v in row.values())] for i, row in enumerate(rows)]


@pytest.fixture(scope="module")
def demo(demo_repo: Path) -> Any:
    return client(demo_repo)


def entry_names(html: str) -> list[str]:
    return [row[0] for row in cells(html, "files-tree")[1:]]


# -- folders -------------------------------------------------------------------------


def test_root_folder_at_head_lists_the_tree(demo: Any, demo_repo: Path) -> None:
    page = demo.get("/files/HEAD/")
    assert page.status_code == 200
    with Repo(demo_repo) as repo:
        flat = repo.flat_tree("HEAD")
        head = repo.resolve("HEAD")
    folders = sorted({p.split("/")[0] + "/" for p in flat if "/" in p})
    files = sorted(p for p in flat if "/" not in p)
    assert entry_names(page.text) == folders + files
    assert 'href="/files/HEAD/data/"' in page.text
    assert 'href="/raw/HEAD/metrics.json"' in page.text
    assert f'href="/commit/{head}"' in page.text
    sizes = {row[0]: row[2] for row in cells(page.text, "files-tree")[1:]}
    assert sizes["metrics.json"] == f"{flat['metrics.json'].size} B"
    # The top bar names the page, and it is the one shown.
    assert re.search(r'<a href="/files/HEAD/" class="active"[^>]*>Files</a>', page.text)


def test_root_folder_at_baseline_shows_that_commit(demo: Any, demo_repo: Path) -> None:
    page = demo.get("/files/baseline/")
    assert page.status_code == 200
    with Repo(demo_repo) as repo:
        then = repo.flat_tree("baseline")["metrics.json"].id
        now = repo.flat_tree("HEAD")["metrics.json"].id
        baseline = repo.resolve("baseline")
    assert then != now
    ids = {row[0]: row[3] for row in cells(page.text, "files-tree")[1:]}
    assert ids["metrics.json"] == then[:10]
    assert f'href="/commit/{baseline}"' in page.text
    assert 'href="/files/baseline/predictions/"' in page.text
    # The picker offers the branch and the tag.
    assert '<option value="main">' in page.text and '<option value="baseline">' in page.text


def test_a_subfolder_lists_its_tables_with_a_breadcrumb(demo: Any) -> None:
    page = demo.get("/files/HEAD/data/features/")
    assert page.status_code == 200
    assert entry_names(page.text) == ["..", "test.parquet table", "train.parquet table"]
    assert 'href="/files/HEAD/data/features/train.parquet"' in page.text
    assert 'href="/files/HEAD/data/"' in page.text  # breadcrumb and parent
    assert 'href="/file-history?path=data%2Ffeatures&amp;rev=HEAD"' in page.text


def test_files_addresses_redirect_to_a_folder(demo: Any) -> None:
    for asked, location in [
        ("/files", "/files/HEAD/"),
        ("/files/baseline", "/files/baseline/"),
        ("/files?rev=baseline&path=data", "/files/baseline/data/"),
        ("/files?rev=main%40%7B2026-11-24%7D", "/files/main%40%7B2026-11-24%7D/"),
    ]:
        answer = demo.get(asked, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (302, location)


def test_a_revision_with_a_date_names_the_commit_of_then(demo: Any, demo_repo: Path) -> None:
    with Repo(demo_repo) as repo:
        head = repo.read_commit(repo.resolve("HEAD"))
    from datetime import UTC, datetime

    day = datetime.fromtimestamp(head.time, UTC).strftime("%Y-%m-%d")
    page = demo.get(f"/files/main@{{{day}}}/")
    assert page.status_code == 200
    assert entry_names(page.text)[-1] == "params.yaml"


# -- one file ------------------------------------------------------------------------


def test_a_text_file_shows_its_facts_links_and_content(demo: Any, demo_repo: Path) -> None:
    page = demo.get("/files/baseline/metrics.json")
    assert page.status_code == 200
    with Repo(demo_repo) as repo:
        content = repo.read_bytes("baseline", "metrics.json").decode()
        entry = repo.flat_tree("baseline")["metrics.json"]
    assert entry.id in page.text
    assert 'href="/raw/baseline/metrics.json"' in page.text
    assert 'href="/file-history?path=metrics.json&amp;rev=baseline"' in page.text
    assert 'href="/lineage?path=metrics.json&amp;rev=baseline"' in page.text
    preview = re.search(r'<pre class="files-preview">(.*?)</pre>', page.text, re.S)
    assert preview is not None
    assert preview.group(1).replace("&#34;", '"') == content


def test_a_binary_file_has_no_preview(demo: Any) -> None:
    page = demo.get("/files/HEAD/models/model.pkl")
    assert page.status_code == 200
    assert "Binary content: no preview" in page.text
    assert "files-preview" not in page.text


def test_a_table_shows_its_schema_and_statistics(demo: Any, demo_repo: Path) -> None:
    page = demo.get(f"/files/HEAD/{TRAIN}")
    assert page.status_code == 200
    table = pq.read_table(demo_repo / TRAIN)
    assert f"parquet, {table.num_rows} rows, {table.num_columns} columns" in page.text
    stats = cells(page.text, "files-stats")
    assert stats[0] == ["Column", "Type", "Nulls", "Min", "Max", "Mean", "Distinct"]
    by_name = {row[0]: row for row in stats[1:]}
    assert list(by_name) == table.column_names
    ids = table.column("id").to_pylist()
    assert by_name["id"][1:6] == [
        "int64",
        "0",
        str(min(ids)),
        str(max(ids)),
        f"{sum(ids) / len(ids):.6g}",
    ]
    assert by_name["id"][6] == str(len(set(ids)))
    assert by_name["label"][1] == "int8"
    assert by_name["label"][6] == str(len(set(table.column("label").to_pylist())))


def test_a_tables_rows_come_in_pages(demo: Any, demo_repo: Path) -> None:
    table = pq.read_table(demo_repo / PREDICTIONS)
    assert table.num_rows > 100
    first = demo.get(f"/files/HEAD/{PREDICTIONS}")
    rows = cells(first.text, "files-data")
    assert rows[0] == ["#", *table.column_names]
    assert rows[1:] == expected_rows(table, 0, 100)
    assert f"rows 1{DASH}100 of {table.num_rows}" in first.text
    assert f'hx-get="/files/HEAD/{PREDICTIONS}?offset=100&amp;limit=100"' in first.text
    # The next page: only the rows fragment, for htmx to put in place of the old one.
    second = demo.get(f"/files/HEAD/{PREDICTIONS}?offset=100&limit=100", headers=ROWS_HEADERS)
    assert second.status_code == 200
    assert second.text.lstrip().startswith('<div id="rows"')
    assert "<html" not in second.text and "files-stats" not in second.text
    assert cells(second.text, "files-data")[1:] == expected_rows(table, 100, table.num_rows)
    assert f"rows 101{DASH}{table.num_rows} of {table.num_rows}" in second.text
    assert "next →" not in second.text


def test_rows_of_a_revision_come_from_the_store(demo: Any, demo_repo: Path) -> None:
    with Repo(demo_repo) as repo:
        stored = pq.read_table(io.BytesIO(repo.read_bytes("baseline", PREDICTIONS)))
    working = pq.read_table(demo_repo / PREDICTIONS)
    assert not stored.equals(working)
    page = demo.get(f"/files/baseline/{PREDICTIONS}?offset=40&limit=30", headers=ROWS_HEADERS)
    assert cells(page.text, "files-data")[1:] == expected_rows(stored, 40, 70)


def test_a_page_of_rows_is_read_from_the_groups_that_hold_it() -> None:
    assert covering_groups([10, 10, 10], 0, 5) == ([0], 0)
    assert covering_groups([10, 10, 10], 8, 5) == ([0, 1], 8)
    assert covering_groups([10, 10, 10], 25, 100) == ([2], 5)
    assert covering_groups([10, 10, 10], 30, 5) == ([], 0)


def test_a_parquet_table_of_many_row_groups_pages_across_them(
    repo_path: Path, commit_files: Callable[..., str]
) -> None:
    table = pa.table({"n": list(range(1000)), "text": [f"row {i}" for i in range(1000)]})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=64)
    commit_files(repo_path, {"t.parquet": sink.getvalue()}, "a table of 16 groups")
    ui = client(repo_path)
    page = ui.get("/files/HEAD/t.parquet?offset=120&limit=150", headers=ROWS_HEADERS)
    assert cells(page.text, "files-data")[1:] == expected_rows(table, 120, 270)
    last = ui.get("/files/HEAD/t.parquet?offset=999&limit=1000", headers=ROWS_HEADERS)
    assert cells(last.text, "files-data")[1:] == expected_rows(table, 999, 1000)


def test_csv_and_tsv_rows_are_paged_too(repo_path: Path, commit_files: Callable[..., str]) -> None:
    lines = [f"{i},{i * 0.5},name {i}" for i in range(250)]
    commit_files(
        repo_path,
        {
            "t.csv": "id,half,name\n" + "\n".join(lines) + "\n",
            "t.tsv": "id\tname\n" + "\n".join(f"{i}\tx{i}" for i in range(120)) + "\n",
        },
        "two text tables",
    )
    ui = client(repo_path)
    page = ui.get("/files/HEAD/t.csv?offset=100&limit=100", headers=ROWS_HEADERS)
    rows = cells(page.text, "files-data")
    assert rows[0] == ["#", "id", "half", "name"]
    assert rows[1:] == [[str(i + 1), str(i), repr(i * 0.5), f"name {i}"] for i in range(100, 200)]
    assert f"rows 101{DASH}200 of 250" in page.text
    tsv = ui.get("/files/HEAD/t.tsv?offset=110", headers=ROWS_HEADERS)
    assert cells(tsv.text, "files-data")[1:] == [
        [str(i + 1), str(i), f"x{i}"] for i in range(110, 120)
    ]


def test_a_table_without_a_profile_is_shown_and_none_is_made(
    repo_path: Path, commit_files: Callable[..., str]
) -> None:
    config = repo_path / ".mlv" / "config.toml"
    config.write_text(config.read_text().replace("profile = true", "profile = false"))
    commit_files(repo_path, {"t.csv": "a,b\n1,x\n2,y\n"}, "unprofiled")
    page = client(repo_path, read_only=True).get("/files/HEAD/t.csv")
    assert page.status_code == 200
    assert "No profile is stored for this content" in page.text
    assert cells(page.text, "files-data")[1:] == [["1", "1", "x"], ["2", "2", "y"]]
    with Repo(repo_path) as repo:
        content = repo.flat_tree("HEAD")["t.csv"].id
        assert repo.records.profiles_of([content]) == {}


def test_html_content_is_escaped_in_the_preview(
    repo_path: Path, commit_files: Callable[..., str]
) -> None:
    commit_files(repo_path, {"page.html": "<script>alert(1)</script>\n"}, "html")
    page = client(repo_path).get("/files/HEAD/page.html")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


# -- downloads ------------------------------------------------------------------------


def test_raw_download_streams_the_committed_bytes(demo: Any, demo_repo: Path) -> None:
    with Repo(demo_repo) as repo:
        model = repo.read_bytes("HEAD", "models/model.pkl")
        metrics = repo.read_bytes("baseline", "metrics.json")
    answer = demo.get("/raw/HEAD/models/model.pkl")
    assert answer.status_code == 200
    assert answer.content == model
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-disposition"].startswith('attachment; filename="model.pkl"')
    assert answer.headers["content-length"] == str(len(model))
    old = demo.get("/raw/baseline/metrics.json")
    assert old.content == metrics


def test_a_stored_html_file_downloads_as_bytes_not_a_page(
    repo_path: Path, commit_files: Callable[..., str]
) -> None:
    commit_files(repo_path, {'x/évil "name".html': "<script>alert(1)</script>"}, "html")
    answer = client(repo_path).get("/raw/HEAD/x/%C3%A9vil%20%22name%22.html")
    assert answer.status_code == 200
    assert answer.content == b"<script>alert(1)</script>"
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["x-content-type-options"] == "nosniff"
    # The download's own policy, beside the one every answer carries: both apply.
    assert "sandbox" in answer.headers.get_list("content-security-policy")
    assert answer.headers["content-disposition"] == (
        "attachment; filename=\"vil_name_.html\"; filename*=UTF-8''%C3%A9vil%20%22name%22.html"
    )


# -- history --------------------------------------------------------------------------


def test_the_history_of_metrics_names_each_version_and_its_run(demo: Any, demo_repo: Path) -> None:
    with Repo(demo_repo) as repo:
        versions = repo.history("metrics.json", "HEAD")
        head, baseline = repo.resolve("HEAD"), repo.resolve("baseline")
    assert [v.commit.id for v in versions] == [head, baseline]
    page = demo.get("/file-history?path=metrics.json&rev=HEAD")
    assert page.status_code == 200
    rows = cells(page.text, "files-history")[1:]
    assert [row[0] for row in rows] == ["modified", "added"]
    assert [row[4] for row in rows] == [f"{v.size} B" for v in versions]
    for v in versions:
        assert v.run_id is not None and v.run is not None
        assert f'href="/commit/{v.commit.id}"' in page.text
        assert f'href="/run/{v.run_id}"' in page.text
        assert f'href="/files/{v.commit.id}/metrics.json"' in page.text
    assert rows[0][6].startswith("predict ")
    at_baseline = demo.get("/file-history?path=metrics.json&rev=baseline")
    assert len(cells(at_baseline.text, "files-history")) == 2


# -- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/files/HEAD/%2e%2e/%2e%2e/etc/passwd", 400, "may not go up"),
        ("/files/HEAD/.mlv/config.toml", 400, ".mlv folder"),
        ("/raw/HEAD/%2e%2e/x", 400, "may not go up"),
        ("/raw/HEAD/.mlv/config.toml", 400, ".mlv folder"),
        ("/raw/HEAD/data", 400, "is a folder"),
        ("/files/HEAD/no/such/file.txt", 404, "does not exist in HEAD"),
        ("/raw/HEAD/no-such-file", 404, "does not exist in HEAD"),
        ("/files/no-such-branch/", 404, "unknown revision"),
        ("/files/HEAD~9/", 404, "past the first commit"),
        ("/raw/no-such-branch/metrics.json", 404, "unknown revision"),
        ("/file-history?path=no-such-file", 404, "in no commit"),
        ("/file-history?path=../x", 400, "may not go up"),
        ("/file-history", 400, "name a file or folder"),
        (f"/files/HEAD/{PREDICTIONS}?limit=0", 400, "limit must be between 1 and 1000"),
        (f"/files/HEAD/{PREDICTIONS}?limit=1001", 400, "limit must be between 1 and 1000"),
        (f"/files/HEAD/{PREDICTIONS}?offset=-1", 400, "offset must be 0 or more"),
        (f"/files/HEAD/{PREDICTIONS}?offset=143", 400, "past the last row"),
        (f"/files/HEAD/{PREDICTIONS}?limit=many", 400, "whole number"),
    ],
)
def test_bad_addresses_are_refused(demo: Any, url: str, status: int, message: str) -> None:
    answer = demo.get(url)
    assert answer.status_code == status, answer.text
    assert message in answer.text.replace("&#39;", "'")


def test_a_path_going_up_never_reaches_the_disk(demo: Any) -> None:
    answer = demo.get("/files/HEAD/../../etc/passwd")
    assert answer.status_code in (400, 404)
    assert "root:" not in answer.text


def test_a_refused_page_of_rows_answers_htmx_in_plain_text(demo: Any) -> None:
    answer = demo.get(f"/files/HEAD/{PREDICTIONS}?offset=9999", headers=ROWS_HEADERS)
    assert answer.status_code == 400
    assert answer.text == "offset 9999 is past the last row: the table has 143"
