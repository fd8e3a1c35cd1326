"""mlv parquet rewrite: a table rewritten by the deduplicating writer, in place or from
another format, keeps its rows, and an edit after it re-stores little."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from conftest import RunMlv
from helpers import one_error_line
from mlv import Repo


def features(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "id": np.arange(n),
            "f": rng.random(n),
            "label": rng.integers(0, 5, n),
            "city": pa.array([f"city{i % 50}" for i in range(n)]),
        }
    )


def packs_size(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / ".mlv" / "packs").glob("*.pack"))


def test_rewrite_in_place_keeps_every_row(repo_path: Path, run_mlv: RunMlv) -> None:
    table = features(5000)
    pq.write_table(table, repo_path / "t.parquet")
    out = json.loads(run_mlv(repo_path, "parquet", "rewrite", "t.parquet", "--json").stdout)
    assert out["rows"] == 5000 and out["target"] == str(repo_path / "t.parquet")
    assert pq.read_table(repo_path / "t.parquet").equals(table)
    assert sorted(p.name for p in repo_path.iterdir()) == [".mlv", "t.parquet"]  # no temporary


def test_a_csv_becomes_parquet_beside_it(repo_path: Path, run_mlv: RunMlv) -> None:
    table = features(300)
    pacsv.write_csv(table, repo_path / "raw.csv")
    said = run_mlv(repo_path, "parquet", "rewrite", "raw.csv", "-o", "raw.parquet").stdout
    assert said.startswith("Wrote raw.parquet: 300 rows")
    assert pq.read_table(repo_path / "raw.parquet").to_pylist() == table.to_pylist()
    assert (repo_path / "raw.csv").exists()


def test_an_edit_after_the_rewrite_re_stores_little(repo_path: Path, run_mlv: RunMlv) -> None:
    table = features(400_000)
    path = repo_path / "features.parquet"
    pq.write_table(table, path)
    run_mlv(repo_path, "parquet", "rewrite", "features.parquet")
    with Repo(repo_path) as repo:
        repo.add(["features.parquet"])
        repo.commit("features")
    before = packs_size(repo_path)
    # Late rows merged in near the start: every later row moves, which re-stored 60 %
    # of the file when both versions had pyarrow's default layout.
    edited = pa.concat_tables([table.slice(0, 100), features(10, seed=9), table.slice(100)])
    pq.write_table(edited, path)  # pyarrow's layout, then ours again
    run_mlv(repo_path, "parquet", "rewrite", "features.parquet")
    with Repo(repo_path) as repo:
        repo.add(["features.parquet"])
        repo.commit("labels fixed")
    growth = packs_size(repo_path) - before
    assert growth < 0.15 * path.stat().st_size
    assert pq.read_table(path).equals(edited)


def test_bad_rewrites_are_one_line_errors(repo_path: Path, run_mlv: RunMlv) -> None:
    pacsv.write_csv(features(10), repo_path / "raw.csv")
    (repo_path / "notes.txt").write_text("hello")
    pq.write_table(features(10), repo_path / "t.parquet")
    for args, says in (
        (["raw.csv"], "not Parquet"),
        (["missing.parquet"], "no such file"),
        (["notes.txt", "-o", "n.parquet"], "not a table"),
        (["raw.csv", "-o", "raw.txt"], "must end in .parquet"),
        (["t.parquet", "--compression", "nonsense"], "compression"),
        (["t.parquet", "--row-group-rows", "0"], "row_group_size"),
    ):
        line = one_error_line(run_mlv(repo_path, "parquet", "rewrite", *args, expect=None))
        assert says in line, (args, line)
    assert pq.read_table(repo_path / "t.parquet").equals(features(10))


def test_links_other_files_and_missing_folders_are_refused(
    repo_path: Path, run_mlv: RunMlv, tmp_path: Path
) -> None:
    pq.write_table(features(10), repo_path / "t.parquet")
    (repo_path / "link.parquet").symlink_to("t.parquet")
    (repo_path / "notes.parquet").write_text("not parquet at all")
    for args, says in (
        (["link.parquet"], "symbolic link"),
        (["t.parquet", "-o", "link.parquet"], "symbolic link"),
        (["t.parquet", "-o", "notes.parquet"], "not Parquet"),
        (["t.parquet", "-o", "nowhere/t.parquet"], "no such folder"),
    ):
        line = one_error_line(run_mlv(repo_path, "parquet", "rewrite", *args, expect=None))
        assert says in line, (args, line)
    assert (repo_path / "link.parquet").is_symlink()
    assert (repo_path / "notes.parquet").read_text() == "not parquet at all"
