"""Repo.table_rows: a page of a table's rows at a revision, read from the store; Parquet
by the row groups that hold the page."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlv import Repo
from mlv.errors import InvalidArgumentError, NotFoundError
from mlv.tables.rows import covering_groups


@pytest.fixture
def tables(repo_path: Path) -> Path:
    table = pa.table({"id": list(range(1000)), "name": [f"n{i}" for i in range(1000)]})
    pq.write_table(table, repo_path / "t.parquet", row_group_size=64)
    pcsv.write_csv(table, repo_path / "t.csv")
    (repo_path / "notes.txt").write_text("not a table\n")
    with Repo(repo_path) as repo:
        repo.add(["t.parquet", "t.csv", "notes.txt"])
        repo.commit("tables")
        repo.create_tag("v1")
    # The working tree moves on: the rows asked for are the committed ones.
    pq.write_table(table.slice(0, 10), repo_path / "t.parquet")
    return repo_path


@pytest.mark.parametrize("name", ["t.parquet", "t.csv"])
@pytest.mark.parametrize(("offset", "limit"), [(0, 10), (60, 10), (100, 300), (990, 50)])
def test_a_page_is_the_slice_of_the_committed_table(
    tables: Path, name: str, offset: int, limit: int
) -> None:
    with Repo(tables) as repo:
        found = repo.table_rows(name, "v1", offset=offset, limit=limit)
    assert found.total == 1000 and found.offset == offset
    wanted = list(range(offset, min(offset + limit, 1000)))
    assert found.table.column("id").to_pylist() == wanted
    assert found.table.column("name").to_pylist() == [f"n{i}" for i in wanted]


def test_past_the_end_is_no_rows(tables: Path) -> None:
    with Repo(tables) as repo:
        found = repo.table_rows("t.parquet", offset=5000, limit=10)
    assert found.total == 1000 and found.table.num_rows == 0
    assert found.table.schema.names == ["id", "name"]


def test_bad_requests(tables: Path) -> None:
    with Repo(tables) as repo:
        with pytest.raises(InvalidArgumentError, match="not a table"):
            repo.table_rows("notes.txt")
        with pytest.raises(InvalidArgumentError, match="offset"):
            repo.table_rows("t.parquet", offset=-1)
        with pytest.raises(InvalidArgumentError, match="limit"):
            repo.table_rows("t.parquet", limit=0)
        with pytest.raises(NotFoundError):
            repo.table_rows("missing.parquet")
        assert repo.stored_profile("missing.parquet") is None


def test_the_stored_profile_is_read_never_made(tables: Path) -> None:
    with Repo(tables) as repo:
        profile = repo.stored_profile("t.parquet", "v1")
        assert profile is not None and profile.rows == 1000
        assert repo.stored_profile("notes.txt") is None


@given(
    sizes=st.lists(st.integers(1, 50), min_size=0, max_size=12),
    offset=st.integers(0, 700),
    limit=st.integers(1, 200),
)
def test_covering_groups_hold_exactly_the_page(sizes: list[int], offset: int, limit: int) -> None:
    groups, skip = covering_groups(sizes, offset, limit)
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    rows = [r for g in groups for r in range(starts[g], starts[g] + sizes[g])]
    wanted = list(range(offset, min(offset + limit, sum(sizes))))
    assert rows[skip : skip + limit] == wanted
    assert groups == sorted(groups) and all(b == a + 1 for a, b in itertools.pairwise(groups))
    # No group is read that holds none of the page.
    for g in groups:
        assert starts[g] < offset + limit and starts[g] + sizes[g] > offset
