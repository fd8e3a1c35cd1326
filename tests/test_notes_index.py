"""Reproductions on ``refs/notes/reproductions``, index.db's schema version, and an index
rebuilt from what the refs reach giving the same answers."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from helpers import one_error_line, write_files
from mlv import Repo
from mlv.model.canonical import dumps
from mlv.model.notes import Notes
from mlv.repo import notes
from mlv.repo.database import SCHEMA_VERSION
from test_reproduce import commit, from_template, record, reproduce

TABLE = "id,score\n" + "".join(f"{i},{i * 0.5}\n" for i in range(40))
TRAIN = """\
import json
rows = open("data/t.csv").read().splitlines()[1:]
json.dump({"rows": len(rows)}, open("m.json", "w"))
open("model.txt", "w").write(str(len(rows)) + "\\n")
"""


def build_project(root: Path) -> None:
    """Tables, two commits of runs, a branch and a tag."""
    write_files(root, {"data/t.csv": TABLE, "train.py": TRAIN, "raw/a.txt": "a\n"})
    record(
        root,
        "python train.py",
        name="train",
        deps=["train.py", "data/t.csv"],
        outs=["model.txt"],
        metrics=["m.json"],
    )
    commit(root, "first")
    write_files(root, {"data/t.csv": TABLE + "40,20.0\n"})
    record(
        root,
        "python train.py",
        name="train",
        deps=["train.py", "data/t.csv"],
        outs=["model.txt"],
        metrics=["m.json"],
    )
    commit(root, "second")
    with Repo(root) as repo:
        repo.create_branch("side")
        repo.create_tag("v1")


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("templates")


def project(templates: Path, tmp_path: Path) -> Path:
    return from_template(templates, tmp_path, build_project)


def answers(root: Path, run_mlv) -> dict[str, object]:
    """What the user asks, as JSON: the commands whose answers come from index.db too."""
    asked = {
        "log": ("log", "--json"),
        "log-all": ("log", "--json", "--all"),
        "lineage": ("lineage", "model.txt"),
        "downstream": ("lineage", "data/t.csv@HEAD~1", "--downstream", "--all"),
        "history": ("history", "data/t.csv", "--json"),
        "metrics": ("metrics", "show", "--json"),
        "show": ("show", "--json"),
        "show-first": ("show", "HEAD~1", "--json"),
        # Depends on profiles being reachable from a commit (format 2, not this module's
        # part): while a table's profile is found through its tree entry it passes too.
        "stats": ("stats", "data/t.csv", "--json"),
    }
    found: dict[str, object] = {}
    for key, args in asked.items():
        out = run_mlv(root, *args).stdout
        found[key] = json.loads(out) if "--json" in args else out  # lineage speaks text
    return found


def test_a_reproduction_is_reachable_from_the_notes_ref(templates, tmp_path, run_mlv) -> None:
    root = project(templates, tmp_path)
    first = reproduce(root, run_mlv)
    second = reproduce(root, run_mlv, "HEAD~1")
    with Repo(root) as repo:
        head = repo.refs.read(notes.REPRODUCTIONS)
        assert head is not None
        chain = list(notes.walk(repo.store, head))
        assert [e.records for _, e in chain] == [(second["id"],), (first["id"],)]
        (newest_id, newest), (oldest_id, oldest) = chain
        assert newest.parents == (oldest_id,) and oldest.parents == ()
        # Exactly the spec's bytes: canonical JSON, parents then records.
        raw = repo.store.get(newest_id)
        assert raw == dumps(
            {"format": 1, "parents": [oldest_id], "records": [second["id"]], "type": "notes"}
        )
        assert Notes.from_bytes(raw).id == newest_id
        assert notes.all_records(repo.store, repo.refs, notes.REPRODUCTIONS) == [
            first["id"],
            second["id"],
        ]
    log = (root / ".mlv/logs/refs/notes/reproductions").read_text().splitlines()
    assert [line.split()[1] for line in log] == [oldest_id, newest_id]
    assert run_mlv(root, "fsck").returncode == 0


def test_rebuilt_index_gives_the_same_answers(templates, tmp_path, run_mlv) -> None:
    root = project(templates, tmp_path)
    reproduce(root, run_mlv)
    reproduce(root, run_mlv)
    before = answers(root, run_mlv)
    assert len(before["show"]["reproductions"]) == 2  # type: ignore[index]
    for side in ("", "-wal", "-shm"):
        Path(f"{root}/.mlv/index.db{side}").unlink(missing_ok=True)
    rebuilt = json.loads(run_mlv(root, "index", "rebuild", "--json").stdout)
    assert rebuilt["rebuilt"]["reproductions"] == 2
    assert answers(root, run_mlv) == before


def test_a_reproduction_no_ref_reaches_is_not_rebuilt(templates, tmp_path, run_mlv) -> None:
    # The chain is the truth: a reproduction object whose notes entry is gone is not
    # one the repository has, though its bytes lie in a pack.
    root = project(templates, tmp_path)
    reproduce(root, run_mlv)
    (root / ".mlv/refs/notes/reproductions").unlink()
    run_mlv(root, "rebuild-index")
    assert json.loads(run_mlv(root, "show", "--json").stdout)["reproductions"] == []


def test_fsck_checks_what_the_notes_ref_reaches(templates, tmp_path, run_mlv) -> None:
    root = project(templates, tmp_path)
    report = reproduce(root, run_mlv)
    with Repo(root) as repo:
        head = repo.refs.read(notes.REPRODUCTIONS)
        assert head is not None
        # An entry naming a reproduction the store lacks, put on top of the chain.
        missing = "ab" * 32
        # No other writer runs in this test, so the write lock is not taken.
        notes.append(repo.store, repo.refs, notes.REPRODUCTIONS, [missing])
    proc = run_mlv(root, "fsck", "--json", expect=1)
    problems = json.loads(proc.stdout)["problems"]
    assert [p["object_id"] for p in problems] == [missing]
    assert report["id"] != missing


def test_index_schema_version(repo_path: Path, run_mlv) -> None:
    db = repo_path / ".mlv/index.db"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # An index mlv 0.2 wrote has version 0: it is brought up to date when opened.
    conn.execute("PRAGMA user_version = 0")
    conn.close()
    run_mlv(repo_path, "status")
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    line = one_error_line(run_mlv(repo_path, "status", expect=2))
    assert line == (
        f"mlv: error: index.db has schema version {SCHEMA_VERSION + 1} but this mlv reads "
        f"up to {SCHEMA_VERSION}; upgrade mlv"
    )


def test_notes_refs_pass_the_ref_gate(repo_path: Path) -> None:
    from mlv.repo.refnames import ref_name_problem

    assert ref_name_problem("refs/notes/reproductions") is None
    assert ref_name_problem("refs/notes/") is not None
    assert ref_name_problem("refs/notes/a..b") is not None
    assert ref_name_problem("refs/other/x") is not None


FIXTURES = Path(__file__).parent / "fixtures"


# What ``format1-expected.json`` holds, and the command that answers each (written by
# mlv 0.2.0 from the fixture repository, before any upgrade).
FIXTURE_ANSWERS = {
    "log": ("log", "--json"),
    "show": ("show", "--json"),
    "stats": ("stats", "data/train.csv", "--json"),
    "metrics": ("metrics", "show", "--json"),
    "history": ("history", "data/train.csv", "--json"),
    "lineage": ("lineage", "model.txt", "--json"),
    "status": ("status", "--json"),
}


def _fixture_answers(root: Path, run_mlv) -> dict[str, object]:
    answers = {
        key: json.loads(run_mlv(root, *args).stdout) for key, args in FIXTURE_ANSWERS.items()
    }
    # Added since mlv 0.2 wrote the expected answers: whether a distinct count is exact.
    for column in answers["stats"]["columns"]:
        assert column.pop("distinct_exact") is True
    return answers


def _unpack_format_1(tmp_path: Path) -> Path:
    import tarfile

    root = tmp_path / "old"
    root.mkdir()
    with tarfile.open(FIXTURES / "format1-repo.tar.gz") as tar:
        tar.extractall(root, filter="data")
    return root


def test_a_format_1_repository_is_refused_until_migrate_converts_it(
    tmp_path: Path, run_mlv
) -> None:
    root = _unpack_format_1(tmp_path)
    expected = json.loads((FIXTURES / "format1-expected.json").read_text())
    assert set(expected) == set(FIXTURE_ANSWERS)
    shown = expected["show"]["reproductions"]
    assert shown  # the fixture holds a reproduction that mlv 0.2 kept in index.db only
    for args in (("status",), ("log",), ("add", "notes.txt")):
        line = one_error_line(run_mlv(root, *args, expect=2))
        assert "format 1" in line and "run 'mlv migrate'" in line
    assert "format = 1" in Path(root, ".mlv/config.toml").read_text()

    done = json.loads(run_mlv(root, "migrate", "--json").stdout)
    assert done == {"format_after": 2, "format_before": 1, "reproductions_linked": len(shown)}
    assert "format = 2" in Path(root, ".mlv/config.toml").read_text()
    again = json.loads(run_mlv(root, "migrate", "--json").stdout)
    # Idempotent: one chain entry in all.
    assert again == {"format_after": 2, "format_before": 2, "reproductions_linked": 0}
    with Repo(root) as repo:
        assert notes.all_records(repo.store, repo.refs, notes.REPRODUCTIONS) == [
            r["id"] for r in shown
        ]
    # Every answer mlv 0.2 gave, the same: no commit id changed.
    assert _fixture_answers(root, run_mlv) == expected
    # Now the index can be lost: everything comes back from the objects and refs.
    Path(root, ".mlv/index.db").unlink()
    run_mlv(root, "index", "rebuild")
    assert _fixture_answers(root, run_mlv) == expected
    assert run_mlv(root, "fsck").returncode == 0
    # A format-1 tree names its tables' profiles, so the same files staged again make a
    # tree with another id: still nothing to commit.
    table = root / "data" / "train.csv"
    kept = table.read_bytes()
    table.write_bytes(kept + b"9,9.5,c\n")
    run_mlv(root, "add", "data")
    table.write_bytes(kept)
    run_mlv(root, "add", "data")
    assert "nothing to commit" in one_error_line(run_mlv(root, "commit", "-m", "same", expect=2))


def test_a_newer_repository_format_is_refused_naming_both(tmp_path: Path, run_mlv) -> None:
    run_mlv(tmp_path, "init")
    config = tmp_path / ".mlv" / "config.toml"
    config.write_text(config.read_text().replace("format = 2", "format = 3"))
    for args in (("status",), ("migrate",)):
        line = one_error_line(run_mlv(tmp_path, *args, expect=2))
        assert "format 3" in line and "format 2" in line and "upgrade mlv" in line
