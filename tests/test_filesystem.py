"""mlv:// and mlv.open: every version of every file, read through pandas, polars,
pyarrow, fsspec and DuckDB, by ranged reads that fetch only the chunks they cover."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlv
from helpers import flip_last_byte
from mlv import Repo
from mlv.errors import ChecksumMismatchError
from mlv.filesystem.spec import VersionedFileSystem
from mlv.model.objects import FileManifest

COLUMNS = [f"c{i}" for i in range(10)]


def wide_table(rows: int, seed: int) -> pa.Table:
    """Ten columns of random floats, so that each is a tenth of the file's bytes."""
    rng = np.random.default_rng(seed)
    return pa.table({name: rng.random(rows) for name in COLUMNS})


@pytest.fixture
def versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, pa.Table, pa.Table]:
    """A repository holding data/t.parquet at v1 and (edited) at v2, and model.bin; the
    current folder is its root."""
    root = tmp_path / "work"
    first, second = wide_table(100_000, 1), wide_table(100_000, 2)
    with Repo.init(root) as repo:
        (root / "data").mkdir()
        pq.write_table(first, root / "data/t.parquet", row_group_size=100_000)
        (root / "model.bin").write_bytes(b"weights v1")
        repo.add(["data", "model.bin"])
        repo.commit("v1")
        repo.create_tag("v1")
        pq.write_table(second, root / "data/t.parquet", row_group_size=100_000)
        (root / "model.bin").write_bytes(b"weights v2")
        repo.add(["data", "model.bin"])
        repo.commit("v2")
        repo.create_tag("v2")
    monkeypatch.chdir(root)
    return root, first, second


def fresh_fs() -> VersionedFileSystem:
    return VersionedFileSystem(skip_instance_cache=True)


def test_the_entry_point_registers_mlv_for_fsspec_without_importing_mlv() -> None:
    code = "import fsspec; print(fsspec.get_filesystem_class('mlv').__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "mlv.filesystem.spec"


def test_pandas_reads_each_version(versions: tuple[Path, pa.Table, pa.Table]) -> None:
    _, first, second = versions
    assert pd.read_parquet("mlv://v1/data/t.parquet").equals(first.to_pandas())
    assert pd.read_parquet("mlv://v2/data/t.parquet").equals(second.to_pandas())
    assert pd.read_parquet("mlv://HEAD~1/data/t.parquet").equals(first.to_pandas())
    assert pd.read_parquet("mlv://main/data/t.parquet", columns=["c3"])["c3"].equals(
        second.to_pandas()["c3"]
    )


def test_pandas_names_the_repository_through_storage_options(
    versions: tuple[Path, pa.Table, pa.Table], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, first, _ = versions
    monkeypatch.chdir(tmp_path)  # outside the repository
    frame = pd.read_parquet("mlv://v1/data/t.parquet", storage_options={"repo": str(root)})
    assert frame.equals(first.to_pandas())
    with pytest.raises(FileNotFoundError):
        pd.read_parquet("mlv://v1/data/t.parquet", storage_options={"repo": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match="not an mlv repository"):
        VersionedFileSystem(repo=tmp_path, skip_instance_cache=True).open("v1/model.bin")


def test_pyarrow_reads_a_file_and_a_folder(versions: tuple[Path, pa.Table, pa.Table]) -> None:
    _, first, second = versions
    fs = fresh_fs()
    assert pq.read_table("mlv://v1/data/t.parquet", filesystem=fs).equals(first)
    assert pq.read_table("v2/data/t.parquet", filesystem=fs, columns=["c0"]).equals(
        second.select(["c0"])
    )
    dataset = ds.dataset("v1/data/", filesystem=fs, format="parquet")
    assert dataset.count_rows() == first.num_rows
    assert dataset.to_table().equals(first)


def test_polars_reads_through_an_opened_file(versions: tuple[Path, pa.Table, pa.Table]) -> None:
    pl = pytest.importorskip("polars")
    _, first, _ = versions
    with fsspec.open("mlv://v1/data/t.parquet") as f:
        frame = pl.read_parquet(f, columns=["c1"])
    assert frame["c1"].to_list() == first["c1"].to_pylist()


def test_duckdb_reads_on_many_threads_and_gets_every_value_right(
    versions: tuple[Path, pa.Table, pa.Table],
) -> None:
    """DuckDB seeks and reads one file from several threads at once: each read must get
    the bytes its own seek asked for."""
    _, first, second = versions
    con = duckdb.connect()
    con.register_filesystem(fresh_fs())
    con.sql("SET threads = 4")
    expected_1 = sum(first["c5"].to_pylist())
    expected_2 = sum(second["c5"].to_pylist())
    for _ in range(3):
        [(got_1, rows)] = con.sql(
            "SELECT sum(c5), count(*) FROM 'mlv://v1/data/t.parquet'"
        ).fetchall()
        [(got_2,)] = con.sql(
            "SELECT sum(c5) FROM read_parquet('mlv://v2/data/t.parquet')"
        ).fetchall()
        assert rows == first.num_rows
        assert got_1 == pytest.approx(expected_1) and got_2 == pytest.approx(expected_2)
    whole = con.sql("SELECT * FROM 'mlv://v1/data/t.parquet'").to_arrow_table()
    assert whole.equals(first)


def test_one_column_reads_about_its_share_of_the_chunks(
    versions: tuple[Path, pa.Table, pa.Table],
) -> None:
    root, _, _ = versions
    size = (root / "data/t.parquet").stat().st_size
    with Repo(root) as repo:
        entry = repo.objects.entry_at(repo.read_commit(repo.resolve("v2")).tree, "data/t.parquet")
        assert entry is not None
        manifest = FileManifest.from_bytes(repo.store.get(entry.id))
    fs = fresh_fs()
    pq.read_table("v2/data/t.parquet", filesystem=fs, columns=["c4"])
    assert 0 < fs.stats.bytes < size / 5
    assert fs.stats.chunks < len(manifest.chunks) / 4
    footer = fresh_fs()
    pq.read_metadata(footer.open("v2/data/t.parquet"))
    assert footer.stats.chunks <= 3 and footer.stats.bytes < size / 20


def test_fsspec_lists_opens_and_describes(versions: tuple[Path, pa.Table, pa.Table]) -> None:
    fs = fresh_fs()
    with fsspec.open("mlv://v1/model.bin") as f:
        assert f.read() == b"weights v1"
    with fsspec.open("mlv://main/model.bin", "rt") as text:
        assert text.read() == "weights v2"
    assert fs.cat_file("v2/model.bin", start=8) == b"v2"
    assert sorted(fs.ls("v1", detail=False)) == ["v1/data", "v1/model.bin"]
    assert fs.info("v1/data")["type"] == "directory"
    info = fs.info("mlv://v1/model.bin")
    assert info["type"] == "file" and info["size"] == len(b"weights v1")
    assert fs.ukey("v1/model.bin") != fs.ukey("v2/model.bin")
    assert fs.modified("v1/model.bin").tzinfo is not None
    assert fs.glob("v1/**/*.parquet") == ["v1/data/t.parquet"]


def test_a_branch_with_a_slash_is_a_revision(
    versions: tuple[Path, pa.Table, pa.Table],
) -> None:
    root, first, _ = versions
    with Repo(root) as repo:
        repo.create_branch("feature/x", "v1")
    fs = fresh_fs()
    assert fs.cat_file("feature/x/model.bin") == b"weights v1"
    assert fs.cat_file("feature%2Fx/model.bin") == b"weights v1"
    assert pd.read_parquet("mlv://feature/x/data/t.parquet").equals(first.to_pandas())


def test_missing_revisions_paths_and_folders_are_clear_errors(
    versions: tuple[Path, pa.Table, pa.Table],
) -> None:
    fs = fresh_fs()
    with pytest.raises(FileNotFoundError, match="no revision"):
        fs.open("nope/model.bin")
    with pytest.raises(FileNotFoundError, match="no such file"):
        fs.open("v1/missing.bin")
    with pytest.raises(IsADirectoryError):
        fs.open("v1/data")
    with pytest.raises(FileNotFoundError):
        pd.read_parquet("mlv://v1/data/none.parquet")


def test_the_filesystem_is_read_only(versions: tuple[Path, pa.Table, pa.Table]) -> None:
    root, _, _ = versions
    fs = fresh_fs()
    for attempt in (
        lambda: fs.open("v1/model.bin", "wb"),
        lambda: fs.open("v1/new.bin", "ab"),
        lambda: fs.pipe_file("v1/new.bin", b"x"),
        lambda: fs.rm("v1/model.bin"),
        lambda: fs.mkdir("v1/more"),
        lambda: fs.mv("v1/model.bin", "v1/other.bin"),
        lambda: pd.DataFrame({"a": [1]}).to_parquet("mlv://v1/data/t.parquet"),
    ):
        with pytest.raises(PermissionError, match="read-only"):
            attempt()
    assert fs.cat_file("v1/model.bin") == b"weights v1"
    assert (root / "model.bin").read_bytes() == b"weights v2"


def test_a_damaged_chunk_fails_the_read(versions: tuple[Path, pa.Table, pa.Table]) -> None:
    root, _, _ = versions
    with Repo(root) as repo:
        entry = repo.objects.entry_at(repo.read_commit(repo.resolve("v1")).tree, "data/t.parquet")
        assert entry is not None
        manifest = FileManifest.from_bytes(repo.store.get(entry.id))
        flip_last_byte(repo.store, manifest.chunks[len(manifest.chunks) // 2][0])
    with pytest.raises(ChecksumMismatchError):
        pq.read_table("v1/data/t.parquet", filesystem=fresh_fs())
    # The other version shares no chunk with it and still reads.
    assert pq.read_table("v2/data/t.parquet", filesystem=fresh_fs()).num_rows == 100_000


# -- mlv.open and its ranged reads ---------------------------------------------------


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A file of many chunks, committed."""
    root = tmp_path_factory.mktemp("big") / "work"
    data = np.random.default_rng(7).integers(0, 256, 3_000_000, dtype=np.uint8).tobytes()
    with Repo.init(root) as repo:
        (root / "blob.bin").write_bytes(data)
        repo.add(["blob.bin"])
        repo.commit("blob")
    (root / "blob.bin").write_bytes(b"changed since")
    return root, data


@settings(max_examples=60, deadline=None)
@given(reads=st.lists(st.tuples(st.integers(-100, 3_100_000), st.integers(0, 600_000)), max_size=8))
def test_any_seek_and_read_gives_the_bytes_there(
    big_file: tuple[Path, bytes], reads: list[tuple[int, int]]
) -> None:
    root, data = big_file
    with mlv.open("blob.bin", "HEAD", repo=root) as f:
        assert f.size == len(data) and f.seekable() and not f.writable()
        for start, size in reads:
            if start < 0:
                with pytest.raises(ValueError):
                    f.seek(start)
                continue
            assert f.seek(start) == start
            got = f.read(size)
            assert got == data[start : start + size]
            assert f.tell() == start + len(got)
        f.seek(-10, 2)
        assert f.read() == data[-10:]
        buffer = bytearray(1000)
        f.seek(5)
        assert f.readinto(buffer) == 1000 and bytes(buffer) == data[5:1005]


def test_a_stream_read_by_turns_on_two_threads_continues_where_it_was(
    big_file: tuple[Path, bytes],
) -> None:
    """A read with no seek of its own continues the file, whichever thread reads."""
    root, data = big_file
    got: list[bytes] = []
    with mlv.open("blob.bin", repo=root) as f:
        for turn in range(6):
            reader = threading.Thread(target=lambda: got.append(f.read(100_000)))
            if turn % 2:
                reader.start()
                reader.join()
            else:
                got.append(f.read(100_000))
    assert b"".join(got) == data[:600_000]


def test_threads_that_seek_then_read_each_get_their_own_bytes(
    big_file: tuple[Path, bytes],
) -> None:
    root, data = big_file
    failures: list[int] = []
    with mlv.open("blob.bin", repo=root) as f:

        def work(seed: int) -> None:
            rng = np.random.default_rng(seed)
            for _ in range(40):
                start = int(rng.integers(0, len(data)))
                f.seek(start)
                if f.read(70_000) != data[start : start + 70_000]:
                    failures.append(start)

        threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []


def test_mlv_open_closes_its_repository_and_refuses_reads_after(
    big_file: tuple[Path, bytes],
) -> None:
    root, data = big_file
    f = mlv.open("blob.bin", repo=root)
    assert f.read(4) == data[:4]
    f.close()
    with pytest.raises(ValueError):
        f.read(1)
    with Repo(root) as repo, repo.open("blob.bin") as again:
        assert again.read(4) == data[:4]


def test_the_file_refuses_writes_and_odd_seeks(big_file: tuple[Path, bytes]) -> None:
    import io

    root, _ = big_file
    with mlv.open("blob.bin", repo=root) as f:
        with pytest.raises(io.UnsupportedOperation, match="read-only"):
            f.write(b"x")
        with pytest.raises(TypeError, match="integer"):
            f.seek(1.5)  # type: ignore[arg-type]
