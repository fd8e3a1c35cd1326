"""Table profiles: the object's bytes, profiling each format, the distinct-count sketch,
profiles recorded on add and carried by commits, `mlv stats` and `mlv show --schema`."""

from __future__ import annotations

import json
import math
import random
import shutil
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import one_error_line
from mlv import Repo
from mlv.core.hashing import hash_bytes
from mlv.errors import FormatError, InvalidArgumentError, NotFoundError, NothingToCommitError
from mlv.model.canonical import dumps, loads
from mlv.model.tables import ColumnProfile, Profile, ProfileMap
from mlv.store.pack import KIND_META
from mlv.tables.profile import profile_file
from mlv.tables.sketch import DistinctSketch, K

# -- the profile object ----------------------------------------------------------------
#
# Pinned as the other objects are (tests/test_model.py): if this fails, the bytes and so
# the ids of stored profiles change, which needs a format version and a changes-log entry.

GOLDEN_PROFILE = Profile(
    table_format="parquet",
    rows=3,
    columns=(
        ColumnProfile("id", "int64", 0, 1, 3, 2.0, 3),
        ColumnProfile("name", "string", 1, "ann", "zoë", None, 2),
        ColumnProfile("score", "double", 0, -1.5, "Infinity", "Infinity", 3),
        ColumnProfile("when", "timestamp[ms]", 3, None, None, None, 0),
        ColumnProfile("tags", "list<item: string>", 0, None, None, None, None),
    ),
)
GOLDEN_PROFILE_BYTES = (
    '{"columns":['
    '{"distinct":3,"max":3,"mean":2.0,"min":1,"name":"id","nulls":0,"type":"int64"},'
    '{"distinct":2,"max":"zoë","mean":null,"min":"ann","name":"name","nulls":1,"type":"string"},'
    '{"distinct":3,"max":"Infinity","mean":"Infinity","min":-1.5,"name":"score","nulls":0,'
    '"type":"double"},'
    '{"distinct":0,"max":null,"mean":null,"min":null,"name":"when","nulls":3,'
    '"type":"timestamp[ms]"},'
    '{"distinct":null,"max":null,"mean":null,"min":null,"name":"tags","nulls":0,'
    '"type":"list<item: string>"}'
    '],"format":1,"rows":3,"table_format":"parquet","type":"profile"}'
).encode()
GOLDEN_PROFILE_ID = "4dc656bd7e7d3136928d750aec183283409e1916c8a4f3c68def6cf3b87a33bc"


def test_golden_profile() -> None:
    assert GOLDEN_PROFILE.to_bytes() == GOLDEN_PROFILE_BYTES
    assert GOLDEN_PROFILE.id == GOLDEN_PROFILE_ID == hash_bytes(GOLDEN_PROFILE_BYTES)
    assert Profile.from_bytes(GOLDEN_PROFILE_BYTES) == GOLDEN_PROFILE


@pytest.mark.parametrize(
    "change",
    [
        {"rows": -1},
        {"table_format": "xlsx"},
        {"columns": [{**GOLDEN_PROFILE.columns[0].to_json(), "nulls": 4}]},
        {"columns": [{**GOLDEN_PROFILE.columns[0].to_json(), "mean": "lots"}]},
        {"columns": [{**GOLDEN_PROFILE.columns[0].to_json(), "min": [1, 2]}]},
        {"columns": [{**GOLDEN_PROFILE.columns[0].to_json(), "distinct": -2}]},
    ],
)
def test_a_malformed_profile_is_refused(change: dict[str, Any]) -> None:
    # Canonical bytes, so that what is refused is the field, not the spelling.
    assert Profile.from_bytes(dumps(loads(GOLDEN_PROFILE_BYTES))) == GOLDEN_PROFILE
    doc = {**loads(GOLDEN_PROFILE_BYTES), **change}
    with pytest.raises(FormatError) as refused:
        Profile.from_bytes(dumps(doc))
    assert "canonical" not in str(refused.value)


stats = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),  # what canonical JSON holds
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["NaN", "Infinity", "-Infinity"]),
)
columns = st.builds(
    ColumnProfile,
    name=st.text(max_size=10),
    type=st.sampled_from(["int64", "double", "string", "timestamp[us, tz=UTC]"]),
    nulls=st.integers(0, 50),
    min=stats,
    max=stats,
    mean=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    distinct=st.one_of(st.none(), st.integers(0, 10**9)),
)


@given(
    st.sampled_from(["parquet", "csv", "arrow", "jsonl"]),
    st.integers(50, 10**9),
    st.lists(columns, max_size=6),
)
def test_profile_round_trips(table_format: str, rows: int, cols: list[ColumnProfile]) -> None:
    profile = Profile(table_format, rows, tuple(cols))
    data = profile.to_bytes()
    again = Profile.from_bytes(data)
    assert again == profile
    assert again.to_bytes() == data and again.id == profile.id


# -- profiling each format ---------------------------------------------------------------

BASE = datetime(2024, 1, 1)
N = 500


def sample_rows(n: int = N, seed: int = 7) -> dict[str, list[Any]]:
    rng = random.Random(seed)
    return {
        "id": list(range(n)),
        "count": [None if i % 10 == 3 else rng.randint(-50, 50) for i in range(n)],
        "price": [round(rng.uniform(0, 100), 3) for _ in range(n)],
        "label": [rng.choice(["cat", "dog", "owl", "émeu"]) for _ in range(n)],
        "seen": [BASE + timedelta(minutes=rng.randint(0, 10_000)) for _ in range(n)],
    }


def sample_table(n: int = N) -> pa.Table:
    rows = sample_rows(n)
    return pa.table(
        {
            "id": pa.array(rows["id"], pa.int64()),
            "count": pa.array(rows["count"], pa.int64()),
            "price": pa.array(rows["price"], pa.float64()),
            "label": pa.array(rows["label"], pa.string()),
            "seen": pa.array(rows["seen"], pa.timestamp("ms")),
        }
    )


def write_as(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix
    if suffix == ".parquet":
        pq.write_table(table, path)
    elif suffix in (".csv", ".tsv"):
        options = pcsv.WriteOptions(delimiter="\t" if suffix == ".tsv" else ",")
        pcsv.write_csv(table, path, write_options=options)
    elif suffix == ".feather":
        feather.write_feather(table, path)
    elif suffix == ".arrow":
        with ipc.new_stream(path, table.schema) as writer:
            writer.write_table(table, max_chunksize=100)
    elif suffix == ".jsonl":
        with open(path, "w") as out:
            for row in table.to_pylist():
                seen = row["seen"].isoformat(sep=" ")
                out.write(json.dumps({**row, "seen": seen}) + "\n")
    else:
        raise AssertionError(suffix)


FORMATS = {
    "data.parquet": "parquet",
    "data.csv": "csv",
    "data.tsv": "csv",
    "data.feather": "arrow",
    "data.arrow": "arrow",
    "data.jsonl": "jsonl",
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_is_profiled_with_exact_statistics(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_as(sample_table(), path)
    profile = profile_file(path)
    rows = sample_rows()
    assert profile.table_format == FORMATS[name]
    assert profile.rows == N
    assert [c.name for c in profile.columns] == list(rows)
    by_name = {c.name: c for c in profile.columns}
    for column in ("id", "count", "price"):
        values = [v for v in rows[column] if v is not None]
        got = by_name[column]
        assert got.nulls == N - len(values), column
        assert (got.min, got.max) == (min(values), max(values)), column
        assert got.mean == pytest.approx(sum(values) / len(values), rel=1e-12), column
        assert got.distinct == len(set(values)), column
    assert by_name["id"].type == "int64"
    label = by_name["label"]
    assert (label.type, label.nulls, label.mean) == ("string", 0, None)
    assert (label.min, label.max, label.distinct) == ("cat", "émeu", 4)
    seen = by_name["seen"]
    assert seen.type.startswith("timestamp"), seen.type
    assert datetime.fromisoformat(seen.min) == min(rows["seen"])
    assert datetime.fromisoformat(seen.max) == max(rows["seen"])
    assert seen.distinct == len(set(rows["seen"])) and seen.mean is None


def test_nulls_nans_infinities_and_texts(tmp_path: Path) -> None:
    long_text = "x" * 300
    table = pa.table(
        {
            "f": pa.array([1.0, float("nan"), None, float("inf")]),
            "g": pa.array([-0.0, 0.0, None, None], pa.float32()),
            "all_null": pa.array([None, None, None, None], pa.int32()),
            "text": pa.array(["b", long_text, None, "a"]),
            "flag": pa.array([True, None, True, False]),
            "day": pa.array([BASE.date(), None, None, (BASE + timedelta(days=3)).date()]),
            "blob": pa.array([b"\x00", b"\x01", None, b"\x00"]),
            "tags": pa.array([["a"], [], None, ["b", "c"]]),
        }
    )
    path = tmp_path / "edge.parquet"
    pq.write_table(table, path)
    profile = profile_file(path)
    c = {col.name: col for col in profile.columns}
    assert (c["f"].nulls, c["f"].min, c["f"].max, c["f"].mean) == (1, 1.0, "Infinity", "NaN")
    assert c["f"].distinct == 3
    assert (c["g"].min, c["g"].max, c["g"].distinct) == (0.0, 0.0, 1)  # -0.0 equals 0.0
    assert c["all_null"] == ColumnProfile("all_null", "int32", 4, None, None, None, 0)
    assert (c["text"].min, c["text"].max) == ("a", long_text[:100])
    assert (c["text"].nulls, c["text"].distinct) == (1, 3)
    assert (c["flag"].min, c["flag"].max, c["flag"].mean, c["flag"].distinct) == (
        False,
        True,
        None,
        2,
    )
    assert (c["day"].min, c["day"].max) == ("2024-01-01", "2024-01-04")
    assert (c["blob"].min, c["blob"].distinct) == (None, 2)
    assert (c["tags"].nulls, c["tags"].min, c["tags"].distinct) == (1, None, None)
    Profile.from_bytes(profile.to_bytes())  # every value survives canonical JSON


def test_a_streamed_table_profiles_as_the_whole(tmp_path: Path) -> None:
    # More rows than one batch (64 Ki) and many row groups / IPC batches.
    n = 150_000
    rng = random.Random(3)
    table = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "x": pa.array([rng.random() for _ in range(n)]),
            "k": pa.array([f"user{rng.randrange(20_000)}" for _ in range(n)]),
        }
    )
    grouped, whole, batched = tmp_path / "g.parquet", tmp_path / "w.parquet", tmp_path / "b.arrow"
    pq.write_table(table, grouped, row_group_size=7_000)
    pq.write_table(table, whole, row_group_size=n)
    with ipc.new_file(batched, table.schema) as writer:
        writer.write_table(table, max_chunksize=9_999)
    assert pq.ParquetFile(grouped).num_row_groups > 20
    profiles = [profile_file(p) for p in (grouped, whole, batched)]
    for profile in profiles:
        assert profile.rows == n
        ids, xs, ks = profile.columns
        assert (ids.min, ids.max, ids.mean) == (0, n - 1, (n - 1) / 2)
        assert (xs.min, xs.max) == (pc.min(table["x"]).as_py(), pc.max(table["x"]).as_py())
        assert xs.mean == pytest.approx(pc.mean(table["x"]).as_py(), rel=1e-12)
        exact = len(set(table["k"].to_pylist()))
        assert exact > K and abs(ks.distinct - exact) / exact < 0.05
        assert abs(ids.distinct - n) / n < 0.05
    # The sketch keeps the K smallest hashes, whatever the batches: the same estimate.
    for a, b in zip(profiles[0].columns, profiles[1].columns, strict=True):
        assert (a.min, a.max, a.nulls, a.distinct) == (b.min, b.max, b.nulls, b.distinct)
    assert profiles[0].columns[0] == profiles[2].columns[0]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("junk.parquet", b"PAR1 this is not parquet", "not a readable parquet table"),
        ("junk.feather", b"ARROW1\x00\x00 nope", "not a readable arrow table"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "CSV parse error"),
        ("bad.jsonl", b'{"a": 1}\n{"a": \n', "not a readable jsonl table"),
    ],
)
def test_a_malformed_table_raises_format_error(
    tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FormatError, match=problem):
        profile_file(path)


def test_a_truncated_table_raises_format_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.arrow"
    write_as(sample_table(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match=r"cut\.arrow"):
        profile_file(path)


# -- the distinct-count sketch -------------------------------------------------------------


def test_distinct_count_is_close_on_100k_values_of_known_cardinality() -> None:
    rng = random.Random(11)
    for cardinality in (30_000, 90_000):
        values = [rng.randrange(cardinality) for _ in range(100_000)]
        exact = len(set(values))
        for array in (
            pa.array(values, pa.int64()),
            pa.array([v * 0.25 for v in values]),
            pa.array([f"item-{v:07d}" for v in values]),
        ):
            sketch = DistinctSketch()
            for start in range(0, len(array), 10_000):
                sketch.add(array.slice(start, 10_000))
            estimate = sketch.estimate()
            assert estimate is not None
            assert abs(estimate - exact) / exact < 0.04, (array.type, estimate, exact)


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.lists(st.integers(-(2**63), 2**63 - 1), max_size=300).map(
            lambda v: pa.array(v, pa.int64())
        ),
        st.lists(st.floats(allow_nan=False), max_size=300).map(lambda v: pa.array(v, pa.float64())),
        st.lists(st.text(max_size=12), max_size=300).map(lambda v: pa.array(v, pa.string())),
        st.lists(st.binary(max_size=12), max_size=300).map(lambda v: pa.array(v, pa.binary())),
    ),
    st.integers(1, 50),
)
def test_below_k_the_sketch_counts_exactly_in_any_batches(values: pa.Array, size: int) -> None:
    whole, parts = DistinctSketch(), DistinctSketch()
    whole.add(values)
    for start in range(0, len(values), size):
        parts.add(values.slice(start, size))
    assert whole.estimate() == parts.estimate() == len(set(values.to_pylist()))


def test_values_longer_than_a_hashing_slice_are_counted() -> None:
    from mlv.tables.sketch import SLICE_BYTES

    long = "a" * (SLICE_BYTES + 5)
    values = [long, long, long + "b", "b" * (3 * SLICE_BYTES), "", "x", "x"]
    for kind in (pa.string(), pa.large_binary()):
        sketch = DistinctSketch()
        sketch.add(pa.array([v.encode() if kind == pa.large_binary() else v for v in values], kind))
        assert sketch.estimate() == 5


# -- recorded on add, carried by commits ----------------------------------------------------------


def profile_rows(repo: Repo) -> dict[str, str]:
    return dict(repo.index.execute("SELECT content_id, profile_id FROM profiles"))


def commit_profiles(repo: Repo, rev: str = "HEAD") -> dict[str, str]:
    """The profile map a commit names (content id -> profile id), empty when none."""
    map_id = repo.read_commit(repo.resolve(rev)).profiles
    return {} if map_id is None else ProfileMap.from_bytes(repo.store.get(map_id)).profiles


def test_add_records_profiles_and_the_commit_names_them(repo_path: Path) -> None:
    write_as(sample_table(), repo_path / "data" / "train.parquet")
    write_as(sample_table(), repo_path / "data" / "train.csv")
    (repo_path / "data" / "notes.txt").write_text("not a table\n")
    with Repo(repo_path) as repo:
        result = repo.add(["data"])
        assert result.warnings == []
        commit = repo.commit("tables")
        tree = repo.read_commit(commit).tree
        rows = profile_rows(repo)
        named = commit_profiles(repo)
        assert len(rows) == 2 and named == rows
        for name in ("train.parquet", "train.csv"):
            entry = repo.trees.entry_at(tree, f"data/{name}")
            assert entry is not None and entry.profile is None  # trees name no profile
            stored = Profile.from_bytes(repo.store.get(named[entry.id]))
            # A small table is profiled whole on add, so that it travels whole.
            assert stored == profile_file(repo_path / "data" / name) and not stored.pending
            assert repo.profile(f"data/{name}", "HEAD") == stored
        # The next commit holds the same tables: they were named by the first already.
        (repo_path / "data" / "notes.txt").write_text("still not a table\n")
        repo.add(["data"])
        repo.commit("notes")
        assert commit_profiles(repo) == {}
        write_as(sample_table(7), repo_path / "data" / "train.csv")
        repo.add(["data"])
        repo.commit("new rows")
        new_content = repo.staging.load_paths(["data/train.csv"])["data/train.csv"].id
        assert list(commit_profiles(repo)) == [new_content]


def test_a_folder_has_one_tree_id_whether_profiling_is_on_or_off(tmp_path: Path) -> None:
    trees = {}
    for setting in ("true", "false"):
        root = tmp_path / setting
        with Repo.init(root):
            pass
        config = root / ".mlv" / "config.toml"
        config.write_text(config.read_text().replace("profile = true", f"profile = {setting}"))
        write_as(sample_table(), root / "data" / "t.parquet")
        (root / "data" / "a.txt").write_text("a\n")
        with Repo(root) as repo:
            repo.add(["data"])
            commit = repo.commit("tables", when=datetime(2026, 1, 1).astimezone())
            trees[setting] = repo.read_commit(commit).tree
            assert bool(commit_profiles(repo)) is (setting == "true")
            # Profiled later, on demand: no id changes either.
            repo.profile("data/t.parquet", "HEAD")
            repo.add(["data"])
            with pytest.raises(NothingToCommitError):
                repo.commit("nothing changed")
    assert trees["true"] == trees["false"]


def test_stats_answer_the_same_after_the_index_is_rebuilt(repo_path: Path, run_mlv) -> None:
    write_as(sample_table(25), repo_path / "t.parquet")
    run_mlv(repo_path, "add", "t.parquet")
    run_mlv(repo_path, "commit", "-m", "25 rows")
    write_as(sample_table(30), repo_path / "t.parquet")
    run_mlv(repo_path, "add", "t.parquet")
    run_mlv(repo_path, "commit", "-m", "30 rows")
    asks = [("stats", "t.parquet@HEAD", "--json"), ("stats", "t.parquet@HEAD~1", "--json")]
    before = [run_mlv(repo_path, *args).stdout for args in asks]
    with Repo(repo_path) as repo:
        named = {**commit_profiles(repo, "HEAD~1"), **commit_profiles(repo, "HEAD")}
    (repo_path / ".mlv" / "index.db").unlink()
    report = json.loads(run_mlv(repo_path, "index", "rebuild", "--json").stdout)
    assert report["rebuilt"]["profiles"] == 2
    with Repo(repo_path) as repo:
        # Found again from the commits, not made again: the profiles add made, whose
        # pending figures the next look completes (as the first did).
        assert profile_rows(repo) == named
    assert [run_mlv(repo_path, *args).stdout for args in asks] == before


def test_a_large_table_is_added_with_a_quick_profile_that_the_first_look_completes(
    repo_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlv.tables import profile as profiling

    monkeypatch.setattr(profiling, "COMPLETE_BELOW", 0)  # every table counts as large
    for name in ("train.parquet", "train.csv"):
        write_as(sample_table(), repo_path / "data" / name)
    with Repo(repo_path) as repo:
        repo.add(["data"])
        repo.commit("tables")
        named = commit_profiles(repo)
        for name, pending in (
            ("train.parquet", ("distinct", "mean")),
            ("train.csv", ("distinct",)),
        ):
            entry = repo.trees.entry_at(repo.read_commit(repo.resolve("HEAD")).tree, f"data/{name}")
            assert entry is not None
            stored = Profile.from_bytes(repo.store.get(named[entry.id]))
            assert stored.pending == pending and all(c.distinct is None for c in stored.columns)
            assert stored == profile_file(repo_path / "data" / name, complete=False)
            assert repo.profile(f"data/{name}", "HEAD", complete=False) == stored
            whole = profile_file(repo_path / "data" / name)
            assert repo.profile(f"data/{name}", "HEAD") == whole and not whole.pending
            assert repo.profile(f"data/{name}", "HEAD", complete=False) == whole  # kept


def test_a_content_is_profiled_once(repo_path: Path) -> None:
    data = repo_path / "a.parquet"
    write_as(sample_table(), data)
    other = repo_path / "other.csv"
    write_as(sample_table(40), other)
    with Repo(repo_path) as repo:
        repo.add(["a.parquet", "other.csv"])
        rows = profile_rows(repo)
        content = repo.staging.load_paths(["a.parquet"])["a.parquet"].id
        other_profile = rows[repo.staging.load_paths(["other.csv"])["other.csv"].id]
        # Point the recorded profile of a.parquet's content elsewhere: a second add of that
        # content must take what is recorded, not profile it again.
        repo.records.add_profiles([(content, other_profile)])
        shutil.copy(data, repo_path / "copy.parquet")
        result = repo.add(["copy.parquet"])
        assert result.added == ["copy.parquet"]
        repo.commit("two paths, one content")
        assert commit_profiles(repo)[content] == other_profile
        assert repo.profile("copy.parquet", "HEAD", complete=False).rows == 40
        assert len(profile_rows(repo)) == 2


def test_a_run_that_writes_a_folder_of_tables_is_carried_by_its_commit(repo_path: Path) -> None:
    # The folder's id that the run records must be the one the commit's tree gives it.
    script = (
        "import pathlib; p = pathlib.Path('out'); p.mkdir(exist_ok=True); "
        "(p / 't.csv').write_text('a,b\\n1,2\\n3,4\\n'); (p / 'x.txt').write_text('x')"
    )
    with Repo(repo_path) as repo:
        run_id, run = repo.run(f'"{sys.executable}" -c "{script}"', outs=["out"])
        commit = repo.commit("run")
        entry = repo.trees.entry_at(repo.read_commit(commit).tree, "out/t.csv")
        assert entry is not None and entry.id in commit_profiles(repo)
        assert run.outs["out"].id == repo.trees.entry_at(repo.read_commit(commit).tree, "out").id
        assert run_id in repo.runs("HEAD")


def test_repo_profile_of_the_working_tree_and_a_revision(repo_path: Path) -> None:
    path = repo_path / "t.jsonl"
    write_as(sample_table(30), path)
    with Repo(repo_path) as repo:
        repo.add(["t.jsonl"])
        repo.commit("30 rows")
        write_as(sample_table(45), path)  # changed, not added
        assert repo.profile("t.jsonl").rows == 45
        assert repo.profile("t.jsonl", "HEAD").rows == 30
        # The working tree's new content was remembered: it is not staged anywhere.
        assert repo.profile(path).id in profile_rows(repo).values()
        with pytest.raises(InvalidArgumentError, match="not a table"):
            repo.profile("t.txt")
        with pytest.raises(NotFoundError):
            repo.profile("missing.csv")
        with pytest.raises(NotFoundError):
            repo.profile("missing.csv", "HEAD")


def test_a_table_committed_without_profile_is_profiled_on_demand(repo_path: Path) -> None:
    from mlv.repo.repository import Repository

    write_as(sample_table(20), repo_path / "t.parquet")
    with Repository(repo_path) as core:  # the core repository knows no tables
        core.add(["t.parquet"])
        first = core.commit("no profile")
    with Repo(repo_path) as repo:
        assert repo.read_commit(first).profiles is None
        assert repo.profile("t.parquet").rows == 20
        assert repo.profile("t.parquet", "HEAD").rows == 20
        # Remembered now: no tree names profiles, so recording one changes no id.
        assert len(profile_rows(repo)) == 1
        repo.add(["t.parquet"])
        with pytest.raises(NothingToCommitError):
            repo.commit("nothing changed")


# -- the command line ------------------------------------------------------------------------------


def test_cli_adds_damaged_tables_as_bytes_with_a_warning(repo_path: Path, run_mlv) -> None:
    write_as(sample_table(), repo_path / "good.parquet")
    data = (repo_path / "good.parquet").read_bytes()
    (repo_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    (repo_path / "junk.csv").write_bytes(b"a,b\n1,2\n3,4,5\n")
    proc = run_mlv(repo_path, "add", "good.parquet", "cut.parquet", "junk.csv")
    warnings = proc.stderr.splitlines()
    assert len(warnings) == 2, proc.stderr
    assert warnings[0].startswith("mlv: warning: cut.parquet: added as plain bytes")
    assert "not a readable parquet table" in warnings[0]
    assert warnings[1].startswith("mlv: warning: junk.csv: added as plain bytes")
    assert "CSV parse error" in warnings[1]
    assert "3 added" in proc.stdout
    run_mlv(repo_path, "commit", "-m", "three")
    with Repo(repo_path) as repo:
        assert repo.read_bytes("HEAD", "cut.parquet") == data[: len(data) // 2]
        tree = repo.read_commit(repo.resolve("HEAD")).tree
        ids = {p: repo.trees.entry_at(tree, p).id for p in ("good.parquet", "cut.parquet")}
        named = commit_profiles(repo)
    assert ids["good.parquet"] in named and ids["cut.parquet"] not in named
    assert "cut.parquet" in one_error_line(run_mlv(repo_path, "stats", "cut.parquet", expect=2))


def test_cli_stats_and_show_schema_match_the_library(repo_path: Path, run_mlv) -> None:
    path = repo_path / "data" / "t.feather"
    write_as(sample_table(60), path)
    run_mlv(repo_path, "add", "data")
    run_mlv(repo_path, "commit", "-m", "60 rows")
    write_as(sample_table(80), path)
    with Repo(repo_path) as repo:
        old, new = repo.profile("data/t.feather", "HEAD"), repo.profile("data/t.feather")

    def stats_json(*args: str) -> dict:
        got = json.loads(run_mlv(repo_path / "data", "stats", *args, "--json").stdout)
        for column in got["columns"]:
            assert column.pop("distinct_exact") is (column["distinct"] < 8192)
        return got

    assert stats_json("t.feather@HEAD") == {
        "path": "data/t.feather",
        "rev": "HEAD",
        **old.to_json(),
    }
    assert stats_json("t.feather") == {"path": "data/t.feather", "rev": None, **new.to_json()}

    text = run_mlv(repo_path, "stats", "data/t.feather@HEAD").stdout.splitlines()
    assert text[0].startswith("data/t.feather@HEAD: arrow, 60 rows, 5 columns")
    assert text[1].split() == ["column", "type", "nulls", "min", "max", "mean", "distinct"]
    assert text[2].split() == ["id", "int64", "0", "0", "59", "29.5", "60"]

    got = json.loads(run_mlv(repo_path, "show", "HEAD:data/t.feather", "--schema", "--json").stdout)
    assert got == {
        "path": "data/t.feather",
        "rev": "HEAD",
        "profile": old.id,
        "table_format": "arrow",
        "rows": 60,
        "columns": [{"name": c.name, "type": c.type} for c in old.columns],
    }
    text = run_mlv(repo_path, "show", "HEAD:data/t.feather", "--schema").stdout.splitlines()
    assert text[0] == "data/t.feather at HEAD: arrow, 60 rows"
    assert [line.split()[0] for line in text[2:]] == [c.name for c in old.columns]


def test_cli_refuses_what_is_not_a_table(repo_path: Path, run_mlv) -> None:
    (repo_path / "notes.txt").write_text("hello\n")
    run_mlv(repo_path, "add", "notes.txt")
    run_mlv(repo_path, "commit", "-m", "notes")
    for args in (
        ("stats", "notes.txt"),
        ("stats", "notes.txt@HEAD"),
        ("show", "HEAD:notes.txt", "--schema"),
    ):
        assert "not a table" in one_error_line(run_mlv(repo_path, *args, expect=2))
    assert "REV:PATH" in one_error_line(run_mlv(repo_path, "show", "HEAD", "--schema", expect=2))
    line = one_error_line(run_mlv(repo_path, "stats", "gone.csv@HEAD", expect=2))
    assert "gone.csv" in line


def test_cli_strict_add_and_commit_obey_contracts(repo_path: Path, run_mlv) -> None:
    (repo_path / "mlv.yaml").write_text(
        "tables:\n  t.csv:\n    contract:\n      columns:\n        a: {max: 10}\n"
    )
    (repo_path / "t.csv").write_text("a\n1\n50\n")
    proc = run_mlv(repo_path, "add", "--strict", "t.csv", expect=1)
    assert proc.stderr.startswith("mlv: error: ") and "t.csv" in proc.stderr
    with Repo(repo_path) as repo:
        assert repo.staging.load() == {}
    proc = run_mlv(repo_path, "add", "t.csv")
    assert "mlv: warning: t.csv breaks its contract" in proc.stderr
    run_mlv(repo_path, "commit", "--strict", "-m", "refused", expect=1)
    proc = run_mlv(repo_path, "commit", "-m", "warned")
    assert "mlv: warning: t.csv breaks its contract" in proc.stderr


def test_profile_values_are_finite_json(tmp_path: Path) -> None:
    path = tmp_path / "inf.csv"
    path.write_text("x\ninf\n-inf\n1\n")
    column = profile_file(path).columns[0]
    assert (column.min, column.max, column.mean) == ("-Infinity", "Infinity", "NaN")
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in column.to_json().values())


def test_fsck_finds_a_missing_profile(repo_path: Path, run_mlv) -> None:
    (repo_path / "t.csv").write_text("a\n1\n")
    missing = hash_bytes(b"no such profile")
    with Repo(repo_path) as repo:
        content = hash_bytes((repo_path / "t.csv").read_bytes())
        repo.add(["t.csv"])
        first = repo.commit("a table")
        # A commit whose map names a profile the store lacks: what a damaged store holds.
        map_id = repo.store.put_meta(ProfileMap({content: missing}).to_bytes(), KIND_META)
        damaged = replace(repo.read_commit(first), parents=(first,), profiles=map_id)
        commit_id = repo.store.put_meta(damaged.to_bytes(), KIND_META)
        repo.store.flush()
        repo.refs.update_head(commit_id)
    proc = run_mlv(repo_path, "fsck", expect=1)
    out = proc.stdout + proc.stderr
    assert missing in out and f"content {content[:12]} (profile map of commit" in out


def test_a_stale_profile_row_is_made_again_not_named_by_a_commit(repo_path: Path) -> None:
    """index.db is a cache: a row naming a profile the store lacks must never become
    part of a commit, where fsck would report it for as long as the commit lives."""
    (repo_path / "t.csv").write_text("a\n1\n")
    missing = hash_bytes(b"no such profile")
    with Repo(repo_path) as repo:
        content = hash_bytes((repo_path / "t.csv").read_bytes())
        repo.records.add_profiles([(content, missing)])
        repo.add(["t.csv"])
        repo.commit("a table")
        named = commit_profiles(repo)
        assert named[content] != missing
        assert profile_rows(repo)[content] == named[content]
        assert Profile.from_bytes(repo.store.get(named[content])).rows == 1


def test_profiling_on_add_can_be_turned_off(tmp_path: Path) -> None:
    with Repo.init(tmp_path) as repo:
        pq.write_table(pa.table({"x": [1, 2, 3]}), tmp_path / "t.parquet")
        config = tmp_path / ".mlv" / "config.toml"
        config.write_text(config.read_text().replace("profile = true", "profile = false"))
    with Repo(tmp_path) as repo:
        assert repo.config.tables_profile is False
        repo.add(["t.parquet"])
        commit_id = repo.commit("no profile")
        assert repo.read_commit(commit_id).profiles is None
        # Asked for, it is still made.
        assert repo.profile("t.parquet").rows == 3
    config.write_text(config.read_text().replace("profile = false", "profile = 1"))
    with pytest.raises(FormatError, match=r"tables\.profile must be true or false"):
        Repo(tmp_path)


class _Recorder:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, int, int]] = []

    def start(self, total: int, label: str) -> None:
        self.phases.append((label, total, 0))

    def advance(self, amount: int) -> None:
        label, total, done = self.phases[-1]
        self.phases[-1] = (label, total, done + amount)

    def finish(self) -> None:
        pass


def test_profiling_reports_progress_by_bytes(tmp_path: Path) -> None:
    n = 200_000  # several batches, so progress moves while the table is read
    pq.write_table(pa.table({"x": list(range(n))}), tmp_path / "big.parquet", row_group_size=50_000)
    (tmp_path / "bad.csv").write_bytes(b"\x80\n")
    size = (tmp_path / "big.parquet").stat().st_size + 2
    with Repo.init(tmp_path) as repo:
        progress = _Recorder()
        result = repo.add(["big.parquet", "bad.csv"], progress=progress)
    assert [w for w in result.warnings if "bad.csv" in w]
    assert progress.phases[-1] == ("profiling tables", size, size)
