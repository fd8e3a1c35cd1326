"""Comparing rebuilt outputs with recorded ones, on real files of every supported family."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlv.compare import Comparison, compare_paths
from mlv.model import canonical
from mlv.model.runs import CLOSE, DIFFERENT, EQUIVALENT, IDENTICAL, MISSING

ACCEPTED_OR_BETTER = (IDENTICAL, EQUIVALENT, CLOSE)


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def sample_table(n: int = 1_000) -> pa.Table:
    rng = np.random.default_rng(7)
    return pa.table(
        {
            "id": np.arange(n, dtype=np.int64),
            "score": rng.random(n),
            "label": pa.array(["cat", "dog", "eel", "fox"] * (n // 4)),
            "ok": pa.array([i % 3 == 0 for i in range(n)]),
        }
    )


def ulp_up(values: np.ndarray, every: int) -> np.ndarray:
    moved = values.copy()
    moved[::every] = np.nextafter(moved[::every], np.inf)
    return moved


# --- any file ---------------------------------------------------------------------------


def test_identical_bytes_are_identical(tmp_path: Path) -> None:
    a = write(tmp_path / "a" / "model.bin", b"\x00\x01weights")
    b = write(tmp_path / "b" / "model.bin", b"\x00\x01weights")
    assert compare_paths(a, b) == Comparison(IDENTICAL)
    assert compare_paths(a, b, exact=True).result == IDENTICAL


def test_missing_rebuilt_output(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "x\n1\n")
    found = compare_paths(a, tmp_path / "nowhere.csv")
    assert found.result == MISSING
    assert found.to_json()["result"] == MISSING


def test_binary_file_reports_sizes_and_first_byte(tmp_path: Path) -> None:
    a = write(tmp_path / "a.bin", bytes(range(256)) * 4 + b"\x00")
    changed = bytearray(a.read_bytes()) + b"\x00\x00\x00\x00\x00"
    changed[36] = 0xFF
    b = write(tmp_path / "b.bin", bytes(changed))
    found = compare_paths(a, b)
    assert found.result == DIFFERENT
    assert found.detail == "size 1,025 → 1,030 bytes; first difference at byte 37"


def test_binary_file_of_same_size(tmp_path: Path) -> None:
    a = write(tmp_path / "a.bin", b"\x00\xff" * 10)
    b = write(tmp_path / "b.bin", b"\x00\xff" * 9 + b"\x00\xfe")
    assert compare_paths(a, b).detail == "same size (20 bytes); first difference at byte 20"


def test_text_file_counts_changed_lines(tmp_path: Path) -> None:
    lines = [f"epoch {i}: loss {1 / (i + 1):.4f}\n" for i in range(120)]
    a = write(tmp_path / "log.txt", "".join(lines))
    lines[6] = "epoch 6: diverged\n"
    lines[50:52] = ["x\n", "y\n"]
    b = write(tmp_path / "log2.txt", "".join(lines))
    found = compare_paths(a, b)
    assert found.result == DIFFERENT
    assert found.detail == "3 of 120 lines differ, first at line 7"


def test_text_file_with_inserted_lines_counts_only_those(tmp_path: Path) -> None:
    lines = [f"row {i}\n" for i in range(50)]
    a = write(tmp_path / "a.txt", "".join(lines))
    b = write(tmp_path / "b.txt", "".join([*lines[:10], "new\n", "new\n", *lines[10:]]))
    assert compare_paths(a, b).detail == "lines 50 → 52; 2 of 52 lines differ, first at line 11"


def test_text_file_differing_only_in_line_endings(tmp_path: Path) -> None:
    a = write(tmp_path / "a.txt", b"one\ntwo\n")
    b = write(tmp_path / "b.txt", b"one\r\ntwo\r\n")
    found = compare_paths(a, b)
    assert found.result == DIFFERENT
    assert "line endings" in found.detail


def test_importing_the_package_loads_no_parser() -> None:
    code = (
        "import sys, mlv.compare\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyarrow', 'numpy', 'yaml'}))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_to_json_is_plain_json(tmp_path: Path) -> None:
    found = Comparison(DIFFERENT, "x", math.inf, 3)
    doc = found.to_json()
    assert doc == {"result": DIFFERENT, "detail": "x", "max_rel_diff": "inf", "values_moved": 3}
    canonical.dumps(doc)  # refuses NaN and inf
    assert Comparison.from_json(doc) == found


# --- tables -----------------------------------------------------------------------------


def test_parquet_rewritten_with_other_layout_is_equivalent(tmp_path: Path) -> None:
    table = sample_table()
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(table, a, compression="snappy")
    pq.write_table(
        table.replace_schema_metadata({"written_by": "someone else"}),
        b,
        compression="zstd",
        row_group_size=128,
    )
    assert a.read_bytes() != b.read_bytes()
    found = compare_paths(a, b)
    assert found.result == EQUIVALENT
    assert found.values_moved == 0
    exact = compare_paths(a, b, exact=True)
    assert exact.result == DIFFERENT
    assert "equivalent without --exact" in exact.detail


def test_parquet_float_one_ulp_away_is_close(tmp_path: Path) -> None:
    table = sample_table()
    score = table.column("score").to_numpy()
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(table, a)
    pq.write_table(table.set_column(1, "score", pa.array(ulp_up(score, 10))), b)

    found = compare_paths(a, b)
    assert found.result == CLOSE
    assert found.values_moved == 100
    assert found.max_rel_diff is not None and 0 < found.max_rel_diff < 1e-15
    assert "'score'" in found.detail

    exact = compare_paths(a, b, exact=True)
    assert exact.result == DIFFERENT
    assert exact.detail.startswith("bytes differ; values within tolerance (close without --exact")
    assert exact.max_rel_diff == found.max_rel_diff

    strict = compare_paths(a, b, rtol=0)
    assert strict.result == DIFFERENT
    assert "100 rows differ in 'score'" in strict.detail
    assert compare_paths(a, b, rtol=0, atol=1e-12).result == CLOSE


def test_parquet_large_change_is_different_with_relative_difference(tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"pred": [1.0, 2.0, 4.0], "proba": [0.5, 0.5, 0.0]}), a)
    pq.write_table(pa.table({"pred": [1.0, 2.5, 4.0], "proba": [0.5, 0.5, 0.1]}), b)
    found = compare_paths(a, b)
    assert found.result == DIFFERENT
    assert found.detail == "2 rows differ in 'pred', 'proba' (largest relative difference inf)"
    assert found.values_moved == 2
    assert found.max_rel_diff == math.inf
    assert found.to_json()["max_rel_diff"] == "inf"


def test_table_shape_and_schema_changes_are_named(tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"age": [1, 2, 3], "label": ["x", "y", "z"]}), a)
    pq.write_table(
        pa.table({"age": [1.0, 2.0, 3.0, 4.0, 5.0], "score": [0.1, 0.2, 0.3, 0.4, 0.5]}), b
    )
    found = compare_paths(a, b)
    assert found.result == DIFFERENT
    assert found.detail == (
        "rows 3 → 5; column 'score' added; column 'label' removed; type of 'age' int64 → double"
    )


def test_table_type_change_alone_is_different(tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"n": pa.array([1, 2], pa.int64())}), a)
    pq.write_table(pa.table({"n": pa.array([1, 2], pa.int32())}), b)
    assert compare_paths(a, b).detail == "type of 'n' int64 → int32"


def test_table_column_order_matters(tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"x": [1], "y": [2]}), a)
    pq.write_table(pa.table({"y": [2], "x": [1]}), b)
    assert compare_paths(a, b).detail == "column order changed"


def test_table_nulls_and_nans(tmp_path: Path) -> None:
    a, b, c = (tmp_path / f"{n}.parquet" for n in "abc")
    pq.write_table(pa.table({"v": [1.0, None, math.nan], "s": ["a", None, "c"]}), a)
    pq.write_table(
        pa.table({"v": [1.0, None, math.nan], "s": ["a", None, "c"]}), b, compression="gzip"
    )
    pq.write_table(pa.table({"v": [1.0, 2.0, math.nan], "s": [None, "b", "c"]}), c)
    assert compare_paths(a, b).result == EQUIVALENT
    found = compare_paths(a, c)
    assert found.result == DIFFERENT
    assert found.detail.startswith("2 rows differ in 'v', 's'")


def test_table_non_numeric_change_is_never_close(tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"ok": [True, False], "k": ["a", "b"]}), a)
    pq.write_table(pa.table({"ok": [True, True], "k": ["a", "b"]}), b)
    found = compare_paths(a, b, rtol=1.0, atol=1.0)
    assert found.result == DIFFERENT
    assert found.detail == "1 row differs in 'ok'"


def test_integer_column_within_tolerance_is_close(tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"n": [1_000_000, 5]}), a)
    pq.write_table(pa.table({"n": [1_000_001, 5]}), b)
    assert compare_paths(a, b).result == DIFFERENT
    assert compare_paths(a, b, rtol=1e-5).result == CLOSE


def test_nested_columns_compare_row_by_row(tmp_path: Path) -> None:
    a, b, c = (tmp_path / f"{n}.parquet" for n in "abc")
    rows = [[1.0, math.nan], [], [3.0]]
    pq.write_table(pa.table({"l": rows, "s": [{"k": 1}, {"k": 2}, {"k": 3}]}), a)
    pq.write_table(pa.table({"l": rows, "s": [{"k": 1}, {"k": 2}, {"k": 3}]}), b, compression="lz4")
    pq.write_table(pa.table({"l": [[1.0, math.nan], [], [4.0]], "s": [{"k": 1}] * 3}), c)
    assert compare_paths(a, b).result == EQUIVALENT
    assert compare_paths(a, c).detail == "2 rows differ in 'l', 's'"


def test_dictionary_encoding_is_storage_not_content(tmp_path: Path) -> None:
    a, b = tmp_path / "a.arrow", tmp_path / "b.arrow"
    labels = pa.array(["x", "y", "x", "z"])
    feather.write_feather(pa.table({"label": labels}), a)
    feather.write_feather(pa.table({"label": labels.dictionary_encode()}), b)
    assert compare_paths(a, b).result == EQUIVALENT


def test_feather_compression_and_ipc_stream_are_equivalent(tmp_path: Path) -> None:
    table = sample_table(200)
    a, b, c = tmp_path / "a.feather", tmp_path / "b.feather", tmp_path / "c.feather"
    feather.write_feather(table, a, compression="uncompressed")
    feather.write_feather(table, b, compression="zstd", chunksize=50)
    with pa.OSFile(str(c), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    assert compare_paths(a, b).result == EQUIVALENT
    assert compare_paths(a, c).result == EQUIVALENT


def test_csv_float_formatting_is_equivalent(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "id,score,label\n1,0.5,cat\n2,2,dog\n")
    b = write(tmp_path / "b.csv", "id,score,label\n1,5.0e-1,cat\n2,2.000,dog\n")
    assert compare_paths(a, b).result == EQUIVALENT


def test_csv_integers_written_as_floats_are_equivalent(tmp_path: Path) -> None:
    # CSV has no types: a column of 1, 2 and one of 1.0, 2.0 hold the same numbers.
    a = write(tmp_path / "a.csv", "n,s\n1,x\n2,y\n")
    b = write(tmp_path / "b.csv", 'n,s\n1.0,x\n2.0,"y"\n')
    assert compare_paths(a, b).result == EQUIVALENT


def test_csv_written_by_different_writers_is_equivalent(tmp_path: Path) -> None:
    table = pa.table({"x": [0.1, 0.25, 1e-20], "y": ["a", "b", "c"]})
    a = tmp_path / "a.csv"
    pcsv.write_csv(table, a)
    b = write(
        tmp_path / "b.csv",
        "x,y\n" + "".join(f"{x!r},{y}\n" for x, y in zip(*table.to_pydict().values(), strict=True)),
    )
    assert a.read_bytes() != b.read_bytes()
    assert compare_paths(a, b).result == EQUIVALENT


def test_csv_changed_value_is_different(tmp_path: Path) -> None:
    a = write(tmp_path / "a.tsv", "id\tscore\n1\t0.5\n2\t0.75\n")
    b = write(tmp_path / "b.tsv", "id\tscore\n1\t0.5\n2\t0.80\n")
    found = compare_paths(a, b)
    assert found.result == DIFFERENT
    assert "1 row differs in 'score'" in found.detail


def test_jsonl_key_order_is_ignored(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", '{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    b = write(tmp_path / "b.jsonl", '{"b": "x", "a": 1.0}\n{"b":"y","a":2}\n')
    c = write(tmp_path / "c.jsonl", '{"a": 1, "b": "x"}\n{"a": 3, "b": "y"}\n')
    assert compare_paths(a, b).result == EQUIVALENT
    assert "1 row differs in 'a'" in compare_paths(a, c).detail


def test_unreadable_table_falls_back_to_bytes(tmp_path: Path) -> None:
    a = write(tmp_path / "a.parquet", b"PAR1 not really")
    b = write(tmp_path / "b.parquet", b"PAR1 not at all")
    found = compare_paths(a, b)
    assert found.result == DIFFERENT
    assert "not readable as a table" in found.detail


def _write_table(table: pa.Table, path: Path, batch: int) -> Path:
    """``table`` in the format ``path``'s suffix names, in batches of ``batch`` rows where
    the format has batches."""
    suffix = path.suffix
    if suffix in (".parquet", ".pq"):
        pq.write_table(table, path, row_group_size=batch)
    elif suffix in (".csv", ".tsv"):
        options = pcsv.WriteOptions(
            batch_size=batch,
            delimiter="\t" if suffix == ".tsv" else ",",
            # Odd batches quote no text: other bytes, the same table.
            quoting_style="none" if batch % 2 else "needed",
        )
        pcsv.write_csv(table, path, options)
    elif suffix in (".jsonl", ".ndjson"):
        lines = [
            json.dumps(row, separators=(",", ":") if batch % 2 else (", ", ": "))
            for row in table.to_pylist()
        ]
        write(path, "".join(f"{line}\n" for line in lines))
    elif suffix == ".arrow":  # the IPC stream format
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
            for piece in table.to_batches(max_chunksize=batch):
                w.write_batch(piece)
    else:
        feather.write_feather(table, path, chunksize=batch)
    return path


def test_compare_reads_tables_only_through_the_table_reader() -> None:
    import ast

    import mlv.compare
    from mlv.compare import tables
    from mlv.tables.formats import FORMAT_OF_SUFFIX

    assert set(FORMAT_OF_SUFFIX) == tables.SUFFIXES
    # pyarrow's readers, and its ways of opening a file: the table reader's work.
    readers = {"parquet", "csv", "json", "ipc", "feather", "dataset", "OSFile", "memory_map"}
    used = set()
    for source in Path(mlv.compare.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                names += [alias.name for alias in node.names]
                used |= {n.split(".")[1] for n in names if n.startswith("pyarrow.")}
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("pa", "pyarrow")
            ):
                used.add(node.attr)
    assert not used & readers


@pytest.mark.parametrize(
    "suffix", [".parquet", ".pq", ".csv", ".tsv", ".feather", ".ipc", ".arrow", ".jsonl", ".ndjson"]
)
def test_tables_of_every_format_compare_batch_by_batch(tmp_path: Path, suffix: str) -> None:
    table = sample_table(1_000)
    # Batches of 70 rows against batches of 333: the two sides' batches never line up.
    a = _write_table(table, tmp_path / f"a{suffix}", 70)
    b = _write_table(table, tmp_path / f"b{suffix}", 333)
    assert a.read_bytes() != b.read_bytes()
    assert compare_paths(a, b).result == EQUIVALENT

    # Values moved on either side of a batch boundary of each table are each counted once.
    rows = [69, 70, 332, 333, 999]
    score = table.column("score").to_numpy().copy()
    score[rows] += 1.0
    moved = _write_table(
        table.set_column(1, "score", pa.array(score)), tmp_path / f"c{suffix}", 333
    )
    found = compare_paths(a, moved)
    assert found.result == DIFFERENT
    assert found.detail.startswith("5 rows differ in 'score' (largest relative difference")
    assert found.values_moved == 5

    longer = pa.concat_tables([table, table.slice(0, 1)])
    found = compare_paths(a, _write_table(longer, tmp_path / f"d{suffix}", 333))
    assert (found.result, found.detail, found.values_moved) == (
        DIFFERENT,
        "rows 1,000 → 1,001",
        None,
    )


def test_feather_version_1_is_read_by_the_table_reader(tmp_path: Path) -> None:
    table = sample_table(100)
    a, b = tmp_path / "a.feather", tmp_path / "b.feather"
    with pytest.warns(DeprecationWarning):
        feather.write_feather(table, a, version=1)
    feather.write_feather(table, b, chunksize=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert compare_paths(a, b).result == EQUIVALENT


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count open files")
def test_a_table_comparison_leaves_no_file_open(tmp_path: Path) -> None:
    table = sample_table(300)
    pairs = [
        (_write_table(table, tmp_path / f"a{s}", 51), _write_table(table, tmp_path / f"b{s}", 70))
        for s in (".parquet", ".csv", ".feather", ".arrow", ".jsonl")
    ]
    compare_paths(*pairs[0])  # the first call loads pyarrow, which opens files of its own
    before = len(os.listdir("/proc/self/fd"))
    for a, b in pairs:
        assert compare_paths(a, b).result == EQUIVALENT
    assert len(os.listdir("/proc/self/fd")) == before


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 120),
    batches=st.tuples(st.integers(1, 50), st.integers(1, 50)),
    moved=st.sets(st.integers(0, 119), max_size=12),
)
def test_moved_values_counted_once_however_the_batches_fall(
    n: int, batches: tuple[int, int], moved: set[int]
) -> None:
    import tempfile

    table = sample_table(n + (-n % 4))[:n] if n else sample_table(4).slice(0, 0)
    rows = sorted(r for r in moved if r < n)
    score = table.column("score").to_numpy().copy()
    score[rows] = -score[rows] - 1.0
    with tempfile.TemporaryDirectory() as folder:
        a = _write_table(table, Path(folder) / "a.feather", batches[0])
        b = _write_table(
            table.set_column(1, "score", pa.array(score)), Path(folder) / "b.feather", batches[1]
        )
        found = compare_paths(a, b)
    if rows:
        assert (found.result, found.values_moved) == (DIFFERENT, len(rows))
    else:
        assert found.result in (IDENTICAL, EQUIVALENT)  # the same bytes when no batch is cut


# --- JSON and YAML ----------------------------------------------------------------------


def test_json_metrics_differing_in_last_bits_are_close(tmp_path: Path) -> None:
    a = write(tmp_path / "a.json", json.dumps({"accuracy": 0.1 + 0.2, "n": 3, "f1": 0.5}))
    b = write(tmp_path / "b.json", json.dumps({"accuracy": 0.3, "n": 3.0, "f1": 0.5}, indent=2))
    found = compare_paths(a, b)
    assert found.result == CLOSE
    assert found.values_moved == 1
    assert found.max_rel_diff is not None and 0 < found.max_rel_diff < 1e-15


def test_json_reformatted_is_equivalent_and_exact_says_so(tmp_path: Path) -> None:
    a = write(tmp_path / "a.json", '{"a": 1, "b": [true, null]}')
    b = write(tmp_path / "b.json", '{\n  "b": [true, null],\n  "a": 1.0\n}\n')
    assert compare_paths(a, b).result == EQUIVALENT
    exact = compare_paths(a, b, exact=True)
    assert exact == Comparison(
        DIFFERENT, "bytes differ; same values (equivalent without --exact)", values_moved=0
    )


def test_json_changes_are_named(tmp_path: Path) -> None:
    a = write(tmp_path / "a.json", json.dumps({"accuracy": 0.91, "n": 3, "old": 1}))
    b = write(tmp_path / "b.json", json.dumps({"accuracy": 0.87, "n": 4, "extra": {"key": 1}}))
    found = compare_paths(a, b)
    assert found.result == DIFFERENT
    assert found.detail == "changed: accuracy 0.91 → 0.87, n 3 → 4; added: extra; removed: old"


def test_json_nested_paths_and_cap(tmp_path: Path) -> None:
    a = write(tmp_path / "a.json", json.dumps({"per_class": [{"p": i} for i in range(10)]}))
    b = write(tmp_path / "b.json", json.dumps({"per_class": [{"p": -i - 1} for i in range(10)]}))
    found = compare_paths(a, b)
    assert found.detail.startswith("changed: per_class[0].p 0 → -1, per_class[1].p 1 → -2")
    assert found.detail.endswith("and 6 more")


def test_json_booleans_are_not_numbers(tmp_path: Path) -> None:
    a = write(tmp_path / "a.json", '{"flag": true, "n": 1}')
    b = write(tmp_path / "b.json", '{"flag": 1, "n": 1.0}')
    found = compare_paths(a, b, rtol=1.0)
    assert found.result == DIFFERENT
    assert found.detail == "changed: flag true → 1"


def test_json_list_length_change_is_different(tmp_path: Path) -> None:
    a = write(tmp_path / "a.json", '{"losses": [1, 2]}')
    b = write(tmp_path / "b.json", '{"losses": [1, 2, 3]}')
    assert compare_paths(a, b, rtol=1.0).detail == "changed: losses [2 items] → [3 items]"


def test_malformed_json_falls_back_to_text(tmp_path: Path) -> None:
    a = write(tmp_path / "a.json", '{"a": 1}\n')
    b = write(tmp_path / "b.json", '{"a": 1,\n')
    found = compare_paths(a, b)
    assert found.result == DIFFERENT
    assert "1 of 1 line differs, first at line 1" in found.detail
    assert "not readable as JSON" in found.detail
    same = write(tmp_path / "c.json", '{"a": 1,\n')
    assert compare_paths(b, same).result == IDENTICAL


def test_yaml_formatting_and_key_order_are_equivalent(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", "train:\n  lr: 0.1\n  layers: [64, 32]\nseed: 1\n")
    b = write(tmp_path / "b.yml", "seed: 1.0\ntrain: {layers: [64, 32], lr: 1.0e-1}\n")
    b = b.rename(tmp_path / "b.yaml")
    assert compare_paths(a, b).result == EQUIVALENT
    c = write(tmp_path / "c.yaml", "train:\n  lr: 0.2\n  layers: [64, 32]\nseed: 1\n")
    assert compare_paths(a, c).detail == "changed: train.lr 0.1 → 0.2"


def test_malformed_yaml_falls_back(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", "a: [1, 2\n")
    b = write(tmp_path / "b.yaml", "a: [1, 3\n")
    assert compare_paths(a, b).result == DIFFERENT


# --- NumPy ------------------------------------------------------------------------------


def test_npy_same_array_other_layout_is_equivalent(tmp_path: Path) -> None:
    arr = np.arange(12.0).reshape(3, 4)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, arr)
    np.save(b, np.asfortranarray(arr))
    assert a.read_bytes() != b.read_bytes()
    assert compare_paths(a, b).result == EQUIVALENT


def test_npy_close_different_and_reshaped(tmp_path: Path) -> None:
    arr = np.linspace(0.1, 1.0, 100)
    a, b, c, d = (tmp_path / f"{n}.npy" for n in "abcd")
    np.save(a, arr)
    np.save(b, ulp_up(arr, 10))
    bumped = arr.copy()
    bumped[:12] *= 1.3
    np.save(c, bumped)
    np.save(d, np.append(arr, 1.0))

    close = compare_paths(a, b)
    assert close.result == CLOSE
    assert close.values_moved == 10
    assert close.max_rel_diff is not None and close.max_rel_diff < 1e-15

    different = compare_paths(a, c)
    assert different.result == DIFFERENT
    assert different.detail == "12 of 100 values differ, largest relative difference 0.3"
    assert compare_paths(a, d).detail == "shape (100,) → (101,)"


def test_npz_names_dtypes_and_nans(tmp_path: Path) -> None:
    x = np.array([1.0, np.nan, 3.0])
    a, b, c, d = (tmp_path / f"{n}.npz" for n in "abcd")
    np.savez(a, arr_0=x, labels=np.array(["a", "b"]))
    np.savez_compressed(b, arr_0=x.copy(), labels=np.array(["a", "b"]))
    np.savez(c, arr_0=x.astype(np.float32), extra=np.zeros(2))
    np.savez(d, arr_0=np.array([1.0, np.nan, 4.0]), labels=np.array(["a", "c"]))
    assert compare_paths(a, b).result == EQUIVALENT
    assert compare_paths(a, c).detail == (
        "array 'extra' added; array 'labels' removed; dtype of 'arr_0' float64 → float32"
    )
    assert compare_paths(a, d).detail == (
        "1 of 3 values differs in 'arr_0', largest relative difference 0.33; "
        "1 of 2 values differs in 'labels'"
    )


def test_npz_integers_within_tolerance(tmp_path: Path) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(a, counts=np.array([0, 100, 2**62], dtype=np.int64))
    np.savez(b, counts=np.array([0, 101, 2**62], dtype=np.int64))
    assert compare_paths(a, b).result == DIFFERENT
    found = compare_paths(a, b, rtol=0.05)
    assert found.result == CLOSE
    assert (
        found.detail
        == "1 value in 'counts' moved within tolerance (largest relative difference 0.01)"
    )


def test_arrays_without_numpy_fall_back_to_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, np.zeros(3))
    np.save(b, np.ones(3))
    monkeypatch.setitem(sys.modules, "numpy", None)  # makes `import numpy` fail
    found = compare_paths(a, b)
    assert found.result == DIFFERENT
    assert "numpy is needed to compare values" in found.detail


def test_unreadable_npy_falls_back(tmp_path: Path) -> None:
    a = write(tmp_path / "a.npy", b"\x93NUMPY garbage")
    b = write(tmp_path / "b.npy", b"\x93NUMPY rubbish")
    assert compare_paths(a, b).result == DIFFERENT


# --- folders and symlinks ---------------------------------------------------------------


def test_folders_with_added_removed_and_changed_files(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for root in (old, new):
        write(root / "same.txt", "same\n")
        write(root / "deep" / "er" / "keep.json", '{"a": 1}')
    write(old / "c.csv", "x\n1\n")
    write(new / "a.csv", "x\n1\n")
    write(new / "b.csv", "x\n2\n")
    found = compare_paths(old, new)
    assert found.result == DIFFERENT
    assert found.detail == "2 files added: a.csv, b.csv; 1 removed: c.csv"


def test_folder_result_is_the_worst_file(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    table = pa.table({"v": [0.1, 0.2, 0.3]})
    for root in (old, new):
        write(root / "notes.txt", "same\n")
        (root / "preds").mkdir()
    pq.write_table(table, old / "preds" / "a.parquet")
    pq.write_table(table, new / "preds" / "a.parquet", compression="zstd")
    write(old / "metrics.json", '{"acc": 0.30000000000000004}')
    write(new / "metrics.json", '{"acc": 0.3}')
    found = compare_paths(old, new)
    assert found.result == CLOSE
    assert found.detail.startswith("1 of 3 files close: metrics.json (1 value moved")
    assert found.values_moved == 1

    pq.write_table(pa.table({"v": [0.1, 0.2, 0.3, 0.4]}), new / "preds" / "a.parquet")
    found = compare_paths(old, new)
    assert found.result == DIFFERENT
    assert found.detail == "1 of 3 files differs: preds/a.parquet (rows 3 → 4)"

    exact = compare_paths(old, new, exact=True)
    assert exact.result == DIFFERENT
    assert "2 of 3 files differ" in exact.detail


def test_identical_and_empty_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert compare_paths(tmp_path / "a", tmp_path / "b") == Comparison(IDENTICAL, "")
    write(tmp_path / "a" / "x.bin", b"1")
    write(tmp_path / "b" / "x.bin", b"1")
    assert compare_paths(tmp_path / "a", tmp_path / "b").result == IDENTICAL


def test_folder_against_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    write(tmp_path / "b", "x")
    assert compare_paths(tmp_path / "a", tmp_path / "b").detail == "folder → file"


@pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")
def test_symlinks_compare_by_target(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for root, target in ((old, "data/v1.csv"), (new, "data/v2.csv")):
        write(root / "data" / "v1.csv", "x\n1\n")
        write(root / "data" / "v2.csv", "x\n1\n")
        (root / "latest.csv").symlink_to(target)
        (root / "dir_link").symlink_to("data")
    found = compare_paths(old, new)
    assert found.result == DIFFERENT
    assert "latest.csv (symlink target 'data/v1.csv' → 'data/v2.csv')" in found.detail
    same = compare_paths(old / "dir_link", new / "dir_link")
    assert same.result == IDENTICAL
    (new / "latest.csv").unlink()
    write(new / "latest.csv", "x\n1\n")
    assert compare_paths(old / "latest.csv", new / "latest.csv").detail == "symlink → file"


# --- properties -------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    # Bounded so that moving a value by a relative 1e-10 cannot overflow to inf.
    | st.floats(-1e300, 1e300)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)

LAX = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _shuffled(value: Any) -> Any:
    """The same value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: _shuffled(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_shuffled(v) for v in value]
    return value


def _perturbed(value: Any, rel: float) -> Any:
    if isinstance(value, dict):
        return {k: _perturbed(v, rel) for k, v in value.items()}
    if isinstance(value, list):
        return [_perturbed(v, rel) for v in value]
    if isinstance(value, float):
        return value * (1 + rel)
    return value


@LAX
@given(value=json_values, indent=st.sampled_from([None, 1, 4]))
def test_json_reserialised_is_equivalent_or_identical(
    tmp_path: Path, value: Any, indent: int | None
) -> None:
    a = write(tmp_path / "a.json", json.dumps(value))
    b = write(tmp_path / "b.json", json.dumps(_shuffled(value), indent=indent))
    assert compare_paths(a, b).result in (IDENTICAL, EQUIVALENT)
    c = write(tmp_path / "c.yaml", yaml.safe_dump(value))
    d = write(tmp_path / "d.yaml", yaml.safe_dump(_shuffled(value), default_flow_style=True))
    assert compare_paths(c, d).result in (IDENTICAL, EQUIVALENT)


@LAX
@given(value=json_values, rel=st.floats(-1e-10, 1e-10))
def test_json_floats_moved_within_rtol_are_close_or_better(
    tmp_path: Path, value: Any, rel: float
) -> None:
    a = write(tmp_path / "a.json", json.dumps(value))
    b = write(tmp_path / "b.json", json.dumps(_perturbed(value, rel)))
    found = compare_paths(a, b, rtol=1e-9)
    assert found.result in ACCEPTED_OR_BETTER, found
    if found.result == CLOSE:
        assert found.max_rel_diff is not None and found.max_rel_diff <= 1e-9


finite = st.floats(-1e6, 1e6, allow_nan=False)


@LAX
@given(
    values=st.lists(finite | st.just(math.nan), min_size=1, max_size=50),
    rel=st.floats(-1e-10, 1e-10),
)
def test_tables_and_arrays_moved_within_rtol_are_close_or_better(
    tmp_path: Path, values: list[float], rel: float
) -> None:
    moved = [v * (1 + rel) for v in values]
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"v": values}), a)
    pq.write_table(pa.table({"v": moved}), b, row_group_size=7)
    assert compare_paths(a, b, rtol=1e-9).result in ACCEPTED_OR_BETTER
    c, d = tmp_path / "c.npy", tmp_path / "d.npy"
    np.save(c, np.array(values))
    np.save(d, np.array(moved))
    assert compare_paths(c, d, rtol=1e-9).result in ACCEPTED_OR_BETTER
    # Only where a value really moved: a tiny one (5e-324) times 1 + rel can round back.
    if any(m != v for v, m in zip(values, moved, strict=True) if not math.isnan(v)):
        assert compare_paths(c, d, rtol=0).result == DIFFERENT


def _alias_bomb(leaf: str) -> str:
    lines = [f'l0: &l0 ["{leaf}", "{leaf}", "{leaf}", "{leaf}", "{leaf}", "{leaf}", "{leaf}"]']
    for i in range(1, 10):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 7) + "]")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_among_outputs_is_compared_as_bytes_quickly(tmp_path: Path) -> None:
    """Walking a bomb's 40 million shared values would take hours; it is refused at once."""
    a = write(tmp_path / "a.yaml", _alias_bomb("x"))
    b = write(tmp_path / "b.yaml", _alias_bomb("y"))
    script = (
        "import sys; from pathlib import Path; from mlv.compare import compare_paths; "
        "print(compare_paths(Path(sys.argv[1]), Path(sys.argv[2])).result)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(a), str(b)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == DIFFERENT
