"""Tables that were added or removed get their rows and columns in a diff, and any two
tables at any revisions compare with ``mlv diff REV:PATH REV:PATH``."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from conftest import RunMlv
from helpers import one_error_line
from mlv import Repo
from mlv.tables.diff import table_on_one_side


def scores(n: int, *, changed: int | None = None, extra: bool = False) -> pa.Table:
    columns = {"id": list(range(n)), "score": [i * 0.5 + (i == changed) for i in range(n)]}
    if extra:
        columns["tag"] = ["t"] * n
    return pa.table(columns)


@pytest.fixture
def repo_root(tmp_path: Path) -> Path:
    """v1 holds old.csv and kept.parquet; v2 removed old.csv and added new.parquet."""
    root = tmp_path / "work"
    with Repo.init(root) as repo:
        pacsv.write_csv(scores(40), root / "old.csv")
        pq.write_table(scores(10), root / "kept.parquet")
        repo.add(["old.csv", "kept.parquet"])
        repo.commit("v1")
        repo.create_tag("v1")
        (root / "old.csv").unlink()
        pq.write_table(scores(45, changed=7, extra=True), root / "new.parquet")
        repo.rm(["old.csv"])
        repo.add(["new.parquet"])
        repo.commit("v2")
        repo.create_tag("v2")
    return root


def test_added_and_removed_tables_get_a_summary_line(repo_root: Path, run_mlv: RunMlv) -> None:
    out = run_mlv(repo_root, "diff", "v1", "v2").stdout
    assert "old.csv: table removed, 40 rows, 2 columns (id, score)" in out
    assert "new.parquet: table added, 45 rows, 3 columns (id, score, tag)" in out
    assert "kept.parquet" not in out


def test_the_json_gives_rows_schema_and_a_sample(repo_root: Path, run_mlv: RunMlv) -> None:
    changes = json.loads(run_mlv(repo_root, "diff", "v1", "v2", "--json").stdout)
    by_path = {c["path"]: c for c in changes}
    added = by_path["new.parquet"]["table"]
    assert added["table"] == "added" and added["new"] == {"format": "parquet", "rows": 45}
    assert [c["name"] for c in added["schema"]["added"]] == ["id", "score", "tag"]
    assert added["rows"]["added"] == 45 and len(added["rows"]["added_sample"]) == 10
    removed = by_path["old.csv"]["table"]
    assert removed["table"] == "removed" and removed["old"] == {"format": "csv", "rows": 40}
    assert removed["rows"]["removed"] == 40
    assert removed["rows"]["removed_sample"][0] == {"id": 0, "score": 0.0}


def test_a_named_added_table_shows_its_schema_and_first_rows(
    repo_root: Path, run_mlv: RunMlv
) -> None:
    out = run_mlv(repo_root, "diff", "v1", "v2", "--", "new.parquet").stdout
    assert "+ tag (string)" in out and "first rows:" in out and "format:" not in out


def test_a_table_added_in_the_working_tree(repo_root: Path, run_mlv: RunMlv) -> None:
    pq.write_table(scores(3), repo_root / "fresh.parquet")
    with Repo(repo_root) as repo:
        repo.add(["fresh.parquet"])
        changes = repo.diff("HEAD", None)
        tables = repo.table_changes(changes, "HEAD", None)
    (found,) = [t for t in tables if t.path == "fresh.parquet"]
    assert found.diff is not None and found.diff.whole == "added"
    assert found.diff.new_rows == 3


def test_one_side_counts_rows_of_every_format(tmp_path: Path) -> None:
    table = scores(1234)
    pacsv.write_csv(table, tmp_path / "t.csv")
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=100)
    for name in ("t.csv", "t.parquet"):
        found = table_on_one_side(tmp_path / name, "removed", sample=0)
        assert found.old_rows == 1234 and found.rows.removed == 1234, name
        assert found.removed_sample() == [] and "table removed, 1,234 rows" in found.summary()


def test_two_tables_anywhere_compare_on_a_key(repo_root: Path, run_mlv: RunMlv) -> None:
    out = run_mlv(repo_root, "diff", "v1:old.csv", "v2:new.parquet", "--key", "id").stdout
    assert "40 → 45 rows; +5 \u22120 ~1 changed (score)" in out and "format: csv → parquet" in out
    as_json = json.loads(
        run_mlv(repo_root, "diff", "v1:kept.parquet", "new.parquet", "--key", "id", "--json").stdout
    )
    assert as_json["rows"]["added"] == 35 and as_json["rows"]["changed"] == 1
    with Repo(repo_root) as repo:
        found = repo.diff_table("new.parquet", "v1", "v2", key=["id"], old_path="old.csv")
    assert found.rows.changed == 1 and found.schema.summary() == "+1 column (tag)"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["v1:old.csv"], "both as REV:PATH"),
        (["v1:old.csv", "v2:new.parquet", "v2"], "both as REV:PATH"),
        (["new.parquet", "v1:old.csv"], "first table is at a revision"),
        (["v1:", "v2:new.parquet"], "name a table after the colon"),
        (["v1:none.parquet", "v2:new.parquet"], "does not exist"),
        (["nope:old.csv", "v2:new.parquet"], "unknown revision"),
    ],
)
def test_bad_table_pairs_are_one_line_errors(
    repo_root: Path, run_mlv: RunMlv, args: list[str], says: str
) -> None:
    assert says in one_error_line(run_mlv(repo_root, "diff", *args, expect=None))


def test_a_folder_side_and_a_path_with_a_colon(repo_root: Path, run_mlv: RunMlv) -> None:
    (repo_root / "sub").mkdir()
    said = one_error_line(run_mlv(repo_root, "diff", "v1:old.csv", "sub", expect=None))
    assert "is a folder" in said
    pq.write_table(scores(40), repo_root / "a:b.parquet")
    out = run_mlv(repo_root, "diff", "v1:old.csv", "./a:b.parquet", "--key", "id").stdout
    assert out.startswith("v1:old.csv → ./a:b.parquet: 40 rows; no row changes")
