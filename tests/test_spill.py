"""Diffs and uniqueness checks past the memory bound: spilled to partitions, results unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlv.tables import spill
from mlv.tables.contracts import check_table
from mlv.tables.diff import TableDiff, diff_tables

ROWS = 200_000
TINY = 1 << 20  # bytes: far less than 200,000 rows need, so they spill
ROW_GROUP = 16_384


def write(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path, row_group_size=ROW_GROUP)
    return path


def features(n: int, seed: int, first: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "id": np.arange(first, first + n, dtype=np.int64),
        "name": [f"n{i}" for i in range(first, first + n)],
        "label": rng.integers(0, 3, n).astype(np.int8),
        "score": rng.random(n),
    }


def edited(columns: dict[str, Any], seed: int) -> dict[str, Any]:
    """Labels changed in about 1 % of rows, 0.5 % of rows removed, and rows appended."""
    rng = np.random.default_rng(seed)
    n = len(columns["id"])
    out = {
        k: np.array(v) if not isinstance(v, np.ndarray) else v.copy() for k, v in columns.items()
    }
    flip = rng.random(n) < 0.01
    out["label"][flip] = (out["label"][flip] + 1) % 3
    out["score"][rng.random(n) < 0.002] = -1.0
    keep = rng.random(n) >= 0.005
    out = {k: v[keep] for k, v in out.items()}
    extra = features(n // 200, seed + 1, first=n)
    return {k: np.concatenate([v, np.asarray(extra[k])]) for k, v in out.items()}


def table(columns: dict[str, Any]) -> pa.Table:
    return pa.table({k: pa.array(v) for k, v in columns.items()})


def outcome(diff: TableDiff) -> dict[str, Any]:
    """Everything a diff reports about its rows, to compare two runs."""
    found = diff.to_json()
    found.pop("drift")
    rows = diff.rows
    for name in ("changed_rows", "added_rows", "removed_rows"):
        part = getattr(rows, name)
        found[name] = part.to_pylist() if part is not None else None
    return found


def both(old: Path, new: Path, tmp_path: Path, **options: Any) -> tuple[TableDiff, TableDiff]:
    """The diff in memory and spilled, after checking that the spill left nothing behind."""
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    whole = diff_tables(old, new, **options)
    spilled = diff_tables(old, new, memory=TINY, scratch=scratch, **options)
    assert list(scratch.iterdir()) == []
    return whole, spilled


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("pair")
    old = features(ROWS, 1)
    return write(folder / "old.parquet", table(old)), write(
        folder / "new.parquet", table(edited(old, 2))
    )


@pytest.mark.parametrize(
    "key", [("id",), ("name",), ("name", "id")], ids=["int", "string", "composite"]
)
def test_keyed_diff_spilled_is_the_same(
    pair: tuple[Path, Path], tmp_path: Path, key: tuple[str, ...]
) -> None:
    whole, spilled = both(*pair, tmp_path, key=key)
    assert whole.rows.mode == "key"
    assert whole.rows.changed > 1000 and whole.rows.added == ROWS // 200
    assert whole.rows.removed > 500
    assert outcome(spilled) == outcome(whole)


def test_rows_spilled_a_few_at_a_time_are_the_same(
    pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spill, "FLUSH_ROWS", 5_000)  # cuts batches of 16,384 rows
    whole, spilled = both(*pair, tmp_path, key=("name",))
    assert outcome(spilled) == outcome(whole)


def test_changed_pairs_in_several_passes_are_the_same(
    pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlv.tables import row_diff

    monkeypatch.setattr(row_diff, "CHUNK_ROWS", 700)  # pass two in several chunks
    whole = diff_tables(*pair, key=("id",))
    # A bound so small that the changed pairs go to files too.
    spilled = diff_tables(*pair, key=("id",), memory=4096, scratch=tmp_path)
    assert whole.rows.changed > 3 * 700
    assert outcome(spilled) == outcome(whole)
    assert list(tmp_path.iterdir()) == []


def test_keyless_diff_spilled_is_the_same(pair: tuple[Path, Path], tmp_path: Path) -> None:
    whole, spilled = both(*pair, tmp_path)
    assert whole.rows.mode == "multiset"
    assert outcome(spilled) == outcome(whole)


def test_shuffled_keys_spilled_are_the_same(tmp_path: Path) -> None:
    old = features(ROWS, 3)
    new = edited(old, 4)
    order = np.random.default_rng(5).permutation(len(new["id"]))
    new = {k: np.asarray(v)[order] for k, v in new.items()}
    a, b = write(tmp_path / "a.parquet", table(old)), write(tmp_path / "b.parquet", table(new))
    whole, spilled = both(a, b, tmp_path, key=("id",))
    assert whole.rows.changed > 1000
    assert outcome(spilled) == outcome(whole)


def test_duplicated_keys_fall_back_the_same_way(tmp_path: Path) -> None:
    old = features(ROWS, 6)
    new = edited(old, 7)
    new["id"][10:5000:7] = 77  # one key many times, and rows that now equal none
    new["id"][20_000:20_010] = 123_456
    a, b = write(tmp_path / "a.parquet", table(old)), write(tmp_path / "b.parquet", table(new))
    whole, spilled = both(a, b, tmp_path, key=("id",))
    assert whole.rows.mode == "multiset"
    assert whole.notes == [
        "key id is not unique in the new table: 2 duplicated values, e.g. 77; "
        "rows compared without a key"
    ]
    assert outcome(spilled) == outcome(whole)


def test_null_keys_fall_back_the_same_way(tmp_path: Path) -> None:
    old = features(ROWS, 8)
    new = edited(old, 9)
    names = pa.array(new["name"]).to_pylist()
    for i in range(5, ROWS, 40_000):
        names[i] = None
    new_table = table(new).set_column(1, "name", pa.array(names, pa.string()))
    a = write(tmp_path / "a.parquet", table(old))
    b = write(tmp_path / "b.parquet", new_table)
    whole, spilled = both(a, b, tmp_path, key=("name",))
    assert whole.rows.mode == "multiset"
    assert "null" in whole.notes[0]
    assert outcome(spilled) == outcome(whole)


def test_scratch_folder_is_removed_after_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = features(ROWS, 10)
    a = write(tmp_path / "a.parquet", table(old))
    b = write(tmp_path / "b.parquet", table(edited(old, 11)))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    made: list[Path] = []

    def failing_read(path: Path) -> pa.Table:
        made.append(path.parent)
        raise OSError("disk gone")

    monkeypatch.setattr(spill, "_read", failing_read)
    with pytest.raises(OSError, match="disk gone"):
        diff_tables(a, b, key=("id",), memory=TINY, scratch=scratch)
    assert made and not made[0].exists()
    assert list(scratch.iterdir()) == []


def test_partition_count_grows_with_the_rows() -> None:
    assert spill.partition_count(10, 32, 1 << 30) == spill.MIN_PARTITIONS
    assert spill.partition_count(200_000_000, 32, 1 << 30) == 64
    assert spill.partition_count(10**15, 32, 1) == spill.MAX_PARTITIONS


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    old=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3)), max_size=60),
    new=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3)), max_size=60),
    keyed=st.booleans(),
)
def test_spilled_equals_in_memory_on_random_tables(
    tmp_path: Path, old: list[tuple[int, int]], new: list[tuple[int, int]], keyed: bool
) -> None:
    def written(name: str, rows: list[tuple[int, int]]) -> Path:
        data = pa.table(
            {"k": pa.array([r[0] for r in rows], pa.int64()), "v": [r[1] for r in rows]}
        )
        path = tmp_path / name
        pq.write_table(data, path, row_group_size=7)
        return path

    a, b = written("a.parquet", old), written("b.parquet", new)
    key = ("k",) if keyed else ()
    whole = diff_tables(a, b, key=key)
    spilled = diff_tables(a, b, key=key, memory=64, scratch=tmp_path)
    assert outcome(spilled) == outcome(whole)
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == []


# -- unique ------------------------------------------------------------------------------


def unique_violations(path: Path, key: list[str], **options: Any) -> list[dict[str, Any]]:
    found = check_table(path, {"unique": [key]}, table_name="t", **options)
    return [v.to_json() for v in found]


@pytest.mark.parametrize(
    "key", [["id"], ["name"], ["name", "label"]], ids=["int", "string", "composite"]
)
def test_unique_spilled_counts_the_same(tmp_path: Path, key: list[str]) -> None:
    columns = features(ROWS, 12)
    columns["id"][1000:90_000:9] = 4242
    columns["id"][150_000:150_004] = 7
    names = np.array(columns["name"], dtype=object)
    names[50:ROWS:3] = "same"
    names[77] = None
    columns["name"] = names
    path = write(tmp_path / "t.parquet", table(columns))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    whole = unique_violations(path, key)
    spilled = unique_violations(path, key, memory=TINY, scratch=scratch)
    assert whole and whole[0]["count"] > 1000
    assert spilled == whole
    assert list(scratch.iterdir()) == []


def test_unique_spilled_finds_nothing_on_unique_keys(tmp_path: Path) -> None:
    path = write(tmp_path / "t.parquet", table(features(ROWS, 13)))
    assert unique_violations(path, ["id"], memory=TINY, scratch=tmp_path) == []
    assert unique_violations(path, ["name", "id"], memory=TINY, scratch=tmp_path) == []
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == []


# -- the bound in mlv.yaml ---------------------------------------------------------------


def test_memory_setting_is_read_from_mlv_yaml(tmp_path: Path) -> None:
    from mlv.errors import PipelineError
    from mlv.tables.config import load_table_configs

    (tmp_path / "mlv.yaml").write_text(
        "tables:\n  a.parquet:\n    memory: 512MiB\n  b.parquet:\n    memory: 2000000\n"
        "  c.parquet:\n    key: [id]\n"
    )
    assert [c.memory for c in load_table_configs(tmp_path)] == [512 << 20, 2_000_000, None]
    (tmp_path / "mlv.yaml").write_text("tables:\n  a.parquet:\n    memory: lots\n")
    with pytest.raises(PipelineError, match="memory must be a size"):
        load_table_configs(tmp_path)
