"""Data contracts: every rule on generated tables of every format, `mlv check`, and enforce."""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import one_error_line
from mlv import Repo
from mlv.errors import ContractError, FormatError, PipelineError
from mlv.model.objects import Person
from mlv.repo.config import Config
from mlv.tables.checking import enforce
from mlv.tables.contracts import check_table, parse_contract
from mlv.tables.formats import BATCH_ROWS, open_batches

AUTHOR = Person("Ada Tester", "ada@example.com")
Found = set[tuple[str | None, str, int, tuple[Any, ...]]]


def write_table(path: Path, table: pa.Table, *, row_group_size: int | None = None) -> Path:
    """``table`` in the format ``path``'s suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix
    if suffix == ".parquet":
        pq.write_table(table, path, row_group_size=row_group_size)
    elif suffix in (".csv", ".tsv"):
        delimiter = "\t" if suffix == ".tsv" else ","
        pcsv.write_csv(table, path, pcsv.WriteOptions(delimiter=delimiter))
    elif suffix == ".feather":
        feather.write_feather(table, path)
    elif suffix == ".arrow":  # the streaming IPC format, in small batches
        with ipc.new_stream(path, table.schema) as writer:
            writer.write_table(table, max_chunksize=row_group_size or BATCH_ROWS)
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))
    else:
        raise AssertionError(suffix)
    return path


def found(violations: list[Any]) -> Found:
    return {(v.column, v.rule, v.count, tuple(map(_hashable, v.examples))) for v in violations}


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def check(tmp_path: Path, columns: dict[str, Any], contract: dict[str, Any], **kw: Any) -> Found:
    path = write_table(tmp_path / "t.parquet", pa.table(columns), **kw)
    return found(check_table(path, contract, table_name="t.parquet"))


# -- every rule, passing and failing ------------------------------------------------------

TS = pa.array(
    [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)],
    pa.timestamp("ms", tz="UTC"),
)

RULE_CASES = [
    # (columns, contract, expected violations)
    ({"x": [1, 2]}, {"columns": {"x": {"type": "int64"}}}, set()),
    ({"x": [1, 2]}, {"columns": {"x": {"type": "int"}}}, set()),
    ({"x": [1, 2]}, {"columns": {"x": "number"}}, set()),
    ({"x": [1, 2]}, {"columns": {"x": {"type": "string"}}}, {("x", "type", 1, ("int64",))}),
    ({"x": pa.array([1.5], pa.float32())}, {"columns": {"x": {"type": "float"}}}, set()),
    (
        {"x": pa.array([1.5], pa.float32())},
        {"columns": {"x": {"type": "double"}}},
        {("x", "type", 1, ("float",))},
    ),
    ({"x": pa.array(["a"], pa.large_string())}, {"columns": {"x": "string"}}, set()),
    ({"x": TS}, {"columns": {"x": {"type": "timestamp"}}}, set()),
    ({"x": TS}, {"columns": {"x": {"type": "timestamp[ms, tz=UTC]"}}}, set()),
    (
        {"x": TS},
        {"columns": {"x": {"type": "timestamp[us]"}}},
        {("x", "type", 1, ("timestamp[ms, tz=UTC]",))},
    ),
    ({"x": pa.array([None, None], pa.null())}, {"columns": {"x": "int64"}}, set()),
    ({"x": [1]}, {"columns": {"y": {"type": "int64"}}}, {("y", "required", 1, ())}),
    ({"x": [1]}, {"columns": {"y": None}}, {("y", "required", 1, ())}),
    ({"x": [1]}, {"columns": {"y": {"required": False, "not_null": True}}}, set()),
    ({"x": [1, 2]}, {"columns": {"x": {"not_null": True}}}, set()),
    (
        {"x": [1, None, 3, None]},
        {"columns": {"x": {"not_null": True}}},
        {("x", "not_null", 2, (1, 3))},
    ),
    ({"x": [1, 2, 3]}, {"columns": {"x": {"unique": True}}}, set()),
    ({"x": [None, None, 1]}, {"columns": {"x": {"unique": True}}}, set()),
    ({"x": [1, 2, 1, 3, 2, 1]}, {"columns": {"x": {"unique": True}}}, {("x", "unique", 3, (1, 2))}),
    (
        {"user": ["a", "a", "b", "b", "a"], "day": [1, 2, 1, 1, 1]},
        {"unique": [["user", "day"]]},
        {("(user, day)", "unique", 2, (("a", 1), ("b", 1)))},
    ),
    ({"user": ["a", "b"], "day": [1, 1]}, {"unique": [["user", "day"], "user"]}, set()),
    ({"user": ["a"]}, {"unique": [["user", "day"]]}, {("(user, day)", "unique", 1, ())}),
    ({"x": [0, 5, 9]}, {"columns": {"x": {"min": 0}}}, set()),
    ({"x": [5, -1, 0, -3, -1]}, {"columns": {"x": {"min": 0}}}, {("x", "min", 3, (-1, -3))}),
    ({"x": [1, 130]}, {"columns": {"x": {"max": 130}}}, set()),
    ({"x": [1, 200, 130, 131]}, {"columns": {"x": {"max": 130}}}, {("x", "max", 2, (200, 131))}),
    ({"x": [0.5, 1.5]}, {"columns": {"x": {"min": 1}}}, {("x", "min", 1, (0.5,))}),
    ({"x": [1, 2]}, {"columns": {"x": {"min": 1.5}}}, {("x", "min", 1, (1,))}),
    (
        {"x": [1.0, float("nan")]},
        {"columns": {"x": {"max": 10}}},
        {("x", "max", 1, (float("nan"),))},
    ),
    (
        {"x": pa.array([date(2023, 12, 31), date(2024, 2, 1)])},
        {"columns": {"x": {"min": date(2024, 1, 1)}}},
        {("x", "min", 1, (date(2023, 12, 31),))},
    ),
    ({"x": TS}, {"columns": {"x": {"max": "2024-02-01"}}}, {("x", "max", 1, (TS[1].as_py(),))}),
    ({"x": ["b", "c"]}, {"columns": {"x": {"min": "b"}}}, set()),
    ({"x": ["a", "b"]}, {"columns": {"x": {"min": 0}}}, {("x", "min", 1, ())}),
    ({"x": ["cat", "dog", None]}, {"columns": {"x": {"allowed": ["cat", "dog"]}}}, set()),
    (
        {"x": ["cat", "dog", "bird", None, "bird", "cow"]},
        {"columns": {"x": {"allowed": ["cat", "dog"]}}},
        {("x", "allowed", 3, ("bird", "cow"))},
    ),
    (
        {"x": pa.array(["cat", "eel", "cat"]).dictionary_encode()},
        {"columns": {"x": {"type": "string", "allowed": ["cat"]}}},
        {("x", "allowed", 1, ("eel",))},
    ),
    ({"x": [1, 2, 7]}, {"columns": {"x": {"allowed": [1, 2]}}}, {("x", "allowed", 1, (7,))}),
    ({"x": [1, 2]}, {"columns": {"x": {"allowed": ["a"]}}}, {("x", "allowed", 1, ())}),
    ({"x": [1, 2, 3]}, {"rows": {"min": 3, "max": 3}}, set()),
    ({"x": [1, 2, 3]}, {"rows": {"min": 5}}, {(None, "rows", 3, ())}),
    ({"x": [1, 2, 3]}, {"rows": {"max": 2}}, {(None, "rows", 3, ())}),
    ({"x": [1, None, None, 4]}, {"columns": {"x": {"max_null_fraction": 0.5}}}, set()),
    (
        {"x": [1, None, None, 4]},
        {"columns": {"x": {"max_null_fraction": 0.25}}},
        {("x", "max_null_fraction", 2, ())},
    ),
    ({"x": pa.array([], pa.int64())}, {"columns": {"x": {"max_null_fraction": 0}}}, set()),
]


@pytest.mark.parametrize(("columns", "contract", "expected"), RULE_CASES)
def test_rule(tmp_path: Path, columns: dict, contract: dict, expected: Found) -> None:
    got = check(tmp_path, columns, contract)
    # NaN never equals itself: compare its text.
    assert {repr(v) for v in got} == {repr(v) for v in expected}


def test_messages_name_the_column_the_rule_a_count_and_examples(tmp_path: Path) -> None:
    path = write_table(tmp_path / "t.parquet", pa.table({"age": [140, 151, 200, 20, 140]}))
    [v] = check_table(path, {"columns": {"age": {"max": 130}}}, table_name="data/t.parquet")
    assert v.message == "age: max 130: 4 rows, e.g. 140, 151, 200"
    assert v.to_json() == {
        "table": "data/t.parquet",
        "column": "age",
        "rule": "max",
        "count": 4,
        "examples": [140, 151, 200],
        "message": "age: max 130: 4 rows, e.g. 140, 151, 200",
    }


def test_examples_are_json_safe(tmp_path: Path) -> None:
    table = pa.table({"x": [float("nan"), 1.0], "d": pa.array([date(2020, 1, 1), None])})
    path = write_table(tmp_path / "t.parquet", table)
    contract = {"columns": {"x": {"max": 0}, "d": {"max": date(2019, 1, 1)}}}
    out = [v.to_json() for v in check_table(path, contract, table_name="t")]
    assert json.loads(json.dumps(out)) == out
    assert {tuple(v["examples"]) for v in out} == {("nan", 1.0), ("2020-01-01",)}


# -- formats and streaming ------------------------------------------------------------------

STANDARD = pa.table(
    {
        "id": [1, 2, 3, 3, 5],
        "age": [10.5, 140.0, None, -2.0, 50.0],
        "label": ["cat", "dog", "bird", "cat", "fish"],
    }
)
STANDARD_CONTRACT = {
    "columns": {
        "id": {"type": "int64", "not_null": True, "unique": True},
        "age": {"type": "float", "min": 0, "max": 130, "max_null_fraction": 0.1},
        "label": {"type": "string", "allowed": ["cat", "dog"]},
    },
    "rows": {"min": 10},
}
STANDARD_FOUND = {
    ("id", "unique", 1, (3,)),
    ("age", "max_null_fraction", 1, ()),
    ("age", "min", 1, (-2.0,)),
    ("age", "max", 1, (140.0,)),
    ("label", "allowed", 2, ("bird", "fish")),
    (None, "rows", 5, ()),
}


@pytest.mark.parametrize("name", ["t.parquet", "t.csv", "t.tsv", "t.feather", "t.arrow", "t.jsonl"])
def test_every_format_gives_the_same_violations(tmp_path: Path, name: str) -> None:
    path = write_table(tmp_path / name, STANDARD, row_group_size=2)
    assert found(check_table(path, STANDARD_CONTRACT, table_name=name)) == STANDARD_FOUND


@pytest.mark.parametrize("name", ["big.parquet", "big.arrow"])
def test_a_table_larger_than_one_batch_is_checked_whole(tmp_path: Path, name: str) -> None:
    n = 3 * BATCH_ROWS + 123
    ids = list(range(n))
    ids[-1] = 0  # the last row repeats the first, batches apart
    ages = [float(i % 100) for i in range(n)]
    ages[BATCH_ROWS + 5] = None  # in the second batch
    ages[n - 2] = 500.0
    path = write_table(tmp_path / name, pa.table({"id": ids, "age": ages}), row_group_size=50_000)
    _, batches = open_batches(path)
    assert sum(1 for _ in batches) > 1
    contract = {
        "columns": {
            "id": {"unique": True},
            "age": {"not_null": True, "max": 99, "max_null_fraction": 0},
        },
        "rows": {"max": n - 1},
    }
    assert found(check_table(path, contract, table_name=name)) == {
        ("id", "unique", 1, (0,)),
        ("age", "not_null", 1, (BATCH_ROWS + 5,)),
        ("age", "max_null_fraction", 1, ()),
        ("age", "max", 1, (500.0,)),
        (None, "rows", n, ()),
    }


def test_only_the_columns_a_contract_names_are_read(tmp_path: Path) -> None:
    table = pa.table({"id": [1, 2], "blob": [b"x" * 10, b"y" * 10]})
    path = write_table(tmp_path / "t.parquet", table)
    _, batches = open_batches(path, columns=["id", "missing"])
    assert [b.schema.names for b in batches] == [["id"]]


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.integers(-50, 50)), max_size=60),
    low=st.integers(-60, 60),
    span=st.integers(0, 60),
    group=st.integers(1, 9),
)
def test_counts_match_a_row_by_row_count(
    values: list[int | None], low: int, span: int, group: int
) -> None:
    """Merged across batches (small row groups), the counts are what a plain loop finds."""
    high = low + span
    present = [v for v in values if v is not None]
    expected: Found = set()
    nulls = [i for i, v in enumerate(values) if v is None]
    if nulls:
        expected.add(("x", "not_null", len(nulls), tuple(nulls[:5])))
    below = [v for v in present if v < low]
    if below:
        expected.add(("x", "min", len(below), tuple(dict.fromkeys(below))[:5]))
    above = [v for v in present if v > high]
    if above:
        expected.add(("x", "max", len(above), tuple(dict.fromkeys(above))[:5]))
    repeats = len(present) - len(set(present))
    if repeats:
        seen: dict[int, int] = {}
        for v in present:
            seen[v] = seen.get(v, 0) + 1
        dupes = tuple(v for v, c in seen.items() if c > 1)[:5]
        expected.add(("x", "unique", repeats, dupes))
    rules = {"not_null": True, "unique": True, "min": low, "max": high}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_table(
            Path(tmp) / "t.parquet",
            pa.table({"x": pa.array(values, pa.int64())}),
            row_group_size=group,
        )
        got = found(check_table(path, {"columns": {"x": rules}}, table_name="t"))
    assert got == expected


def test_a_damaged_table_is_one_violation(tmp_path: Path) -> None:
    path = write_table(tmp_path / "t.parquet", STANDARD)
    path.write_bytes(path.read_bytes()[:-30])
    [v] = check_table(path, STANDARD_CONTRACT, table_name="t.parquet")
    assert (v.column, v.rule, v.count) == (None, "readable", 1)
    assert v.message.startswith("not a readable table: ")


# -- contract syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contract", "problem"),
    [
        ({"columns": {"age": {"maxx": 1}}}, "column 'age': unknown rule 'maxx'"),
        ({"colums": {}}, "unknown contract rule 'colums'"),
        ({"columns": {"age": {"type": "integr"}}}, "column 'age': unknown type 'integr'"),
        ({"columns": {"age": {"type": 3}}}, "column 'age': unknown type 3"),
        ({"columns": {"age": {"min": 5, "max": 1}}}, "column 'age': min is above max"),
        ({"columns": {"age": {"min": [1]}}}, "column 'age': min must be"),
        ({"columns": {"age": {"not_null": "yes"}}}, "column 'age': not_null must be true or false"),
        ({"columns": {"age": {"allowed": []}}}, "column 'age': allowed must be a non-empty list"),
        ({"columns": {"age": {"max_null_fraction": 2}}}, "max_null_fraction must be a number"),
        ({"columns": {"age": 7}}, "column 'age': expected a type or a mapping"),
        ({"columns": ["age"]}, "columns must map column names to rules"),
        ({"rows": {"min": -1}}, "rows.min must be a whole number"),
        ({"rows": {"mn": 1}}, "unknown rule 'rows.mn'"),
        ({"rows": {"min": 5, "max": 1}}, "rows.min is above rows.max"),
        ({"unique": "id"}, "unique must be a list of keys"),
        ({"unique": [[]]}, "unique must be a list of keys"),
    ],
)
def test_a_malformed_contract_names_table_column_and_rule(contract: dict, problem: str) -> None:
    with pytest.raises(PipelineError) as caught:
        parse_contract(contract, "data/t.parquet")
    message = str(caught.value)
    assert message.startswith("mlv.yaml: table 'data/t.parquet'")
    assert problem in message and "\n" not in message


# -- the repository: mlv check ------------------------------------------------------------


def declare(root: Path, tables: dict[str, Any]) -> None:
    (root / "mlv.yaml").write_text(yaml.safe_dump({"tables": tables}, sort_keys=False))


GOOD = pa.table({"id": [1, 2, 3], "age": [20.0, 30.0, 40.0]})
BAD = pa.table({"id": [1, 1, 3], "age": [20.0, 300.0, 40.0]})
CONTRACT = {"columns": {"id": {"unique": True}, "age": {"min": 0, "max": 130}}}


def test_check_exit_codes_and_summary(repo_path: Path, run_mlv: Any) -> None:
    declare(repo_path, {"data/*.parquet": {"key": ["id"], "contract": CONTRACT}})
    for name in ("a", "b", "c"):
        write_table(repo_path / "data" / f"{name}.parquet", GOOD)
    out = run_mlv(repo_path, "check").stdout
    assert out.splitlines()[-1] == "3 tables meet their contracts"
    assert "data/a.parquet: meets its contract" in out

    write_table(repo_path / "data" / "b.parquet", BAD)
    proc = run_mlv(repo_path, "check", expect=1)
    assert proc.stdout.splitlines() == [
        "data/a.parquet: meets its contract",
        "data/b.parquet: 2 violations",
        "  id: unique: 1 duplicate row, e.g. 1",
        "  age: max 130: 1 row, e.g. 300.0",
        "data/c.parquet: meets its contract",
        "1 of 3 tables breaks its contract: 2 violations",
    ]
    # Naming paths checks only those (a folder: the tables in it).
    run_mlv(repo_path, "check", "data/a.parquet")
    run_mlv(repo_path, "check", "data", expect=1)
    run_mlv(repo_path / "data", "check", "c.parquet")
    line = one_error_line(run_mlv(repo_path, "check", "data/nope.parquet", expect=2))
    assert "data/nope.parquet" in line


def test_a_path_without_a_contract_is_skipped(repo_path: Path, run_mlv: Any) -> None:
    declare(repo_path, {"data/a.parquet": {"contract": CONTRACT}, "data/k.parquet": {"key": "id"}})
    write_table(repo_path / "data" / "a.parquet", GOOD)
    write_table(repo_path / "data" / "k.parquet", BAD)
    (repo_path / "notes.txt").write_text("hello")
    proc = run_mlv(repo_path, "check", "notes.txt", "data/k.parquet", "--json")
    report = json.loads(proc.stdout)
    assert report["skipped"] == ["notes.txt", "data/k.parquet"]
    assert report["tables_checked"] == [] and report["ok"]
    assert run_mlv(repo_path, "check").stdout.splitlines() == [
        "data/a.parquet: meets its contract",
        "1 table meets its contract",
    ]
    # A folder is skipped only when it holds no table under a contract.
    (repo_path / "docs").mkdir()
    (repo_path / "docs" / "x.csv").write_text("a\n1\n")
    assert run_mlv(repo_path, "check", "docs", "data").stdout.splitlines() == [
        "docs: no contract in mlv.yaml names it; not checked",
        "data/a.parquet: meets its contract",
        "1 table meets its contract",
    ]


def test_no_contracts_is_nothing_to_check(repo_path: Path, run_mlv: Any) -> None:
    out = run_mlv(repo_path, "check").stdout
    assert out == "no table to check: no contract in mlv.yaml names one\n"


def test_check_json_is_the_library_report(repo_path: Path, run_mlv: Any) -> None:
    declare(repo_path, {"data/*": {"contract": STANDARD_CONTRACT}})
    write_table(repo_path / "data" / "s.parquet", STANDARD)
    write_table(repo_path / "data" / "s.csv", STANDARD)
    proc = run_mlv(repo_path, "check", "--json", expect=1)
    with Repo(repo_path) as repo:
        report = repo.check()
    assert json.loads(proc.stdout) == report.to_json()
    assert report.tables_checked == ["data/s.csv", "data/s.parquet"]
    assert report.failing() == report.tables_checked and not report.ok
    by_table = {t: found([v for v in report.violations if v.table == t]) for t in report.failing()}
    assert by_table == {"data/s.csv": STANDARD_FOUND, "data/s.parquet": STANDARD_FOUND}


def test_check_at_a_revision(repo_path: Path, run_mlv: Any) -> None:
    declare(repo_path, {"data/t.parquet": {"contract": CONTRACT}})
    write_table(repo_path / "data" / "t.parquet", GOOD)
    with Repo(repo_path) as repo:
        repo.add(["data"])
        repo.commit("good", author=AUTHOR)
    write_table(repo_path / "data" / "t.parquet", BAD)
    run_mlv(repo_path, "check", expect=1)
    run_mlv(repo_path, "check", "--rev", "HEAD")
    with Repo(repo_path) as repo:
        repo.add(["data"])
        repo.commit("bad", author=AUTHOR)
        assert repo.check(rev="HEAD~1").ok
        report = repo.check(["data"], rev="HEAD")
    assert report.rev == "HEAD" and report.tables_checked == ["data/t.parquet"]
    assert found(report.violations) == {("id", "unique", 1, (1,)), ("age", "max", 1, (300.0,))}
    # Fixed on disk, still broken in the commit.
    write_table(repo_path / "data" / "t.parquet", GOOD)
    run_mlv(repo_path, "check")
    proc = run_mlv(repo_path, "check", "data/t.parquet", "--rev", "HEAD", "--json", expect=1)
    assert json.loads(proc.stdout)["tables_failing"] == ["data/t.parquet"]
    line = one_error_line(run_mlv(repo_path, "check", "data/x.parquet", "--rev", "HEAD", expect=2))
    assert "data/x.parquet does not exist in HEAD" in line
    one_error_line(run_mlv(repo_path, "check", "--rev", "nonesuch", expect=2))


def test_a_malformed_contract_is_exit_2_naming_the_rule(repo_path: Path, run_mlv: Any) -> None:
    declare(repo_path, {"data/t.parquet": {"contract": {"columns": {"age": {"maxx": 3}}}}})
    write_table(repo_path / "data" / "t.parquet", GOOD)
    line = one_error_line(run_mlv(repo_path, "check", expect=2))
    assert "table 'data/t.parquet', column 'age': unknown rule 'maxx'" in line


def test_a_damaged_table_fails_the_check(repo_path: Path, run_mlv: Any) -> None:
    declare(repo_path, {"data/t.csv": {"contract": CONTRACT}})
    (repo_path / "data").mkdir()
    (repo_path / "data" / "t.csv").write_bytes(b"id,age\n1,2\n3,4,5\n")
    proc = run_mlv(repo_path, "check", expect=1)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "  not a readable table: " in proc.stdout


# -- enforce: add and commit ------------------------------------------------------------


def enforce_in(repo: Repo, paths: list[str], *, strict: bool | None, when: str) -> list[str]:
    """``enforce`` on the parts of ``repo``, with its ``tables.strict``."""
    return enforce(
        paths,
        strict=strict,
        when=when,
        tables_strict=repo.config.tables_strict,
        worktree=repo.worktree,
        stage=repo.staging,
        objects=repo.objects,
    )


def test_enforce_warns(repo_path: Path) -> None:
    declare(repo_path, {"data/*.parquet": {"contract": CONTRACT}})
    write_table(repo_path / "data" / "t.parquet", BAD)
    write_table(repo_path / "data" / "ok.parquet", GOOD)
    with Repo(repo_path) as repo:
        assert enforce_in(repo, ["data"], strict=None, when="add") == [
            "data/t.parquet breaks its contract: id: unique: 1 duplicate row, e.g. 1; "
            "age: max 130: 1 row, e.g. 300.0 (mlv check for all)"
        ]
        assert enforce_in(repo, ["data/ok.parquet"], strict=True, when="add") == []
        # Deleted paths (a deletion being staged) and files without a contract pass.
        (repo_path / "notes.txt").write_text("x")
        assert enforce_in(repo, ["notes.txt", "data/gone.parquet"], strict=True, when="add") == []


def test_enforce_strict_refuses(repo_path: Path) -> None:
    declare(repo_path, {"data/*.parquet": {"contract": CONTRACT}})
    write_table(repo_path / "data" / "t.parquet", BAD)
    with Repo(repo_path) as repo, pytest.raises(ContractError) as caught:
        enforce_in(repo, ["data/t.parquet"], strict=True, when="add")
    assert caught.value.exit_code == 1
    assert str(caught.value) == (
        "2 contract violations in data/t.parquet: run 'mlv check' for the list; "
        "or add without --strict"
    )


def test_enforce_strict_from_the_config(repo_path: Path) -> None:
    declare(repo_path, {"data/*.parquet": {"contract": CONTRACT}})
    write_table(repo_path / "data" / "t.parquet", BAD)
    config = repo_path / ".mlv" / "config.toml"
    config.write_text(config.read_text().replace("strict = false", "strict = true"))
    with Repo(repo_path) as repo:
        assert repo.config.tables_strict
        with pytest.raises(ContractError, match=r"set tables\.strict = false"):
            enforce_in(repo, ["data"], strict=None, when="add")
        # An explicit strict=False wins over the config.
        assert len(enforce_in(repo, ["data"], strict=False, when="add")) == 1


def test_config_strict_must_be_a_boolean(repo_path: Path) -> None:
    config = repo_path / ".mlv" / "config.toml"
    assert Config.load(config).tables_strict is False
    config.write_text(config.read_text().replace("strict = false", 'strict = "yes"'))
    with pytest.raises(FormatError, match=r"tables\.strict must be true or false"):
        Config.load(config)
    Config(tables_strict=True).save(config)
    assert Config.load(config).tables_strict is True


def test_enforce_on_add_skips_files_staged_as_they_are(repo_path: Path) -> None:
    path = write_table(repo_path / "data" / "t.parquet", BAD)
    # An mtime in the past: the stat cache does not trust one from the last moments.
    os.utime(path, (time.time() - 100, time.time() - 100))
    with Repo(repo_path) as repo:
        repo.add(["data"])
    declare(repo_path, {"data/*.parquet": {"contract": CONTRACT}})
    with Repo(repo_path) as repo:
        assert enforce_in(repo, ["data"], strict=True, when="add") == []
        # On commit the staged content is what counts.
        with pytest.raises(ContractError, match="or commit without --strict"):
            enforce_in(repo, ["data/t.parquet"], strict=True, when="commit")


def test_enforce_on_commit_checks_the_staged_content(repo_path: Path) -> None:
    declare(repo_path, {"data/t.parquet": {"contract": CONTRACT}})
    write_table(repo_path / "data" / "t.parquet", BAD)
    with Repo(repo_path) as repo:
        repo.add(["data"])
    write_table(repo_path / "data" / "t.parquet", GOOD)  # fixed on disk, not staged
    with Repo(repo_path) as repo:
        [line] = enforce_in(repo, ["data/t.parquet"], strict=None, when="commit")
        assert line.startswith("data/t.parquet breaks its contract: id: unique")
        repo.add(["data"])
        assert enforce_in(repo, ["data/t.parquet"], strict=True, when="commit") == []


def test_enforce_with_a_malformed_contract(repo_path: Path) -> None:
    declare(repo_path, {"data/t.parquet": {"contract": {"columns": {"x": {"nope": 1}}}}})
    write_table(repo_path / "data" / "t.parquet", GOOD)
    with Repo(repo_path) as repo:
        [line] = enforce_in(repo, ["data"], strict=None, when="add")
        assert "unknown rule 'nope'" in line and line.endswith("data/t.parquet not checked")
        with pytest.raises(PipelineError, match="unknown rule 'nope'"):
            enforce_in(repo, ["data"], strict=True, when="add")


def refusal(proc: Any) -> str:
    """The one stderr line of a contract refusal (exit 1)."""
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [line] = proc.stderr.splitlines()
    return line


def test_add_and_commit_warn_or_refuse(repo_path: Path, run_mlv: Any) -> None:
    declare(repo_path, {"data/*.parquet": {"contract": CONTRACT}})
    write_table(repo_path / "data" / "t.parquet", BAD)
    assert refusal(run_mlv(repo_path, "add", "--strict", "data", expect=1)) == (
        "mlv: error: 2 contract violations in data/t.parquet: run 'mlv check' for the list; "
        "or add without --strict"
    )
    with Repo(repo_path) as repo:
        assert repo.staging.load() == {}  # the refusal staged nothing
    proc = run_mlv(repo_path, "add", "data")
    assert "mlv: warning: data/t.parquet breaks its contract: id: unique" in proc.stderr
    line = refusal(run_mlv(repo_path, "commit", "-m", "bad", "--strict", expect=1))
    assert line.endswith("or commit without --strict")
    proc = run_mlv(repo_path, "commit", "-m", "bad")
    assert "data/t.parquet breaks its contract" in proc.stderr
    # The repository's setting makes every add strict.
    config = repo_path / ".mlv" / "config.toml"
    config.write_text(config.read_text().replace("strict = false", "strict = true"))
    write_table(repo_path / "data" / "u.parquet", BAD)
    line = refusal(run_mlv(repo_path, "add", "data/u.parquet", expect=1))
    assert line.endswith("or set tables.strict = false in .mlv/config.toml")
