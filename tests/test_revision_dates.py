"""``NAME@{WHEN}``: the commit current on a branch at a time, by the first-parent chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import RunMlv
from helpers import one_error_line
from mlv import Repo
from mlv.core.timeparse import parse_when
from mlv.errors import InvalidArgumentError, NotFoundError
from mlv.model.objects import Commit, Person
from mlv.repo.revisions import commit_at, resolve_at_time, split_at, split_revision

ADA = Person("Ada", "ada@example.com")
UTC_ENV = {"TZ": "UTC"}


def _day(d: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, d, hour, tzinfo=UTC)


@pytest.fixture
def dated(repo_path: Path, commit_files: Any) -> dict[str, str]:
    """main: c20 (Nov 20 noon), c22 (Nov 22), c24 (Nov 24), c26 (Nov 26), all UTC."""
    ids = {}
    for d in (20, 22, 24, 26):
        ids[f"c{d}"] = commit_files(repo_path, {"a.txt": f"{d}\n"}, f"day {d}", when=_day(d))
    return ids


def test_a_bare_date_is_the_end_of_that_day(repo_path: Path, dated: dict[str, str]) -> None:
    with Repo(repo_path) as repo:
        source = repo.revisions
        day = datetime(2026, 11, 24, 23, 59, 59, 999999, tzinfo=UTC)
        assert commit_at(source, "main", day).commit_id == dated["c24"]
        assert commit_at(source, "main", _day(23)).commit_id == dated["c22"]
        found = commit_at(source, "", _day(25))
        assert (found.commit_id, found.tip, found.steps) == (dated["c24"], dated["c26"], 1)
        assert "first-parent" in found.rule


def test_through_the_cli_a_date_a_datetime_and_steps(
    repo_path: Path, dated: dict[str, str], run_mlv: RunMlv
) -> None:
    def rev_of(rev: str) -> str:
        out = run_mlv(repo_path, "log", "--json", "-n", "1", rev, env=UTC_ENV).stdout
        return out.split('"id": "', 1)[1][:64] if '"id": "' in out else out

    assert dated["c24"] in rev_of("main@{2026-11-24}")
    assert dated["c22"] in rev_of("main@{2026-11-24 11:59}")
    assert dated["c24"] in rev_of("main@{2026-11-24T12:00:00+00:00}")
    assert dated["c24"] in rev_of("main@{2026-11-24T13:00:00+01:00}")
    assert dated["c22"] in rev_of("main@{2026-11-24}~1")
    assert dated["c20"] in rev_of("@{2026-11-21}")
    shown = run_mlv(repo_path, "show", "main@{2026-11-22}:a.txt", env=UTC_ENV).stdout
    assert shown == "22\n"
    shown = run_mlv(repo_path, "show", "main@{2026-11-22 13:00}:a.txt", env=UTC_ENV).stdout
    assert shown == "22\n"


def test_relative_times_use_the_given_now(repo_path: Path, dated: dict[str, str]) -> None:
    now = datetime(2026, 11, 27, 9, tzinfo=UTC)
    with Repo(repo_path) as repo:
        source = repo.revisions
        assert resolve_at_time(source, "main@{3 days ago}", now=now).commit_id == dated["c22"]
        assert resolve_at_time(source, "main@{yesterday}", now=now).commit_id == dated["c26"]
        assert resolve_at_time(source, "@{2 days ago}", now=now).commit_id == dated["c24"]
        # 2026-11-27 is a Friday; last tuesday is the 24th, its end.
        assert resolve_at_time(source, "@{last tuesday}", now=now).commit_id == dated["c24"]
        assert resolve_at_time(source, "@{monday}", now=now).commit_id == dated["c22"]


def test_before_the_first_commit_is_not_found(
    repo_path: Path, dated: dict[str, str], run_mlv: RunMlv
) -> None:
    with Repo(repo_path) as repo, pytest.raises(NotFoundError, match="first commit"):
        commit_at(repo.revisions, "main", _day(19))
    line = one_error_line(run_mlv(repo_path, "log", "main@{2026-11-19}", env=UTC_ENV, expect=2))
    assert "2026-11-20" in line and dated["c20"][:12] in line


@pytest.mark.parametrize(
    "rev",
    ["main@{2026-11-24", "main@{}", "main@{not a time}", "main@{2026-11-24}x", "main@{a}@{b}"],
)
def test_malformed_times_are_one_line_and_exit_2(
    repo_path: Path, dated: dict[str, str], run_mlv: RunMlv, rev: str
) -> None:
    one_error_line(run_mlv(repo_path, "log", rev, env=UTC_ENV, expect=2))
    with Repo(repo_path) as repo, pytest.raises(InvalidArgumentError):
        repo.resolve(rev)


def test_a_merge_is_followed_by_its_first_parent(repo_path: Path, commit_files: Any) -> None:
    base = commit_files(repo_path, {"a.txt": "1\n"}, "base", when=_day(20))
    with Repo(repo_path) as repo:
        repo.switch("team/feature", create=True)
    side = commit_files(repo_path, {"b.txt": "side\n"}, "side", when=_day(23))
    with Repo(repo_path) as repo:
        repo.switch("main")
    ours = commit_files(repo_path, {"a.txt": "2\n"}, "ours", when=_day(24))
    with Repo(repo_path) as repo:
        merged = repo.merge("team/feature", author=ADA).commit
        assert merged is not None
        source = repo.revisions
        # On the 23rd main held only base: the side commit came in with the merge.
        assert commit_at(source, "main", _day(23, 18)).commit_id == base
        assert commit_at(source, "main", _day(24, 18)).commit_id == ours
        # A branch name with '/' is a name like any other.
        assert repo.resolve("team/feature@{2026-11-23T18:00:00+00:00}") == side
        assert repo.resolve("team/feature@{2026-11-22T00:00:00+00:00}") == base


def test_path_at_a_time_in_lineage_query_and_urls(
    repo_path: Path,
    dated: dict[str, str],
    run_mlv: RunMlv,
    commit_files: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert split_at("a.txt@main@{2026-11-24}") == ("a.txt", "@", "main@{2026-11-24}")
    assert split_at("a.txt@@{3 days ago}") == ("a.txt", "@", "@{3 days ago}")
    assert split_at("me@host.txt@v1") == ("me@host.txt", "@", "v1")
    assert split_at("main@{2026-11-24 14:00}:a:b.txt", ":") == (
        "main@{2026-11-24 14:00}",
        ":",
        "a:b.txt",
    )
    assert split_revision("main@{2026-11-24}~1^2") == ("main@{2026-11-24}", [("~", 1), ("^", 2)])
    out = run_mlv(repo_path, "lineage", "a.txt@main@{2026-11-24}", "--json", env=UTC_ENV).stdout
    assert dated["c24"] in out and dated["c26"] not in out

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1, 2]}), repo_path / "t.parquet")
    with Repo(repo_path) as repo:
        repo.add(["t.parquet"])
        repo.commit("table", author=ADA, when=_day(28))
        sql = "SELECT sum(x) AS s FROM 't.parquet@main@{2026-11-28}'"
        assert repo.query(sql).column("s").to_pylist() == [3]

    import fsspec

    monkeypatch.chdir(repo_path)
    monkeypatch.setenv("TZ", "UTC")
    for url in (
        "mlv://main@{2026-11-24}/a.txt",
        "mlv://main@%7B2026-11-24%7D/a.txt",
        "mlv://main@%7B2026-11-24%2012:30%7D/a.txt",
    ):
        with fsspec.open(url, "rt") as f:
            assert f.read() == "24\n", url


def test_time_words() -> None:
    now = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)  # a Friday
    assert parse_when("2026-11-24", now) == datetime(2026, 11, 24).astimezone()
    end = parse_when("2026-11-24", now, day_end=True)
    assert end + timedelta(microseconds=1) == datetime(2026, 11, 25).astimezone()
    assert parse_when("friday", now) == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_when("Last  Thursday", now) == datetime(2026, 11, 26, tzinfo=UTC)
    assert parse_when("today", now, day_end=True) == datetime(2026, 11, 28, tzinfo=UTC) - (
        timedelta(microseconds=1)
    )
    with pytest.raises(InvalidArgumentError):
        parse_when("9999999999 days ago", now)


class _Chain:
    """A first-parent chain in memory: the smallest CommitSource."""

    def __init__(self, times: list[int]) -> None:
        self.commits: dict[str, Commit] = {}
        parent: tuple[str, ...] = ()
        self.order: list[str] = []
        for i, t in enumerate(times):
            cid = f"{i:064x}"
            self.commits[cid] = Commit("0" * 64, parent, ADA, t, 0, f"c{i}")
            parent = (cid,)
            self.order.append(cid)

    def read_commit(self, commit_id: str) -> Commit:
        return self.commits[commit_id]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    times=st.lists(st.integers(0, 1000), min_size=1, max_size=12),
    when=st.integers(-5, 1005),
)
def test_the_answer_is_the_newest_first_parent_commit_at_or_before(
    times: list[int], when: int
) -> None:
    chain = _Chain(times)
    tip = chain.order[-1]
    moment = datetime.fromtimestamp(when, UTC)
    expected = next((c for c in reversed(chain.order) if chain.commits[c].time <= when), None)
    if expected is None:
        with pytest.raises(NotFoundError, match="first commit"):
            commit_at(chain, tip, moment)  # type: ignore[arg-type]
    else:
        assert commit_at(chain, tip, moment).commit_id == expected  # type: ignore[arg-type]


def test_the_unborn_branch_says_it_has_no_commit_yet(repo_path: Path, run_mlv: RunMlv) -> None:
    for rev in ("main", "main@{yesterday}", "refs/heads/main"):
        line = one_error_line(run_mlv(repo_path, "log", rev, expect=2))
        assert "has no commit yet" in line and "mlv commit" in line, rev
    assert "unknown revision" in one_error_line(run_mlv(repo_path, "log", "other", expect=2))
