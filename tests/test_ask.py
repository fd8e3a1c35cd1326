"""Ask: a one-line question read as a path and a moment, answered by the revision
syntax, through the library and on the page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlv import Repo
from mlv.errors import InvalidArgumentError, NotFoundError
from mlv.lineage.ask import answer, read_question
from ui_support import client


def _day(d: int) -> datetime:
    return datetime(2026, 11, d, 12, tzinfo=UTC)


@pytest.fixture
def dated(repo_path: Path, commit_files: Any) -> dict[str, str]:
    ids = {}
    for d in (20, 24):
        files = {"predictions/p.csv": f"id,p\n1,{d}\n", "notes.txt": f"{d}\n"}
        ids[f"c{d}"] = commit_files(repo_path, files, f"day {d}", when=_day(d))
    return ids


@pytest.mark.parametrize(
    ("text", "path", "rev"),
    [
        ("predictions/ on 2026-11-24", "predictions", "main@{2026-11-24}"),
        ("  predictions/   ON   2026-11-24 ", "predictions", "main@{2026-11-24}"),
        ("notes.txt at v1", "notes.txt", "v1"),
        ("notes.txt as of 3 days ago", "notes.txt", "main@{3 days ago}"),
        ("notes.txt@main@{2026-11-21}", "notes.txt", "main@{2026-11-21}"),
        ("yesterday", "", "main@{yesterday}"),
        ("2026-11-21", "", "main@{2026-11-21}"),
        ("main", "", "main"),
        ("notes.txt", "notes.txt", "main"),
        ("'my file.txt' on 2026-11-24", "my file.txt", "main@{2026-11-24}"),
    ],
)
def test_questions_are_read_as_a_path_and_a_revision(
    repo_path: Path, dated: dict[str, str], text: str, path: str, rev: str
) -> None:
    with Repo(repo_path) as repo:
        question = read_question(text, "main", repo.revisions)
    assert (question.path, question.rev) == (path, rev)


def test_an_empty_question_says_how_to_ask(repo_path: Path, dated: dict[str, str]) -> None:
    with Repo(repo_path) as repo, pytest.raises(InvalidArgumentError, match="on 2026-11-24"):
        read_question("   ", "main", repo.revisions)


def test_the_answer_is_the_commit_current_then(
    repo_path: Path, dated: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    with Repo(repo_path) as repo:
        found = answer(
            repo.objects,
            repo.revisions,
            read_question("notes.txt on 2026-11-23", "main", repo.revisions),
        )
        assert found.commit_id == dated["c20"]
        assert found.at_time is not None and found.at_time.steps == 1
        assert found.at_time.tip == dated["c24"]
        assert found.entry is not None and found.entry.size == 3
        assert found.question.command == "mlv lineage notes.txt@main@{2026-11-23}"
        assert found.runs == {}  # committed by hand: no run wrote it
        on_24 = answer(
            repo.objects, repo.revisions, read_question("2026-11-24", "main", repo.revisions)
        )
        assert on_24.commit_id == dated["c24"] and on_24.entry is None
        with pytest.raises(NotFoundError, match="first commit"):
            answer(
                repo.objects,
                repo.revisions,
                read_question("x on 2026-11-01", "main", repo.revisions),
            )


def test_the_runs_behind_a_path_and_their_inputs(demo_repo: Path) -> None:
    with Repo(demo_repo) as repo:
        question = read_question("predictions/ at baseline", "main", repo.revisions)
        found = answer(repo.objects, repo.revisions, question)
        assert found.commit_id == repo.resolve("baseline")
        assert [run.name for run in found.runs.values()] == ["predict"]
        (run,) = found.runs.values()
        assert "models/model.pkl" in run.deps
        everything = answer(
            repo.objects, repo.revisions, read_question("baseline", None, repo.revisions)
        )
        assert sorted(r.name for r in everything.runs.values()) == ["features", "predict", "train"]


def test_the_ask_page(demo_repo: Path) -> None:
    web = client(demo_repo)
    empty = web.get("/ask")
    assert empty.status_code == 200 and "predictions/ on 2026-11-24" in empty.text
    page = web.get("/ask", params={"q": "metrics.json at baseline"}).text
    with Repo(demo_repo) as repo:
        base = repo.resolve("baseline")
        (run_id,) = [i for i, r in repo.runs("baseline").items() if r.name == "predict"]
    assert f"/commit/{base}" in page and f"/run/{run_id}" in page
    assert "mlv lineage metrics.json@baseline" in page
    assert "models/model.pkl" in page  # an input of the run that wrote it
    gone = web.get("/ask", params={"q": "x on 1990-01-01"})
    assert gone.status_code == 404 and "first commit" in gone.text
    bad = web.get("/ask", params={"q": "x at no-such-rev"})
    assert bad.status_code == 404 and "no-such-rev" in bad.text


def test_the_ask_page_keeps_the_path_rules(demo_repo: Path) -> None:
    web = client(demo_repo)
    for question in ("../../etc/passwd on 2026-11-24", ".mlv/config.toml at HEAD"):
        refused = web.get("/ask", params={"q": question})
        assert refused.status_code == 400, question


def test_repo_ask_is_the_page_in_python(demo_repo: Path) -> None:
    with Repo(demo_repo) as repo:
        found = repo.ask("metrics.json at baseline")
        assert found.commit_id == repo.resolve("baseline")
        assert found.question.command == "mlv lineage metrics.json@baseline"
        assert [r.name for r in found.runs.values()] == ["predict"]
