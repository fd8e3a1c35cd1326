"""Column types of CSV and JSON Lines: inferred from the whole file, widened where a block
after the first holds a value that does not fit, and every batch of the schema given up
front."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from mlv.errors import FormatError
from mlv.tables.formats import open_batches
from mlv.tables.textformats import TEXT_BLOCK_BYTES

# Enough bytes that the lines after them fall in a block of their own.
PAST_FIRST_BLOCK = TEXT_BLOCK_BYTES + (1 << 20)


def write_lines(path: Path, header: bytes, early: bytes, late: bytes) -> int:
    """``header``, then ``early`` repeated past the first block, then ``late``; the number
    of ``early`` lines."""
    count = PAST_FIRST_BLOCK // len(early) + 1
    path.write_bytes(header + early * count + late)
    return count


def read_all(path: Path) -> tuple[pa.Schema, list[pa.RecordBatch]]:
    schema, batches = open_batches(path)
    got = list(batches)
    assert all(batch.schema.equals(schema) for batch in got)
    return schema, got


def column(batches: list[pa.RecordBatch], name: str) -> pa.ChunkedArray:
    return pa.Table.from_batches(batches).column(name)


# -- CSV ------------------------------------------------------------------------------


def test_a_small_csv_keeps_the_types_pyarrow_infers(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d\n1,2.5,x,2024-01-02\n,3,y,2024-01-03\n")
    schema, batches = read_all(path)
    assert schema.types == [pa.int64(), pa.float64(), pa.string(), pa.date32()]
    assert column(batches, "a").to_pylist() == [1, None]


def test_an_int_column_that_gets_a_float_after_the_first_block_is_double(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    count = write_lines(path, b"a,b\n", b"1,x\n", b"2.5,y\n")
    schema, batches = read_all(path)
    assert schema.field("a").type == pa.float64()
    assert schema.field("b").type == pa.string()
    assert len(batches) > 1
    values = column(batches, "a")
    assert len(values) == count + 1
    assert values[0].as_py() == 1.0 and values[-1].as_py() == 2.5


def test_an_int_column_that_gets_text_after_the_first_block_is_string_of_the_text(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.csv"
    count = write_lines(path, b"a,b\n", b"007,1\n", b"seven,2\n")
    schema, batches = read_all(path)
    assert schema.types == [pa.string(), pa.int64()]
    values = column(batches, "a")
    assert len(values) == count + 1
    assert values[0].as_py() == "007"  # the text as written, not the int it read as
    assert values[-1].as_py() == "seven"


def test_a_column_null_in_the_first_block_takes_the_type_of_its_later_values(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.csv"
    count = write_lines(path, b"a,b\n", b",x\n", b"5,y\n")
    schema, batches = read_all(path)
    assert schema.field("a").type == pa.int64()
    values = column(batches, "a")
    assert values.null_count == count and values[-1].as_py() == 5


def test_a_date_column_that_stops_parsing_is_string(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_lines(path, b"day,n\n", b"2024-01-02,1\n", b"soon,2\n")
    schema, batches = read_all(path)
    assert schema.field("day").type == pa.string()
    values = column(batches, "day")
    assert (values[0].as_py(), values[-1].as_py()) == ("2024-01-02", "soon")


def test_a_date_column_that_gets_a_time_of_day_is_a_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_lines(path, b"when\n", b"2024-01-02\n", b"2024-01-03 04:05:06\n")
    schema, batches = read_all(path)
    assert schema.field("when").type == pa.timestamp("s")
    assert str(column(batches, "when")[-1].as_py()) == "2024-01-03 04:05:06"


def test_a_tsv_widens_as_a_csv_does(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    count = write_lines(path, b"a\tb\n", b"1\tx,y\n", b"2.5\tz\n")
    schema, batches = read_all(path)
    assert schema.types == [pa.float64(), pa.string()]
    assert len(column(batches, "b")) == count + 1
    assert column(batches, "b")[0].as_py() == "x,y"


def test_columns_of_a_widened_csv_are_read_with_the_widened_type(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_lines(path, b"a,b\n", b"1,x\n", b"2.5,y\n")
    schema, batches = open_batches(path, columns=["a"])
    got = list(batches)
    assert len(schema) == 2
    assert all(
        batch.schema.names == ["a"] and batch.schema.types == [pa.float64()] for batch in got
    )


def test_a_ragged_line_after_the_first_block_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_lines(path, b"a,b\n", b"1,2\n", b"3,4,5\n")
    with pytest.raises(FormatError, match=r"t\.csv is not a readable csv table: .*") as caught:
        open_batches(path)
    assert "\n" not in str(caught.value)


def test_an_empty_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"")
    with pytest.raises(FormatError, match="the file is empty"):
        open_batches(path)


# -- JSON Lines -----------------------------------------------------------------------


def test_json_lines_are_read_as_a_stream_of_batches(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with path.open("w") as out:
        for i in range(PAST_FIRST_BLOCK // 40 + 1):
            out.write(json.dumps({"id": i, "name": f"row {i:09d}"}) + "\n")
    count = i + 1
    schema, batches = read_all(path)
    assert schema.types == [pa.int64(), pa.string()]
    assert len(batches) > 1
    ids = column(batches, "id")
    assert len(ids) == count and ids.to_pylist()[-3:] == [count - 3, count - 2, count - 1]


@pytest.mark.parametrize(
    ("late", "type_", "first", "last"),
    [
        ('{"a": 2.5}\n', pa.float64(), 1.0, 2.5),
        ('{"a": "seven"}\n', pa.string(), "1", "seven"),
    ],
)
def test_a_json_field_int_early_and_otherwise_late_is_widened(
    tmp_path: Path, late: str, type_: pa.DataType, first: object, last: object
) -> None:
    path = tmp_path / "t.jsonl"
    count = write_lines(path, b"", b'{"a": 1, "b": true}\n', late.encode())
    schema, batches = read_all(path)
    assert schema.field("a").type == type_
    values = column(batches, "a")
    assert len(values) == count + 1
    assert (values[0].as_py(), values[-1].as_py()) == (first, last)
    assert column(batches, "b")[-1].as_py() is None  # the late line has no b


def test_json_objects_widen_field_by_field_and_keys_seen_late_are_columns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.jsonl"
    late = b'{"s": {"k": {"deep": 1}, "m": [1.5]}, "new": "x"}\n'
    count = write_lines(path, b"", b'{"s": {"k": 1}}\n', late)
    schema, batches = read_all(path)
    assert schema.field("s").type == pa.struct([("k", pa.string()), ("m", pa.list_(pa.float64()))])
    assert schema.field("new").type == pa.string()
    structs = column(batches, "s")
    assert structs[0].as_py() == {"k": "1", "m": None}
    assert structs[-1].as_py() == {"k": '{"deep":1}', "m": [1.5]}
    assert column(batches, "new").null_count == count


# -- the command line -----------------------------------------------------------------


def test_cli_profiles_a_csv_whose_type_changes_after_the_first_block(
    tmp_path: Path, run_mlv
) -> None:
    root = tmp_path / "work"
    run_mlv(tmp_path, "init", str(root))
    count = write_lines(root / "t.csv", b"a,b\n", b"1,x\n", b"2.5,y\n")
    added = run_mlv(root, "add", "t.csv")
    assert added.stderr == ""
    stats = run_mlv(root, "stats", "t.csv", "--json")
    assert stats.stderr == ""
    got = json.loads(stats.stdout)
    assert got["rows"] == count + 1
    assert [(c["name"], c["type"]) for c in got["columns"]] == [("a", "double"), ("b", "string")]
    assert got["columns"][0]["max"] == 2.5


def test_json_numbers_made_text_read_alike_in_every_block(tmp_path: Path) -> None:
    # The first block's numbers are cast by pyarrow, the mixed block's made text in
    # Python: both give 1.0 as "1".
    path = tmp_path / "t.jsonl"
    write_lines(path, b"", b'{"a": 1.0}\n', b'{"a": 1.0}\n{"a": "x"}\n{"a": [1]}\n')
    schema, batches = read_all(path)
    assert schema.field("a").type == pa.string()
    values = column(batches, "a").to_pylist()
    assert values[0] == "1" and values[-4:] == ["1", "1", "x", "[1]"]


def test_a_bad_json_line_after_the_first_block_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_lines(path, b"", b'{"a": 1}\n', b'{"a": \n')
    with pytest.raises(FormatError, match=r"t\.jsonl is not a readable jsonl table"):
        open_batches(path)


def test_a_kept_block_whose_types_are_the_files_is_not_read_twice_and_the_rest_is(
    tmp_path: Path,
) -> None:
    # The first block (floats) is the file's type and is kept; the second (ints alone)
    # is read again as double; with CRLF line ends.
    path = tmp_path / "t.csv"
    count = write_lines(path, b"a,b\r\n", b"2.5,x\r\n", b"1,y\r\n" * 300_000)
    schema, batches = read_all(path)
    assert schema.types == [pa.float64(), pa.string()]
    values = column(batches, "a")
    assert len(values) == count + 300_000
    assert values[0].as_py() == 2.5 and values[-1].as_py() == 1.0
    assert column(batches, "b")[-1].as_py() == "y"
