"""Profiles against the truth: the quick profile ``add`` stores (a Parquet footer, or one
pass without the distinct sketch) and the complete one, each figure compared with a
direct computation in Python over the same generated table: NaN, nulls, all-null
columns, nested types, timestamps with zones, row groups of nulls."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlv.model.tables import ColumnProfile, Profile
from mlv.tables.footer import trusted_writer
from mlv.tables.profile import profile_file
from mlv.tables.sketch import K

ROWS = 3000


def generated() -> pa.Table:
    n = ROWS
    ints = [None if i % 7 == 0 else (i * 7919) % 1000 - 500 for i in range(n)]
    floats = [
        float("nan") if i % 11 == 0 else None if i % 13 == 0 else i / 3 - 400 for i in range(n)
    ]
    base = 1_700_000_000_000_000
    return pa.table(
        {
            "int": pa.array(ints, pa.int64()),
            "small": pa.array([i % 100 for i in range(n)], pa.int8()),
            "float": pa.array(floats, pa.float64()),
            "all_nan": pa.array([float("nan")] * n, pa.float32()),
            "all_null": pa.array([None] * n, pa.int32()),
            "nothing": pa.nulls(n),
            # Null for the whole of the first row groups, then values.
            "sparse": pa.array([None if i < 1200 else i for i in range(n)], pa.int64()),
            "text": pa.array([None if i % 5 == 0 else f"v{(i * 31) % 977}" for i in range(n)]),
            "flag": pa.array([None if i % 9 == 0 else i % 2 == 0 for i in range(n)]),
            "paris": pa.array(
                [base + i * 3_600_000_000 for i in range(n)], pa.timestamp("us", tz="Europe/Paris")
            ),
            "utc_ns": pa.array(
                [None if i % 4 == 0 else (base + i) * 1000 + 7 for i in range(n)],
                pa.timestamp("ns", tz="UTC"),
            ),
            "seconds": pa.array([1_700_000_000 + i for i in range(n)], pa.timestamp("s")),
            "day": pa.array([19_000 + i % 400 for i in range(n)], pa.date32()),
            "clock": pa.array(
                [(i * 1_000_003) % 86_400_000_000 for i in range(n)], pa.time64("us")
            ),
            "money": pa.array(
                [
                    None if i % 3 == 0 else __import__("decimal").Decimal(f"{i}.25")
                    for i in range(n)
                ],
                pa.decimal128(10, 2),
            ),
            "tags": pa.array([None if i % 6 == 0 else [i, i + 1] for i in range(n)]),
            "point": pa.array(
                [None if i % 8 == 0 else {"x": i, "y": str(i)} for i in range(n)],
                pa.struct([("x", pa.int64()), ("y", pa.string())]),
            ),
            "blob": pa.array([None if i % 10 == 0 else bytes([i % 256]) for i in range(n)]),
        }
    )


def truth(column: pa.ChunkedArray) -> dict[str, Any]:
    """Each statistic computed directly in Python, independently of mlv's statistics."""
    kind = column.type
    values = column.to_pylist()
    valid = [v for v in values if v is not None]
    found: dict[str, Any] = {"nulls": len(values) - len(valid)}
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_time(kind):
        width = pa.int32() if kind.bit_width == 32 else pa.int64()
        numbers = [v for v in column.cast(width).to_pylist() if v is not None]
        for name, pick in (("min", min), ("max", max)):
            text = pc.cast(pa.scalar(pick(numbers), width).cast(kind), pa.string()).as_py()
            found[name] = text.replace(" ", "T", 1)
        found["distinct"] = len(set(numbers))
        return found
    if pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_null(kind):
        found.update(min=None, max=None, mean=None)
        return found
    if pa.types.is_floating(kind):
        numbers = [v for v in valid if not math.isnan(v)]
        found["min"] = min(numbers) if numbers else ("NaN" if valid else None)
        found["max"] = max(numbers) if numbers else ("NaN" if valid else None)
        found["mean"] = (
            None
            if not valid
            else "NaN"
            if len(numbers) < len(valid)
            else math.fsum(numbers) / len(numbers)
        )
        return found
    if isinstance(valid[0] if valid else None, bool) or pa.types.is_boolean(kind):
        found.update(
            min=min(valid) if valid else None, max=max(valid) if valid else None, mean=None
        )
    elif pa.types.is_decimal(kind):
        found.update(min=str(min(valid)), max=str(max(valid)))
        found["mean"] = float(sum(valid) / len(valid))
    elif pa.types.is_string(kind):
        found.update(min=min(valid), max=max(valid), mean=None)
    else:
        found.update(min=min(valid) if valid else None, max=max(valid) if valid else None)
        found["mean"] = math.fsum(valid) / len(valid) if valid else None
    found["distinct"] = len(set(valid))
    return found


def same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(got, int | float):
        return got == pytest.approx(want, rel=1e-9, abs=1e-9)
    return bool(got == want)


def check(profile: Profile, table: pa.Table, *, figures: tuple[str, ...]) -> None:
    assert profile.rows == table.num_rows
    by_name: dict[str, ColumnProfile] = {c.name: c for c in profile.columns}
    for name in table.column_names:
        got, want = by_name[name], truth(table[name])
        for figure in figures:
            if figure not in want:
                continue
            if figure == "distinct" and (want["distinct"] >= K or got.distinct is None):
                # Exact only below the sketch's size (and shown with '~' above it); None
                # for types that cannot be hashed.
                assert got.distinct is None or want["distinct"] >= K, name
                continue
            assert same(getattr(got, figure), want[figure]), (
                name,
                figure,
                getattr(got, figure),
                want[figure],
            )


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return generated()


def test_a_parquet_footer_gives_the_exact_figures(table: pa.Table, tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=500)
    table = pq.read_table(path)  # as pyarrow reads it back (timestamp[s] comes back ms)
    quick = profile_file(path, complete=False, complete_below=0)
    assert quick.pending == ("distinct", "mean")
    assert all(c.mean is None and c.distinct is None for c in quick.columns)
    check(quick, table, figures=("nulls", "min", "max"))
    whole = profile_file(path)
    assert whole.pending == ()
    check(whole, table, figures=("nulls", "min", "max", "mean", "distinct"))


def test_a_parquet_file_without_statistics_is_read_instead(table: pa.Table, tmp_path: Path) -> None:
    path = tmp_path / "bare.parquet"
    pq.write_table(table, path, row_group_size=700, write_statistics=False)
    table = pq.read_table(path)
    check(
        profile_file(path, complete=False, complete_below=0), table, figures=("nulls", "min", "max")
    )


def test_a_parquet_file_from_another_writer_is_read_instead(
    table: pa.Table, tmp_path: Path
) -> None:
    import duckdb

    path = tmp_path / "duck.parquet"
    flat = table.select(["int", "float", "text", "flag", "sparse"])
    con = duckdb.connect()
    con.register("flat", flat)
    con.sql(f"COPY flat TO '{path}' (FORMAT parquet)")
    assert not trusted_writer(pq.ParquetFile(path).metadata.created_by)  # read, not trusted
    quick = profile_file(path, complete=False, complete_below=0)
    check(quick, pq.read_table(path), figures=("nulls", "min", "max"))


@pytest.mark.parametrize("suffix", [".csv", ".feather"])
def test_other_formats_leave_only_the_distinct_count_pending(
    table: pa.Table, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"t{suffix}"
    if suffix == ".csv":
        flat = table.select(["int", "float", "text", "sparse", "all_null"])
        pacsv.write_csv(flat, path)
        read_back = pacsv.read_csv(path)
    else:
        read_back = table
        feather.write_feather(table, path)
    quick = profile_file(path, complete=False, complete_below=0)
    assert quick.pending == ("distinct",)
    check(quick, read_back, figures=("nulls", "min", "max", "mean"))
    check(profile_file(path), read_back, figures=("nulls", "min", "max", "mean", "distinct"))


finite = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e12, max_value=1e12)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), finite, st.just(float("nan"))), min_size=1, max_size=300),
    groups=st.integers(1, 50),
)
def test_any_float_column_profiles_the_same_from_the_footer(
    values: list[float | None], groups: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    table = pa.table({"x": pa.array(values, pa.float64()), "n": list(range(len(values)))})
    path = tmp_path_factory.mktemp("floats") / "t.parquet"
    pq.write_table(table, path, row_group_size=groups)
    check(
        profile_file(path, complete=False, complete_below=0), table, figures=("nulls", "min", "max")
    )
    check(profile_file(path), table, figures=("nulls", "min", "max", "mean"))


def test_integers_past_two_to_the_53_profile(tmp_path: Path) -> None:
    big = [2**62, 1, None, 2**62 + 1]
    table = pa.table(
        {"id": pa.array(big, pa.int64()), "u": pa.array([2**63 + 5, 0, 1, 2], pa.uint64())}
    )
    path = tmp_path / "big.parquet"
    pq.write_table(table, path)
    whole = profile_file(path)
    assert whole.columns[0].min == 1 and whole.columns[0].max == 2**62 + 1
    assert whole.columns[1].max == 2**63 + 5
    pacsv.write_csv(table.select(["id"]), tmp_path / "big.csv")
    assert profile_file(tmp_path / "big.csv").columns[0].max == 2**62 + 1
