"""Row-level table diffs: schema, keyed and keyless rows, drift, the API and `mlv diff`."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import one_error_line
from mlv import Repo
from mlv.errors import FormatError
from mlv.tables import repo_diff, row_diff
from mlv.tables.diff import TableDiff, diff_tables
from mlv.tables.pyvalues import MINUS

VALUE_COLUMNS = ("user", "amount", "count", "flag")


# -- generated tables with edits known by construction ---------------------------------


def make_rows(n: int, rng: random.Random, first_id: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "id": first_id + i,
            "user": f"u{rng.randrange(1000)}",
            "amount": None if rng.random() < 0.05 else round(rng.uniform(-100, 100), 3),
            "count": rng.randrange(50),
            "flag": rng.random() < 0.5,
        }
        for i in range(n)
    ]


def changed_value(column: str, value: Any) -> Any:
    """A value certainly different from ``value``."""
    if column == "user":
        return value + "x"
    if column == "amount":
        return 1.5 if value is None else value + 0.25
    if column == "count":
        return value + 1
    return not value


def edit(rows: list[dict[str, Any]], rng: random.Random, *, removed: int, added: int, changed: int):
    """Remove, add and change rows; return (new rows, counts by construction)."""
    order = list(range(len(rows)))
    rng.shuffle(order)
    gone = set(order[:removed])
    touched = order[removed : removed + changed]
    new = {i: dict(r) for i, r in enumerate(rows) if i not in gone}
    per_column = dict.fromkeys(VALUE_COLUMNS, 0)
    for i in touched:
        columns = rng.sample(VALUE_COLUMNS, rng.randrange(1, len(VALUE_COLUMNS) + 1))
        for column in columns:
            new[i][column] = changed_value(column, new[i][column])
            per_column[column] += 1
    result = list(new.values()) + make_rows(added, rng, first_id=10 * len(rows) + 1)
    rng.shuffle(result)  # keyed matching must not depend on row order
    expected = {
        "added": added,
        "removed": removed,
        "changed": changed,
        "columns": {c: n for c, n in per_column.items() if n},
        "changed_ids": {rows[i]["id"] for i in touched},
        "removed_ids": {rows[i]["id"] for i in gone},
    }
    return result, expected


SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("user", pa.string()),
        ("amount", pa.float64()),
        ("count", pa.int64()),
        ("flag", pa.bool_()),
    ]
)


def write_parquet(path: Path, rows: list[dict[str, Any]], **options: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path, **options)
    return path


def write_table(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        pcsv.write_csv(table, path)
    elif path.suffix == ".feather":
        feather.write_feather(table, path)
    else:
        pq.write_table(table, path)
    return path


def assert_counts(diff: TableDiff, expected: dict[str, Any]) -> None:
    assert diff.rows.mode == "key"
    assert (diff.rows.added, diff.rows.removed, diff.rows.changed) == (
        expected["added"],
        expected["removed"],
        expected["changed"],
    )
    assert diff.rows.changed_columns == expected["columns"]
    assert set(diff.changed_rows.column("id").to_pylist()) == expected["changed_ids"]
    assert set(diff.rows.removed_rows.column("id").to_pylist()) == expected["removed_ids"]


# -- schema ----------------------------------------------------------------------------


def test_schema_changes_each_kind(tmp_path: Path) -> None:
    old = pa.table(
        {
            "id": [1, 2],
            "a": pa.array([1, 2], pa.int32()),
            "b": ["x", "y"],
            "c": [1.0, 2.0],
            "gone": [0, 0],
        }
    )
    new = pa.table(
        {
            "c": [1.0, 2.0],
            "id": [1, 2],
            "a": pa.array([1, 3], pa.int64()),
            "b": [10, 20],
            "score": [0.5, 0.5],
        }
    )
    diff = diff_tables(
        write_table(tmp_path / "o.parquet", old),
        write_table(tmp_path / "n.parquet", new),
        key=["id"],
    )
    s = diff.schema
    assert [(c.name, c.type) for c in s.added] == [("score", "double")]
    assert [(c.name, c.type) for c in s.removed] == [("gone", "int64")]
    assert [(r.name, r.old, r.new, r.compared) for r in s.retyped] == [
        ("a", "int32", "int64", True),
        ("b", "string", "int64", False),
    ]
    assert s.reordered
    # int32 -> int64 still compares values; string -> int64 is explained, not compared.
    assert diff.rows.changed_columns == {"a": 1}
    assert "b" in diff.not_compared and "values not compared" in diff.not_compared["b"]
    assert "a: int32 → int64" in diff.summary()
    assert "+1 column (score)" in diff.summary() and f"{MINUS}1 column (gone)" in diff.summary()
    assert not diff.identical


def test_same_table_is_identical_in_every_format(tmp_path: Path) -> None:
    rows = make_rows(300, random.Random(1))
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    for suffix in (".parquet", ".csv", ".feather"):
        path = write_table(tmp_path / f"t{suffix}", table)
        for key in ((), ("id",)):
            diff = diff_tables(path, path, key=key)
            assert diff.identical, (suffix, key, diff.to_json())
            assert diff.rows.unchanged == (300 if key else 0)
            assert not any(d.moved for d in diff.drift)


# -- keyed -----------------------------------------------------------------------------


def test_keyed_exact_counts_on_generated_edits(tmp_path: Path) -> None:
    rng = random.Random(7)
    rows = make_rows(5000, rng)
    new_rows, expected = edit(rows, rng, removed=120, added=75, changed=333)
    old = write_parquet(tmp_path / "old.parquet", rows)
    new = write_parquet(tmp_path / "new.parquet", new_rows)
    diff = diff_tables(old, new, key=["id"], sample=5)
    assert_counts(diff, expected)
    assert diff.rows.unchanged == 5000 - 120 - 333
    assert (diff.old_rows, diff.new_rows) == (5000, 5000 - 120 + 75)
    # Each changed row lists exactly the columns whose old and new values differ.
    by_id = {r["id"]: r for r in rows}
    for row in diff.changed_rows.to_pylist():
        before = by_id[row["id"]]
        for column in row["changed_columns"]:
            assert row[f"old.{column}"] == before[column]
            assert row[f"new.{column}"] == changed_value(column, before[column])
    sample = diff.changed_sample()
    assert len(sample) == 5 and all(item["changes"] for item in sample)
    assert diff.summary().startswith(
        f"new.parquet: 5,000 → 4,955 rows; +75 {MINUS}120 ~333 changed ("
    )


def test_composite_key(tmp_path: Path) -> None:
    old = pa.table({"user": ["a", "a", "b", "b"], "day": [1, 2, 1, 2], "v": [1, 2, 3, 4]})
    new = pa.table({"user": ["b", "a", "a", "c"], "day": [1, 2, 1, 1], "v": [3, 20, 1, 9]})
    diff = diff_tables(
        write_table(tmp_path / "o.parquet", old),
        write_table(tmp_path / "n.csv", new),
        key=["user", "day"],
    )
    assert (diff.rows.added, diff.rows.removed, diff.rows.changed) == (1, 1, 1)
    assert diff.added_sample() == [{"user": "c", "day": 1}]
    assert diff.removed_sample() == [{"user": "b", "day": 2}]
    assert diff.changed_sample() == [
        {"key": {"user": "a", "day": 2}, "changes": {"v": {"old": 2, "new": 20}}}
    ]


def test_nulls_floats_and_strings_compare_exactly(tmp_path: Path) -> None:
    nan = float("nan")
    old = pa.table(
        {
            "id": list(range(8)),
            "x": [1.0, None, None, nan, 0.0, 1.0, 2.0, 3.0],
            "s": ["a", None, "", "b", "c", "d", "e", "f"],
        }
    )
    new = pa.table(
        {
            "id": list(range(8)),
            # null = null and NaN = NaN are no change; 0.0 and -0.0 are one value;
            # null -> 5.0 and the last bit of a float are changes.
            "x": [1.0, None, 5.0, nan, -0.0, math.nextafter(1.0, 2.0), 2.0, 3.0],
            # "" and null are different; so is a changed case.
            "s": ["a", None, None, "b", "c", "d", "E", "f"],
        }
    )
    diff = diff_tables(
        write_table(tmp_path / "o.parquet", old),
        write_table(tmp_path / "n.parquet", new),
        key=["id"],
    )
    assert diff.rows.changed_columns == {"x": 2, "s": 2}
    assert sorted(diff.changed_rows.column("id").to_pylist()) == [2, 5, 6]
    x = next(d for d in diff.drift if d.name == "x")
    assert (x.old.nulls, x.new.nulls) == (2, 1)


def test_cross_format_csv_against_parquet(tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = make_rows(2000, rng)
    new_rows, expected = edit(rows, rng, removed=10, added=20, changed=30)
    old = write_table(tmp_path / "old.csv", pa.Table.from_pylist(rows, schema=SCHEMA))
    same = write_parquet(tmp_path / "same.parquet", rows)
    new = write_parquet(tmp_path / "new.parquet", new_rows)
    diff = diff_tables(old, same, key=["id"])
    assert (diff.old_format, diff.new_format) == ("csv", "parquet")
    assert not diff.rows_changed and not diff.schema.changed
    assert_counts(diff_tables(old, new, key=["id"]), expected)
    # An int32 Parquet column against the CSV's int64 is retyped but still compared.
    narrow = pa.Table.from_pylist(rows, schema=SCHEMA).set_column(
        3, "count", pa.array([r["count"] for r in rows], pa.int32())
    )
    diff = diff_tables(old, write_table(tmp_path / "narrow.parquet", narrow), key=["id"])
    assert [str(r) for r in diff.schema.retyped] == ["count: int64 → int32"]
    assert not diff.rows_changed and not diff.not_compared


def test_drift_of_nulls_mean_min_max(tmp_path: Path) -> None:
    old = pa.table({"x": [1, 2, 3, None], "s": ["b", "a", None, "c"]})
    new = pa.table({"x": [2, 4, None, None, 10], "s": ["b", "a", "c", "d", "e"]})
    diff = diff_tables(
        write_table(tmp_path / "o.parquet", old), write_table(tmp_path / "n.parquet", new)
    )
    x, s = diff.drift
    assert (x.old.nulls, x.new.nulls, x.old.mean, x.new.mean) == (1, 2, 2.0, 16 / 3)
    assert (x.old.min, x.new.min, x.old.max, x.new.max) == (1, 2, 3, 10)
    assert x.moved == ["nulls", "mean", "min", "max"]
    assert (s.old.nulls, s.new.nulls, s.old.mean, s.old.max, s.new.max) == (1, 0, None, "c", "e")
    assert s.moved == ["nulls", "max"]
    assert diff.to_json()["drift"][0] == {
        "name": "x",
        "nulls": {"old": 1, "new": 2},
        "mean": {"old": 2.0, "new": 16 / 3},
        "min": {"old": 1, "new": 2},
        "max": {"old": 3, "new": 10},
    }


def test_other_types_compare_and_serialise(tmp_path: Path) -> None:
    old = pa.table(
        {
            "id": [1, 2, 3],
            "cat": pa.array(["a", "b", "a"]).dictionary_encode(),
            "l": [[1, 2], [3], None],
            "st": [{"x": 1}, {"x": 2}, {"x": 3}],
            "ts": pa.array([1000, 2000, 3000], pa.timestamp("ms")),
            "dec": pa.array(
                [decimal.Decimal("1.50"), decimal.Decimal("2.00"), None], pa.decimal128(5, 2)
            ),
            "day": pa.array([dt.date(2024, 1, 1)] * 3),
        }
    )
    new = pa.table(
        {
            "id": [1, 2, 3],
            "cat": ["a", "c", "a"],  # no longer dictionary-encoded: the same type
            "l": [[1, 2], [3, 4], None],
            "st": [{"x": 1}, {"x": 2}, {"x": 4}],
            "ts": pa.array([1000, 2000, 3001], pa.timestamp("ms", tz="UTC")),
            "dec": pa.array(
                [decimal.Decimal("1.500"), decimal.Decimal("2.001"), None], pa.decimal128(6, 3)
            ),
            "day": pa.array([dt.datetime(2024, 1, 1)] * 3, pa.timestamp("us")),
        }
    )
    diff = diff_tables(
        write_table(tmp_path / "o.parquet", old),
        write_table(tmp_path / "n.feather", new),
        key=["id"],
    )
    assert diff.rows.changed_columns == {"cat": 1, "l": 1, "dec": 1, "st": 1, "ts": 1}
    assert not diff.not_compared
    assert {r.name for r in diff.schema.retyped} == {"ts", "dec", "day"}
    json.dumps(diff.to_json(), allow_nan=False)  # plain JSON, no default= needed


def test_json_lines_keyed(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": 1, "v": "a"}\n{"id": 2, "v": "b"}\n')
    (tmp_path / "b.jsonl").write_text(
        '{"id": 3, "v": "c"}\n{"id": 2, "v": "B"}\n{"id": 1, "v": "a"}\n'
    )
    diff = diff_tables(tmp_path / "a.jsonl", tmp_path / "b.jsonl", key=["id"])
    assert diff.changed_sample() == [{"key": {"id": 2}, "changes": {"v": {"old": "b", "new": "B"}}}]
    assert diff.added_sample() == [{"id": 3}]


# -- keyless ---------------------------------------------------------------------------


def test_keyless_multiset_with_duplicate_rows(tmp_path: Path) -> None:
    old = pa.table({"a": [1, 1, 1, 2, 3], "b": ["x", "x", "x", "y", "z"]})
    new = pa.table({"a": [2, 1, 2, 4, 3], "b": ["y", "x", "y", "w", "z"]})
    diff = diff_tables(
        write_table(tmp_path / "o.parquet", old), write_table(tmp_path / "n.feather", new)
    )
    assert diff.rows.mode == "multiset"
    assert (diff.rows.added, diff.rows.removed) == (2, 2)
    assert diff.removed_sample() == [{"a": 1, "b": "x"}, {"a": 1, "b": "x"}]
    assert diff.added_sample() == [{"a": 2, "b": "y"}, {"a": 4, "b": "w"}]
    assert diff.summary() == f"n.feather: 5 rows; +2 {MINUS}2 rows (no key)"


# -- problems explained, not raised ------------------------------------------------------


def test_duplicate_keys_fall_back_to_multiset(tmp_path: Path) -> None:
    old = pa.table({"id": [1, 2, 3, 4], "v": [1, 2, 3, 4]})
    new = pa.table({"id": [1, 7, 7, 8, 8, 8], "v": [1, 2, 3, 4, 5, 6]})
    diff = diff_tables(
        write_table(tmp_path / "o.parquet", old),
        write_table(tmp_path / "n.parquet", new),
        key=["id"],
    )
    assert diff.notes == [
        "key id is not unique in the new table: 2 duplicated values, e.g. 7; "
        "rows compared without a key"
    ]
    assert diff.rows.mode == "multiset"
    assert (diff.rows.added, diff.rows.removed) == (5, 3)


def test_missing_and_incompatible_key_columns(tmp_path: Path) -> None:
    old = write_table(tmp_path / "o.parquet", pa.table({"id": [1, 2], "k": [1, 2], "v": [1, 2]}))
    new = write_table(tmp_path / "n.parquet", pa.table({"v": [1, 3], "k": ["1", "2"]}))
    diff = diff_tables(old, new, key=["id"])
    assert diff.notes == [
        "key column id is missing from the new table; rows compared without a key"
    ]
    assert diff.rows.mode == "multiset"
    diff = diff_tables(old, new, key=["k"])
    assert diff.notes == [
        "key column k is int64 in the old table and string in the new: not comparable; "
        "rows compared without a key"
    ]
    nulls = write_table(tmp_path / "nulls.parquet", pa.table({"id": [1, None], "v": [1, 2]}))
    diff = diff_tables(old, nulls, key=["id"])
    assert diff.notes == [
        "key column id has 1 null value in the new table; rows compared without a key"
    ]


def test_not_a_table_raises_format_error(tmp_path: Path) -> None:
    good = write_table(tmp_path / "t.parquet", pa.table({"a": [1]}))
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(FormatError, match=r"bad\.parquet"):
        diff_tables(good, bad)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(FormatError, match="not a table"):
        diff_tables(text, good)


# -- streaming and limits ----------------------------------------------------------------


def test_table_larger_than_a_batch(tmp_path: Path) -> None:
    rng = random.Random(11)
    rows = make_rows(150_000, rng)
    new_rows, expected = edit(rows, rng, removed=700, added=900, changed=1500)
    old = write_parquet(tmp_path / "old.parquet", rows, row_group_size=20_000)
    new = write_parquet(tmp_path / "new.parquet", new_rows, row_group_size=33_000)
    assert pq.ParquetFile(old).num_row_groups > 5
    assert_counts(diff_tables(old, new, key=["id"]), expected)
    keyless = diff_tables(old, new)
    assert (keyless.rows.added, keyless.rows.removed) == (900 + 1500, 700 + 1500)


def test_many_changed_rows_take_several_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(5)
    rows = make_rows(3000, rng)
    new_rows, expected = edit(rows, rng, removed=0, added=0, changed=2500)
    old, new = (
        write_parquet(tmp_path / "o.parquet", rows),
        write_parquet(tmp_path / "n.parquet", new_rows),
    )
    monkeypatch.setattr(row_diff, "CHUNK_ROWS", 700)
    monkeypatch.setattr(row_diff, "ROW_LIMIT", 600)
    diff = diff_tables(old, new, key=["id"])
    assert diff.rows.changed == 2500 and diff.rows.changed_columns == expected["columns"]
    assert diff.changed_rows.num_rows == 600  # the table is bounded, the counts are not


# -- property ----------------------------------------------------------------------------

ROWS = st.lists(
    st.tuples(
        st.integers(0, 5), st.one_of(st.none(), st.floats(allow_nan=True)), st.text(max_size=3)
    ),
    max_size=30,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    old=ROWS,
    removals=st.lists(st.integers(0, 40), max_size=10),
    additions=ROWS,
    edits=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 5)), max_size=10),
)
def test_property_row_counts_balance(tmp_path: Path, old, removals, additions, edits) -> None:
    new = list(old)
    for i in sorted(set(removals), reverse=True):
        if i < len(new):
            del new[i]
    for i, value in edits:
        if i < len(new):
            new[i] = (value, new[i][1], new[i][2])
    new += additions

    def table(rows: list[tuple]) -> pa.Table:
        return pa.table(
            {
                "id": pa.array(range(len(rows)), pa.int64()),
                "n": pa.array([r[0] for r in rows], pa.int64()),
                "x": pa.array([r[1] for r in rows], pa.float64()),
                "s": pa.array([r[2] for r in rows], pa.string()),
            }
        )

    a = write_table(tmp_path / "a.parquet", table(old))
    b = write_table(tmp_path / "b.parquet", table(new))
    for key in ((), ("id",)):
        diff = diff_tables(a, b, key=key)
        assert diff.rows.added - diff.rows.removed == len(new) - len(old)
        assert diff_tables(a, a, key=key).identical

    # Without a key, the counts are those of a multiset difference of whole rows.
    def counted(rows: list[tuple]) -> Counter:
        return Counter(
            (i, n, "nan" if isinstance(x, float) and math.isnan(x) else x, text)
            for i, (n, x, text) in enumerate(rows)
        )

    keyless = diff_tables(a, b)
    assert keyless.rows.removed == sum((counted(old) - counted(new)).values())
    assert keyless.rows.added == sum((counted(new) - counted(old)).values())


# -- the repository: API and CLI ---------------------------------------------------------


@pytest.fixture
def table_repo(repo_path: Path) -> tuple[Path, dict[str, Any]]:
    """A repository whose data/t.parquet was committed (v1), then edited in the working tree."""
    rng = random.Random(21)
    rows = make_rows(3000, rng)
    write_parquet(repo_path / "data" / "t.parquet", rows)
    (repo_path / "data" / "notes.csv").write_text("a,b\n1,2\n3,4\n")
    with Repo(repo_path) as repo:
        repo.add(["data"])
        repo.commit("one")
        repo.create_tag("v1")
    new_rows, expected = edit(rows, rng, removed=40, added=60, changed=90)
    write_parquet(repo_path / "data" / "t.parquet", new_rows)
    (repo_path / "data" / "notes.csv").write_text("a,b\n1,2\n3,5\n")
    return repo_path, expected


def test_api_working_tree_and_revisions(table_repo) -> None:
    root, expected = table_repo
    with Repo(root) as repo:
        assert_counts(repo.diff_table("data/t.parquet", key=["id"]), expected)
        repo.add(["data"])
        repo.commit("two")
        between = repo.diff_table("data/t.parquet", "v1", "HEAD", key=["id"])
        assert_counts(between, expected)
        assert between.name == "data/t.parquet"
        assert repo.diff_table("data/t.parquet", "HEAD", key=["id"]).identical
        keyless = repo.diff_table("data/t.parquet", "v1", "HEAD")
        assert keyless.rows.mode == "multiset"
        # A key given as one string is that column, not its letters.
        by_name = repo.diff_table("data/t.parquet", "v1", "HEAD", key="id")
        assert by_name.rows.key == ("id",)
        assert_counts(by_name, expected)


def test_api_key_from_mlv_yaml(table_repo) -> None:
    root, expected = table_repo
    (root / "mlv.yaml").write_text("tables:\n  data/*.parquet:\n    key: [id]\n")
    with Repo(root) as repo:
        assert_counts(repo.diff_table("data/t.parquet"), expected)
        assert repo.diff_table("data/t.parquet", key=()).rows.mode == "multiset"


def test_api_csv_in_one_revision_parquet_in_the_next(repo_path: Path) -> None:
    rng = random.Random(9)
    rows = make_rows(500, rng)
    write_table(repo_path / "data" / "t.csv", pa.Table.from_pylist(rows, schema=SCHEMA))
    with Repo(repo_path) as repo:
        repo.add(["data"])
        repo.commit("csv")
        (repo_path / "data" / "t.csv").unlink()
        new_rows, expected = edit(rows, rng, removed=5, added=6, changed=7)
        write_parquet(repo_path / "data" / "t.parquet", new_rows)
        repo.add(["data"])
        repo.commit("parquet")
        diff = repo.diff_table(
            "data/t.parquet", "HEAD~1", "HEAD", key=["id"], old_path="data/t.csv"
        )
    assert (diff.old_format, diff.new_format) == ("csv", "parquet")
    assert_counts(diff, expected)


def test_big_tables_are_skipped_unless_named(table_repo, monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = table_repo
    monkeypatch.setattr(repo_diff, "MAX_IMPLICIT_BYTES", 1000)
    with Repo(root) as repo:
        changes = repo.diff()
        found = {t.path: t for t in repo.table_changes(changes)}
        assert found["data/t.parquet"].diff is None
        assert "row diff skipped" in (found["data/t.parquet"].note or "")
        assert found["data/notes.csv"].diff is not None
        named = repo.table_changes(changes, named=["data/t.parquet"], key=["id"])
        assert next(t for t in named if t.path == "data/t.parquet").diff is not None


def test_cli_plain_and_json(table_repo, run_mlv) -> None:
    root, expected = table_repo
    text = run_mlv(root, "diff").stdout
    assert "M  data/t.parquet" in text
    assert "data/t.parquet: 3,000 → 3,020 rows; +" in text  # a summary line, keyless
    assert f"data/notes.csv: 2 rows; +1 {MINUS}1 rows (no key)" in text

    report = run_mlv(root, "diff", "--key", "id", "--", "data/t.parquet").stdout
    assert "rows matched on id: 60 added, 40 removed, 90 changed, 2,870 unchanged" in report
    assert "first changed rows:" in report and "statistics drift:" in report
    changed_line = "changed columns: " + ", ".join(
        f"{c} {n}" for c, n in expected["columns"].items()
    )
    assert changed_line in report

    changes = json.loads(run_mlv(root, "diff", "--json", "--key", "id", "--", "data").stdout)
    table = next(c for c in changes if c["path"] == "data/t.parquet")["table"]
    with Repo(root) as repo:
        library = repo.diff_table("data/t.parquet", key=["id"])
    assert table == json.loads(json.dumps(library.to_json()))
    assert (
        table["rows"]["changed"] == 90 and table["rows"]["changed_columns"] == expected["columns"]
    )


def test_cli_between_revisions_with_key_from_mlv_yaml(table_repo, run_mlv) -> None:
    root, _ = table_repo
    (root / "mlv.yaml").write_text("tables:\n  data/t.parquet:\n    key: id\n")
    run_mlv(root, "add", "data")
    run_mlv(root, "commit", "-m", "two")
    changes = json.loads(run_mlv(root, "diff", "v1", "HEAD", "--json").stdout)
    table = next(c for c in changes if c["path"] == "data/t.parquet")["table"]
    assert table["rows"]["mode"] == "key"
    assert (table["rows"]["added"], table["rows"]["removed"], table["rows"]["changed"]) == (
        60,
        40,
        90,
    )
    text = run_mlv(root, "diff", "v1", "HEAD").stdout
    assert f"data/t.parquet: 3,000 → 3,020 rows; +60 {MINUS}40 ~90 changed (" in text


def test_cli_errors_are_one_line(table_repo, run_mlv) -> None:
    root, _ = table_repo
    assert "--key" in one_error_line(run_mlv(root, "diff", "--key", "id,", expect=2))
    (root / "data" / "t.parquet").write_bytes(b"not parquet at all")
    line = one_error_line(run_mlv(root, "diff", "--", "data/t.parquet", expect=2))
    assert "t.parquet" in line
    # Not named: the damaged table gets a note, and the diff still succeeds.
    text = run_mlv(root, "diff").stdout
    assert "data/t.parquet: rows not compared:" in text


def test_cli_a_csv_that_became_parquet(tmp_path: Path, run_mlv) -> None:
    rng = random.Random(11)
    rows = make_rows(500, rng)
    new_rows, expected = edit(rows, rng, removed=5, added=7, changed=9)
    root = tmp_path / "repo"
    with Repo.init(root) as repo:
        write_table(root / "data.csv", pa.Table.from_pylist(rows, schema=SCHEMA))
        repo.add(["data.csv"])
        repo.commit("as CSV")
        (root / "data.csv").unlink()
        write_parquet(root / "data.parquet", new_rows)
        repo.add(["."])
        repo.commit("as Parquet")
    args = ("diff", "HEAD~1", "HEAD", "--key", "id", "--", "data.csv", "data.parquet")
    text = run_mlv(root, *args).stdout
    assert "format: csv → parquet" in text
    changes = json.loads(run_mlv(root, *args[:1], "--json", *args[1:]).stdout)
    (added,) = [c for c in changes if c["status"] == "added"]
    assert added["path"] == "data.parquet"
    assert added["table_note"] == "compared with data.csv"
    table = added["table"]
    assert table["rows"]["added"] == expected["added"]
    assert table["rows"]["removed"] == expected["removed"]
    assert table["rows"]["changed"] == expected["changed"]
