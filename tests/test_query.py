"""mlv query and Repo.query: SQL over tables at any revision, every format, joins across
revisions, only the bytes a query needs, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from conftest import RunMlv
from helpers import flip_last_byte, one_error_line
from mlv import Repo
from mlv.errors import ChecksumMismatchError, InvalidArgumentError, NotFoundError
from mlv.model.objects import FileManifest


def people(n: int, *, bump: int = 0) -> pa.Table:
    ids = list(range(n))
    return pa.table(
        {
            "id": ids,
            "score": [float(i % 7) + (bump if i % 10 == 0 else 0) for i in ids],
            "city": [None if i % 5 == 0 else f"c{i % 3}" for i in ids],
        }
    )


@pytest.fixture
def repo_root(tmp_path: Path) -> Path:
    """Tables in every format at v1, then edited at v2 (every tenth score +100); the
    working tree then changed again, uncommitted."""
    root = tmp_path / "work"
    with Repo.init(root) as repo:
        for bump, tag in ((0, "v1"), (100, "v2")):
            table = people(1000, bump=bump)
            (root / "data").mkdir(exist_ok=True)
            pq.write_table(table, root / "data/p.parquet")
            pacsv.write_csv(table, root / "data/p.csv")
            pacsv.write_csv(
                table, root / "data/p.tsv", write_options=pacsv.WriteOptions(delimiter="\t")
            )
            feather.write_feather(table, root / "data/p.feather")
            (root / "data/p.jsonl").write_text(
                "".join(json.dumps(row) + "\n" for row in table.to_pylist())
            )
            (root / "notes.txt").write_text(f"notes {tag}\n")
            repo.add(["data", "notes.txt"])
            repo.commit(tag)
            repo.create_tag(tag)
    pq.write_table(people(3), root / "data/p.parquet")  # uncommitted
    return root


def total(repo: Repo, sql: str) -> object:
    return repo.query(sql).column(0)[0].as_py()


def test_each_format_at_each_revision(repo_root: Path) -> None:
    with Repo(repo_root) as repo:
        for name in ("p.parquet", "p.csv", "p.tsv", "p.feather", "p.jsonl"):
            first = total(repo, f"SELECT sum(score) FROM 'data/{name}@v1'")
            second = total(repo, f"SELECT sum(score) FROM mlv('data/{name}', 'v2')")
            assert first == sum(float(i % 7) for i in range(1000)), name
            assert second == first + 100 * 100, name
            rows = total(repo, f"SELECT count(*) FROM 'data/{name}@v1' WHERE city IS NULL")
            assert rows == 200, name
        # Without a revision: HEAD, not the working tree's uncommitted edit.
        assert total(repo, "SELECT count(*) FROM mlv('data/p.parquet')") == 1000
        # A plain path is DuckDB's own: the working tree.
        assert total(repo, f"SELECT count(*) FROM '{repo_root}/data/p.parquet'") == 3


def test_a_join_across_revisions_finds_the_changed_rows(repo_root: Path) -> None:
    with Repo(repo_root) as repo:
        changed = repo.query(
            "SELECT a.id, b.score - a.score AS delta FROM 'data/p.parquet@v1' a "
            "JOIN 'data/p.parquet@v2' b USING (id) WHERE a.score <> b.score ORDER BY a.id"
        )
    assert changed.column("id").to_pylist() == list(range(0, 1000, 10))
    assert set(changed.column("delta").to_pylist()) == {100.0}


def test_names_in_comments_strings_and_quoted_identifiers_are_left_alone(
    repo_root: Path,
) -> None:
    with Repo(repo_root) as repo:
        result = repo.query(
            "-- FROM 'data/p.parquet@nope'\n"
            "/* mlv('data/x.parquet', 'nope') */\n"
            'SELECT \'data/p.parquet@nope\' AS label, "mlv" FROM (SELECT 1 AS "mlv")'
        )
    assert result.to_pylist() == [{"label": "data/p.parquet@nope", "mlv": 1}]


def test_the_cli_prints_a_table_csv_json_and_writes_parquet(
    repo_root: Path, run_mlv: RunMlv
) -> None:
    sql = "SELECT city, count(*) AS n FROM 'data/p.parquet@v1' GROUP BY city ORDER BY city"
    shown = run_mlv(repo_root, "query", sql).stdout
    assert "city" in shown and "(4 rows)" in shown and "'c0'" in shown
    as_csv = run_mlv(repo_root, "query", sql, "--format", "csv").stdout
    assert as_csv.splitlines()[0] == '"city","n"' and len(as_csv.splitlines()) == 5
    as_json = json.loads(run_mlv(repo_root, "query", sql, "--json").stdout)
    assert as_json[0] == {"city": "c0", "n": 267}
    assert as_json[-1] == {"city": None, "n": 200}
    out = repo_root / "out.parquet"
    proc = run_mlv(repo_root, "query", sql, "-o", str(out), "--stats")
    assert "Wrote 4 rows" in proc.stderr and "Read " in proc.stderr
    assert pq.read_table(out).num_rows == 4
    piped = run_mlv(repo_root, "query", "-", "--json", input_text=sql)
    assert json.loads(piped.stdout) == as_json


def test_only_the_first_rows_are_shown_on_screen(repo_root: Path, run_mlv: RunMlv) -> None:
    proc = run_mlv(repo_root, "query", "SELECT * FROM 'data/p.parquet@v1'")
    assert "(1,000 rows)" in proc.stdout and "900 more row(s) not shown" in proc.stderr
    assert len(proc.stdout.splitlines()) == 1 + 100 + 1


def test_one_column_of_a_wide_table_reads_a_fraction_of_it(tmp_path: Path) -> None:
    root = tmp_path / "work"
    rng = np.random.default_rng(3)
    table = pa.table({f"c{i}": rng.random(200_000) for i in range(10)})
    with Repo.init(root) as repo:
        pq.write_table(table, root / "wide.parquet", row_group_size=100_000)
        repo.add(["wide.parquet"])
        repo.commit("wide")
        size = (root / "wide.parquet").stat().st_size
        with repo.open_query("SELECT avg(c7) FROM 'wide.parquet@HEAD'") as run:
            (mean,) = run.read_all().column(0).to_pylist()
        assert mean == pytest.approx(float(np.mean(table["c7"].to_numpy())))
        assert 0 < run.stats.bytes < size / 5
        assert [t.path for t in run.tables] == ["wide.parquet"]


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("SELEC 1", "syntax error"),
        ("SELECT nope FROM 'data/p.parquet@v1'", "nope"),
        ("SELECT 1 FROM 'data/p.parquet@nope'", "unknown revision 'nope'"),
        ("SELECT 1 FROM mlv('data/none.parquet', 'v1')", "does not exist in v1"),
        ("SELECT 1 FROM mlv('notes.txt', 'v1')", "not a table"),
        ("SELECT 1 FROM mlv('data')", "not a table"),
        ("SELECT 1 FROM mlv(some_column)", "string literals"),
        ("SELECT 1 FROM mlv('a.parquet', 'v1', 'x')", "3 arguments"),
        ("   ", "empty"),
        (
            "SELECT 1 FROM 'data/p.parquet@v1' JOIN 'DATA/p.parquet@v1' ON true",
            "differ only in case",
        ),
    ],
)
def test_bad_queries_are_one_line_and_exit_2(
    repo_root: Path, run_mlv: RunMlv, sql: str, says: str
) -> None:
    line = one_error_line(run_mlv(repo_root, "query", sql, expect=None))
    assert says in line


def test_bad_options_are_one_line_and_exit_2(repo_root: Path, run_mlv: RunMlv) -> None:
    sql = "SELECT 1"
    for args, says in (
        (["--format", "xml"], "unknown format"),
        (["--format", "parquet"], "--output"),
        (["-o", str(repo_root / "out.xlsx")], "--format"),
        (["-o", str(repo_root / "data"), "-f", "csv"], "is a folder"),
    ):
        assert says in one_error_line(run_mlv(repo_root, "query", sql, *args, expect=None))


def test_errors_from_the_api_are_mlv_errors(repo_root: Path) -> None:
    with Repo(repo_root) as repo:
        with pytest.raises(InvalidArgumentError, match="syntax error"):
            repo.query("SELEC 1")
        with pytest.raises(NotFoundError):
            repo.query("SELECT 1 FROM 'data/p.parquet@nope'")


def test_a_damaged_chunk_fails_the_query_and_leaves_no_output(
    tmp_path: Path, run_mlv: RunMlv
) -> None:
    root = tmp_path / "work"
    table = pa.table({"x": np.random.default_rng(5).random(300_000)})
    with Repo.init(root) as repo:
        pq.write_table(table, root / "t.parquet")
        repo.add(["t.parquet"])
        repo.commit("t")
        entry = repo.objects.entry_at(repo.read_commit(repo.resolve("HEAD")).tree, "t.parquet")
        assert entry is not None
        manifest = FileManifest.from_bytes(repo.store.get(entry.id))
        flip_last_byte(repo.store, manifest.chunks[1][0])
        with pytest.raises(ChecksumMismatchError):
            repo.query("SELECT sum(x) FROM 't.parquet@HEAD'")
    out = tmp_path / "out.csv"
    proc = run_mlv(root, "query", "SELECT * FROM 't.parquet@HEAD'", "-o", str(out), expect=None)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "does not match" in proc.stderr or "damaged" in proc.stderr
    assert not out.exists() and list(tmp_path.glob(".out.csv*")) == []


def test_a_query_leaves_no_scratch_behind(repo_root: Path) -> None:
    with Repo(repo_root) as repo:
        repo.query("SELECT count(*) FROM 'data/p.parquet@v1'")
        leftovers = list(repo.layout.tmp.glob("query-*")) if repo.layout.tmp.exists() else []
    assert leftovers == []


# -- what an attacker's tour found -----------------------------------------------------


def test_output_never_lands_in_the_store_a_link_or_a_missing_folder(
    repo_root: Path, run_mlv: RunMlv, tmp_path: Path
) -> None:
    head = (repo_root / ".mlv" / "HEAD").read_bytes()
    sql = "SELECT 1 AS x"
    (tmp_path / "elsewhere.csv").write_text("keep\n")
    (repo_root / "link.csv").symlink_to(tmp_path / "elsewhere.csv")
    for args, says in (
        (["-o", ".mlv/HEAD", "-f", "csv"], "inside .mlv"),
        (["-o", ".mlv/packs/x.csv"], "inside .mlv"),
        (["-o", "data/../.mlv/x.csv"], "inside .mlv"),
        (["-o", "link.csv"], "symbolic link"),
        (["-o", "nowhere/out.csv"], "no such folder"),
    ):
        assert says in one_error_line(run_mlv(repo_root, "query", sql, *args, expect=None))
    assert (repo_root / ".mlv" / "HEAD").read_bytes() == head
    assert (tmp_path / "elsewhere.csv").read_text() == "keep\n"
    assert not (repo_root / ".mlv" / "packs" / "x.csv").exists()


def test_output_into_a_fifo_writes_into_it(repo_root: Path, run_mlv: RunMlv) -> None:
    import os
    import threading

    fifo = repo_root / "pipe.csv"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    run_mlv(repo_root, "query", "SELECT 42 AS x", "-o", str(fifo))
    reader.join(timeout=30)
    assert got == [b'"x"\n42\n'] and fifo.is_fifo()


def test_a_name_with_pattern_characters_is_that_file_alone(tmp_path: Path) -> None:
    root = tmp_path / "work"
    with Repo.init(root) as repo:
        for name, value in (("u[1].csv", 3), ("u1.csv", 4), ("t*.csv", 1), ("tx.csv", 2)):
            (root / name).write_text(f"a\n{value}\n")
        repo.add(["u[1].csv", "u1.csv", "t*.csv", "tx.csv"])
        repo.commit("odd names")
        assert total(repo, "SELECT sum(a) FROM 'u[1].csv@HEAD'") == 3
        assert total(repo, "SELECT sum(a) FROM mlv('t*.csv')") == 1


def test_a_symlink_and_a_read_only_write_say_what_is_wrong(
    repo_root: Path, run_mlv: RunMlv
) -> None:
    (repo_root / "data" / "link.parquet").symlink_to("p.parquet")
    with Repo(repo_root) as repo:
        repo.add(["data/link.parquet"])
        repo.commit("a link")
    line = one_error_line(
        run_mlv(repo_root, "query", "SELECT 1 FROM 'data/link.parquet@HEAD'", expect=None)
    )
    assert "symbolic link" in line
    copy = "COPY (SELECT 1) TO 'mlv://main/data/e.csv'"
    assert "read-only" in one_error_line(run_mlv(repo_root, "query", copy, expect=None))


def test_columns_of_one_name_are_all_shown_and_json_refuses_them(
    repo_root: Path, run_mlv: RunMlv
) -> None:
    shown = run_mlv(repo_root, "query", "SELECT 1 AS a, 2 AS a").stdout.splitlines()
    assert shown[0].split() == ["a", "a"] and shown[1].split() == ["1", "2"]
    line = one_error_line(
        run_mlv(repo_root, "query", "SELECT 1 AS a, 2 AS a", "--json", expect=None)
    )
    assert "more than one column named a" in line
    assert "NaN" in run_mlv(repo_root, "query", "SELECT 'nan'::DOUBLE AS x", "--json").stdout


def test_gc_removes_what_a_killed_query_left(repo_root: Path, run_mlv: RunMlv) -> None:
    import os

    spill = repo_root / ".mlv" / "tmp" / "query-killed"
    spill.mkdir(parents=True)
    (spill / "duckdb_temp_block").write_bytes(b"x" * 1000)
    os.utime(spill, (1_000_000_000, 1_000_000_000))
    fresh = repo_root / ".mlv" / "tmp" / "query-running"
    fresh.mkdir()
    run_mlv(repo_root, "gc")
    assert not spill.exists() and fresh.exists()
