"""One statistics accumulator: `mlv stats` and `mlv diff` report the same numbers for a column."""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlv import Repo
from mlv.model.tables import ColumnProfile
from mlv.tables.diff import diff_tables
from mlv.tables.drift import STATS
from mlv.tables.formats import open_batches
from mlv.tables.profile import profile_file

SCHEMA = pa.schema(
    [
        ("i", pa.int64()),
        ("f", pa.float64()),
        ("s", pa.string()),
        ("b", pa.bool_()),
        ("t", pa.timestamp("us")),
        ("tz", pa.timestamp("ms", tz="UTC")),
    ]
)
EPOCH = dt.datetime(1970, 1, 1)

ints = st.none() | st.integers(-(2**40), 2**40)
floats = st.none() | st.sampled_from([math.nan, math.inf, -math.inf, -0.0]) | st.floats(-1e6, 1e6)
texts = st.none() | st.text(st.sampled_from("abcXYZ é€🙂"), max_size=6)
bools = st.none() | st.booleans()
stamps = st.none() | st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1))
rows = st.lists(st.tuples(ints, floats, texts, bools, stamps, stamps), max_size=40)


def _table(values: list[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*values, strict=True)) if values else [()] * len(SCHEMA)
    arrays = []
    for field, column in zip(SCHEMA, columns, strict=True):
        if field.name == "tz":
            column = tuple(
                None if v is None else v.replace(tzinfo=dt.UTC, microsecond=0) for v in column
            )
        arrays.append(pa.array(list(column), field.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _write(table: pa.Table, path: Path, batch: int) -> Path:
    """``table`` in the format ``path`` names, in several batches (row groups) of ``batch``."""
    if path.suffix == ".parquet":
        pq.write_table(table, path, row_group_size=batch)
    elif path.suffix == ".feather":
        feather.write_feather(table, path, chunksize=batch)
    else:
        pcsv.write_csv(table, path, pcsv.WriteOptions(batch_size=batch))
    return path


def _stats(column: ColumnProfile) -> dict[str, Any]:
    return {stat: getattr(column, stat) for stat in STATS}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal, NaN included (a profile stores a NaN mean as the string "NaN")."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@settings(max_examples=60, deadline=None)
@given(
    old=rows,
    new=rows,
    batch=st.integers(1, 9),
    suffix=st.sampled_from([".parquet", ".feather", ".csv"]),
)
def test_profile_and_drift_agree_on_every_column(
    old: list[tuple[Any, ...]], new: list[tuple[Any, ...]], batch: int, suffix: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        old_path = _write(_table(old), Path(folder) / f"old{suffix}", batch)
        new_path = _write(_table(new), Path(folder) / f"new{suffix}", batch)
        old_profile, new_profile = profile_file(old_path), profile_file(new_path)
        diff = diff_tables(old_path, new_path)
        batches = len(list(open_batches(new_path)[1]))
    if suffix == ".feather":  # Parquet's reader joins row groups, CSV's cuts by bytes
        assert batches == -(-len(new) // batch)  # the statistics were merged over the batches
    drift = {d.name: d for d in diff.drift}
    assert set(drift) == {c.name for c in old_profile.columns} & {
        c.name for c in new_profile.columns
    }
    for side, profile in (("old", old_profile), ("new", new_profile)):
        for column in profile.columns:
            if column.name in drift:
                reported = _stats(getattr(drift[column.name], side))
                assert _same(reported, _stats(column)), (side, column, reported)


@settings(max_examples=60, deadline=None)
@given(values=rows, batch=st.integers(1, 9))
def test_statistics_merged_over_batches_are_the_whole_columns(
    values: list[tuple[Any, ...]], batch: int
) -> None:
    table = _table(values)
    with tempfile.TemporaryDirectory() as folder:
        profile = profile_file(_write(table, Path(folder) / "t.feather", batch))
    for column in profile.columns:
        present = [v for v in table.column(column.name).to_pylist() if v is not None]
        assert column.nulls == len(values) - len(present)
        if column.name in ("i", "s", "b"):
            assert (column.min, column.max) == (
                (min(present), max(present)) if present else (None, None)
            )
    i = next(c for c in profile.columns if c.name == "i")
    ints_present = [v for v in table.column("i").to_pylist() if v is not None]
    if ints_present:
        assert math.isclose(i.mean, sum(ints_present) / len(ints_present), rel_tol=1e-12)
    else:
        assert i.mean is None


API = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@API
@given(old=rows, new=rows, batch=st.integers(1, 9))
def test_repo_profile_and_diff_table_agree(
    tmp_path_factory: Any, old: list[tuple[Any, ...]], new: list[tuple[Any, ...]], batch: int
) -> None:
    root = tmp_path_factory.mktemp("repo")
    with Repo.init(root) as repo:
        _write(_table(old), root / "t.parquet", batch)
        repo.add(["t.parquet"])
        repo.commit("old")
        _write(_table(new), root / "t.parquet", batch)
        repo.add(["t.parquet"])
        repo.commit("new", allow_empty=True)  # the two tables may be one
        before, after = repo.profile("t.parquet", "HEAD~1"), repo.profile("t.parquet", "HEAD")
        diff = repo.diff_table("t.parquet", "HEAD~1", "HEAD")
    for d in diff.drift:
        assert _same(_stats(d.old), _stats(next(c for c in before.columns if c.name == d.name)))
        assert _same(_stats(d.new), _stats(next(c for c in after.columns if c.name == d.name)))


def test_cli_stats_and_diff_report_the_same_numbers(tmp_path: Path, run_mlv) -> None:
    nan = math.nan
    t0 = dt.datetime(2024, 5, 1, 12, 30)
    old = [
        (1, 0.5, "b", True, t0, t0),
        (None, nan, None, None, None, None),
        (7, -2.25, "aé", False, t0 - dt.timedelta(days=400), t0),
    ]
    new = [*old, (-3, math.inf, "z" * 150, True, t0 + dt.timedelta(seconds=1), None)]
    root = tmp_path / "repo"
    with Repo.init(root) as repo:
        _write(_table(old), root / "t.feather", 2)
        repo.add(["t.feather"])
        repo.commit("old")
        _write(_table(new), root / "t.feather", 2)
        repo.add(["t.feather"])
        repo.commit("new")
    stats = {
        side: {
            c["name"]: c
            for c in json.loads(run_mlv(root, "stats", f"t.feather@{rev}", "--json").stdout)[
                "columns"
            ]
        }
        for side, rev in (("old", "HEAD~1"), ("new", "HEAD"))
    }
    (change,) = json.loads(
        run_mlv(root, "diff", "--json", "HEAD~1", "HEAD", "--", "t.feather").stdout
    )
    drift = change["table"]["drift"]
    assert [d["name"] for d in drift] == [f.name for f in SCHEMA]
    for d in drift:
        for side in ("old", "new"):
            reported = {stat: d[stat][side] for stat in STATS}
            assert reported == {stat: stats[side][d["name"]][stat] for stat in STATS}
    by_name = {d["name"]: d for d in drift}
    # The numbers are real ones: the new row moved every statistic it could.
    assert by_name["i"]["min"] == {"old": 1, "new": -3}
    assert by_name["f"]["max"] == {"old": 0.5, "new": "Infinity"}
    assert by_name["s"]["max"] == {"old": "b", "new": "z" * 100}
    assert by_name["t"]["max"]["new"] == "2024-05-01T12:30:01.000000"
    assert by_name["tz"]["nulls"] == {"old": 1, "new": 2}
