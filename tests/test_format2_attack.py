"""Repository format 2 under misuse: migrate and index rebuild in the wrong order, on a
format they do not know, over a config.toml people edited or an old index with odd
rows; profile maps and cached profile rows that name what is not a profile."""

from __future__ import annotations

import json
import sqlite3
import tarfile
from dataclasses import replace
from pathlib import Path

from helpers import one_error_line, write_files
from mlv import Repo
from mlv.model.tables import ProfileMap
from mlv.repo import notes
from mlv.store.pack import KIND_META

FIXTURES = Path(__file__).parent / "fixtures"
TABLE = "id,score\n1,0.5\n2,1.5\n3,2.5\n"


def unpack_format_1(tmp_path: Path) -> Path:
    """The repository mlv 0.2.0 wrote (format 1), with one reproduction in index.db only."""
    root = tmp_path / "old"
    root.mkdir()
    with tarfile.open(FIXTURES / "format1-repo.tar.gz") as tar:
        tar.extractall(root, filter="data")
    return root


def expected_reproductions() -> list[str]:
    expected = json.loads((FIXTURES / "format1-expected.json").read_text())
    return [r["id"] for r in expected["show"]["reproductions"]]


def shown_reproductions(root: Path, run_mlv) -> list[str]:
    return [r["id"] for r in json.loads(run_mlv(root, "show", "--json").stdout)["reproductions"]]


def table_repo(root: Path, run_mlv) -> None:
    """A commit holding data/t.csv, profiled on add and named by the commit's map."""
    root.mkdir()
    run_mlv(root, "init")
    write_files(root, {"data/t.csv": TABLE})
    run_mlv(root, "add", "data")
    run_mlv(root, "commit", "-m", "table")


def child_naming_profiles(root: Path, branch: str, profiles: dict[str, str]) -> str:
    """A child of HEAD on ``branch`` whose profile map is ``profiles``: what a damaged
    store or a hostile clone could hold."""
    with Repo(root) as repo:
        head = repo.refs.head().commit
        assert head is not None
        parent = repo.read_commit(head)
        map_id = repo.store.put_meta(ProfileMap(profiles).to_bytes(), KIND_META)
        child = replace(parent, parents=(head,), message="crafted\n", profiles=map_id)
        commit_id = repo.store.put_meta(child.to_bytes(), KIND_META)
        repo.store.flush()
        repo.refs.update(f"refs/heads/{branch}", commit_id, None)
    return commit_id


def content_and_tree(root: Path, path: str) -> tuple[str, str]:
    with Repo(root) as repo:
        head = repo.refs.head().commit
        assert head is not None
        tree = repo.read_commit(head).tree
        return repo.trees.flatten(tree)[path].id, tree


def lose_index(root: Path) -> None:
    for side in ("", "-wal", "-shm"):
        Path(f"{root}/.mlv/index.db{side}").unlink(missing_ok=True)


# -- migrate and rebuild of a format-1 repository -------------------------------------


def test_an_index_rebuilt_before_migrate_keeps_the_format_1_reproductions(
    tmp_path: Path, run_mlv
) -> None:
    # mlv 0.2 knew its reproductions from index.db alone; a rebuild that only followed
    # the notes chain (which format 1 lacks) lost them before migrate could link them.
    root = unpack_format_1(tmp_path)
    lose_index(root)
    rebuilt = json.loads(run_mlv(root, "index", "rebuild", "--json").stdout)
    assert rebuilt["rebuilt"]["reproductions"] == len(expected_reproductions())
    done = json.loads(run_mlv(root, "migrate", "--json").stdout)
    assert done["reproductions_linked"] == len(expected_reproductions())
    assert shown_reproductions(root, run_mlv) == expected_reproductions()
    lose_index(root)
    run_mlv(root, "index", "rebuild")
    assert shown_reproductions(root, run_mlv) == expected_reproductions()
    assert run_mlv(root, "fsck").returncode == 0


def test_index_rebuild_refuses_a_format_it_does_not_know(tmp_path: Path, run_mlv) -> None:
    run_mlv(tmp_path, "init")
    config = tmp_path / ".mlv" / "config.toml"
    config.write_text(config.read_text().replace("format = 2", "format = 3"))
    index = (tmp_path / ".mlv" / "index.db").read_bytes()
    line = one_error_line(run_mlv(tmp_path, "index", "rebuild", "--json", expect=2))
    assert "format 3" in line and "format 2" in line
    # Nothing moved: a newer mlv's index is not set aside for one this mlv makes.
    assert (tmp_path / ".mlv" / "index.db").read_bytes() == index
    assert not list((tmp_path / ".mlv").glob("index.db.*"))


def test_formats_no_mlv_wrote_are_refused_in_one_short_line(tmp_path: Path, run_mlv) -> None:
    run_mlv(tmp_path, "init")
    config = tmp_path / ".mlv" / "config.toml"
    kept = config.read_text()
    for value, said in (("-1", "no mlv writes it"), ("0", "no mlv writes it"), ("7", "upgrade")):
        config.write_text(kept.replace("format = 2", f"format = {value}"))
        for args in (("status",), ("migrate",), ("index", "rebuild")):
            line = one_error_line(run_mlv(tmp_path, *args, expect=2))
            assert f"format {value};" in line and "format 2" in line and said in line
    config.write_text(kept.replace("format = 2", "format = " + "9" * 4000))
    line = one_error_line(run_mlv(tmp_path, "status", expect=2))
    assert len(line) < 300 and "4000 digits" in line


def test_migrate_keeps_the_comments_and_other_keys_of_config_toml(tmp_path: Path, run_mlv) -> None:
    root = unpack_format_1(tmp_path)
    config = root / ".mlv" / "config.toml"
    text = (
        "# settings of this repository, kept by hand\n"
        "[core]\n"
        "format = 1  # mlv 0.2\n\n"
        '[remote.origin]\nurl = "s3://bucket/x"\n\n'
        "[store]\ncompression_level = 5\n"
    )
    config.write_text(text)
    run_mlv(root, "migrate")
    assert config.read_text() == text.replace("format = 1  #", "format = 2  #")
    with Repo(root) as repo:
        assert repo.config.format == 2 and repo.config.compression_level == 5


def test_migrate_names_only_the_old_rows_that_are_reproductions(tmp_path: Path, run_mlv) -> None:
    root = unpack_format_1(tmp_path)
    conn = sqlite3.connect(root / ".mlv" / "index.db")
    with conn:
        some_commit = json.loads((FIXTURES / "format1-expected.json").read_text())["show"]["id"]
        rows = [("x", "not an id", 0), ("x", "ab" * 32, 1), ("x", some_commit, 2)]
        conn.executemany("INSERT INTO reproductions(commit_id, id, time) VALUES (?, ?, ?)", rows)
    conn.close()
    done = json.loads(run_mlv(root, "migrate", "--json").stdout)
    assert done["reproductions_linked"] == len(expected_reproductions())
    with Repo(root) as repo:
        linked = notes.all_records(repo.store, repo.refs, notes.REPRODUCTIONS)
    assert linked == expected_reproductions()
    assert run_mlv(root, "fsck").returncode == 0


# -- profile maps and profile rows that name what is not a profile ---------------------


def test_a_map_naming_a_non_profile_does_not_answer_stats_after_a_rebuild(
    tmp_path: Path, run_mlv
) -> None:
    root = tmp_path / "work"
    table_repo(root, run_mlv)
    good = json.loads(run_mlv(root, "stats", "data/t.csv", "--json").stdout)
    content, tree = content_and_tree(root, "data/t.csv")
    bad = child_naming_profiles(root, "crafted", {content: tree})
    # Walked first from HEAD, the crafted map must still not win over main's.
    run_mlv(root, "switch", "crafted")
    lose_index(root)
    rebuilt = run_mlv(root, "index", "rebuild", "--json", expect=1)
    damaged = json.loads(rebuilt.stdout)["damaged"]
    assert [d["object_id"] for d in damaged] == [tree]
    for target in ("data/t.csv", "data/t.csv@main", f"data/t.csv@{bad}"):
        assert json.loads(run_mlv(root, "stats", target, "--json").stdout)["id"] == good["id"]
    fsck = run_mlv(root, "fsck", expect=1)
    assert "expected a profile object, found 'tree'" in fsck.stdout
    assert "Traceback" not in fsck.stdout + fsck.stderr


def test_a_map_naming_a_missing_profile_is_skipped_and_stats_profiles_again(
    tmp_path: Path, run_mlv
) -> None:
    root = tmp_path / "work"
    root.mkdir()
    run_mlv(root, "init")
    config = root / ".mlv" / "config.toml"
    config.write_text(config.read_text().replace("profile = true", "profile = false"))
    write_files(root, {"t.csv": TABLE})
    run_mlv(root, "add", "t.csv")
    run_mlv(root, "commit", "-m", "unprofiled")
    content, _ = content_and_tree(root, "t.csv")
    child_naming_profiles(root, "crafted", {content: "cd" * 32})
    lose_index(root)
    run_mlv(root, "index", "rebuild", expect=1)
    shown = json.loads(run_mlv(root, "stats", "t.csv@crafted", "--json").stdout)
    assert shown["rows"] == 3 and shown["id"] != "cd" * 32


def test_a_cache_row_naming_no_profile_is_made_again_by_stats(tmp_path: Path, run_mlv) -> None:
    root = tmp_path / "work"
    table_repo(root, run_mlv)
    good = json.loads(run_mlv(root, "stats", "data/t.csv", "--json").stdout)
    write_files(root, {"data/u.csv": TABLE + "4,3.5\n"})
    run_mlv(root, "add", "data")
    content, _ = content_and_tree(root, "data/t.csv")
    conn = sqlite3.connect(root / ".mlv" / "index.db")
    with conn:
        conn.execute("UPDATE profiles SET profile_id = ?", ("ef" * 32,))
    conn.close()
    run_mlv(root, "commit", "-m", "u")
    for target in ("data/t.csv", "data/t.csv@HEAD"):
        assert json.loads(run_mlv(root, "stats", target, "--json").stdout)["id"] == good["id"]
    shown = json.loads(run_mlv(root, "stats", "data/u.csv@HEAD", "--json").stdout)
    assert shown["rows"] == 4
    # The rows were replaced by what was made again.
    with Repo(root) as repo:
        assert repo.records.profiles_of([content]) == {content: good["id"]}


def test_a_run_writing_a_folder_of_tables_names_them_all(tmp_path: Path, run_mlv) -> None:
    root = tmp_path / "work"
    table_repo(root, run_mlv)
    script = (
        "mkdir -p out/sub && printf 'p,q\\n1,2\\n' > out/a.csv"
        " && printf 'p\\n7\\n8\\n' > out/sub/b.csv"
    )
    run_mlv(root, "run", "-n", "gen", "-d", "data/t.csv", "-o", "out", "--", script)
    run_mlv(root, "commit", "-m", "run")
    before = {
        t: json.loads(run_mlv(root, "stats", t, "--json").stdout)
        for t in ("out/a.csv@HEAD", "out/sub/b.csv@HEAD", "data/t.csv@HEAD~1")
    }
    lineage = run_mlv(root, "lineage", "out/sub/b.csv", "--json").stdout
    lose_index(root)
    run_mlv(root, "index", "rebuild")
    # Found again from the commit's profile map, not made again on demand.
    ids = {content_and_tree(root, p)[0] for p in ("out/a.csv", "out/sub/b.csv")}
    with Repo(root) as repo:
        assert set(repo.records.profiles_of(sorted(ids))) == ids
    for target, shown in before.items():
        assert json.loads(run_mlv(root, "stats", target, "--json").stdout) == shown
    assert run_mlv(root, "lineage", "out/sub/b.csv", "--json").stdout == lineage


# -- a rebuild killed half-way ----------------------------------------------------------


def test_a_rebuild_run_again_after_a_kill_keeps_the_pending_runs(tmp_path: Path, run_mlv) -> None:
    root = tmp_path / "work"
    table_repo(root, run_mlv)
    run_mlv(
        root, "run", "-n", "copy", "-d", "data/t.csv", "-o", "c.csv", "--", "cp data/t.csv c.csv"
    )
    pending = json.loads(run_mlv(root, "status", "--json").stdout)["pending_runs"]
    assert len(pending) == 1
    # What a rebuild killed while it scanned the packs leaves: the old index set aside,
    # the new one unfinished, no index.db.
    mlv_dir = root / ".mlv"
    for side in ("", "-wal", "-shm"):
        old = mlv_dir / f"index.db{side}"
        if old.exists():
            old.rename(mlv_dir / f"index.db.damaged-20260101T000000{side}")
    (mlv_dir / "index.db.rebuilding").write_bytes(b"SQLite format 3\0 half written")
    rebuilt = json.loads(run_mlv(root, "index", "rebuild", "--json").stdout)
    assert rebuilt["rebuilt"]["pending_runs"] == 1 and rebuilt["rebuilt"]["run_cache"] == 1
    assert rebuilt["moved_to"].endswith("index.db.damaged-20260101T000000")
    assert json.loads(run_mlv(root, "status", "--json").stdout)["pending_runs"] == pending
    assert not (mlv_dir / "index.db.rebuilding").exists()


def test_migrate_of_a_current_repository_reads_nothing(tmp_path: Path, run_mlv) -> None:
    # Already format 2, every step is done: a lost index is not migrate's to report.
    root = unpack_format_1(tmp_path)
    run_mlv(root, "migrate")
    lose_index(root)
    again = json.loads(run_mlv(root / "data", "migrate", "--json").stdout)
    assert again == {"format_after": 2, "format_before": 2, "reproductions_linked": 0}
    assert not (root / ".mlv" / "index.db").exists()


def test_raising_the_format_keeps_what_it_can_of_the_file(tmp_path: Path) -> None:
    import tomllib

    from mlv.repo.config import write_format

    config = tmp_path / "config.toml"
    kept_as_is = [
        "[core]\nformat=1\n",
        "# hand-kept\n[ core ]\nformat = 1 # old\n[other]\nformat = 1\n",
        "[other]\nx = 1\n\n[core]\n\tformat = 1\n",
        "[tables]\nprofile = false\n",  # no [core]: one is added
        "[core]\n# no format yet\n[core.sub]\nformat = 7\n",
    ]
    for text in kept_as_is:
        config.write_text(text)
        write_format(config, 2)
        written = config.read_text()
        doc, before = tomllib.loads(written), tomllib.loads(text)
        assert doc == {**before, "core": {**before.get("core", {}), "format": 2}}, text
        # Every other line as it was: comments, spacing, other tables.
        others = [line for line in text.splitlines() if "format" not in line]
        assert all(line in written.splitlines() for line in others), text
    # Spellings the line edit does not follow are written whole: settings kept, extras not.
    for text in ("core.format = 1\n[store]\ncompression_level = 4\n", '[core]\n"format" = 1\n'):
        config.write_text(text)
        write_format(config, 2)
        doc = tomllib.loads(config.read_text())
        assert doc["core"]["format"] == 2
        assert doc["store"]["compression_level"] == (4 if "store" in text else 3)


def test_a_broken_notes_chain_keeps_the_reproductions_read_before_the_break(
    tmp_path: Path, run_mlv
) -> None:
    from mlv.model.notes import Notes

    root = unpack_format_1(tmp_path)
    run_mlv(root, "migrate")
    (rep_id,) = expected_reproductions()
    with Repo(root) as repo:
        # A newer entry whose older one was lost (a damaged pack, say).
        old = repo.refs.read(notes.REPRODUCTIONS)
        entry = Notes(parents=("ab" * 32,), records=(rep_id,))
        new = repo.store.put_meta(entry.to_bytes(), KIND_META)
        repo.store.flush()
        repo.refs.update(notes.REPRODUCTIONS, new, old)
    lose_index(root)
    rebuilt = json.loads(run_mlv(root, "index", "rebuild", "--json", expect=1).stdout)
    assert rebuilt["rebuilt"]["reproductions"] == 1
    assert "ab" * 32 in rebuilt["damaged"][0]["problem"]
    assert shown_reproductions(root, run_mlv) == [rep_id]


def test_a_broken_notes_chain_does_not_keep_a_format_1_repository_from_migrating(
    tmp_path: Path, run_mlv
) -> None:
    # Every command but migrate refuses format 1, fsck too: a migrate that refused the
    # chain left no command to see or repair it.
    root = unpack_format_1(tmp_path)
    ref = root / ".mlv" / "refs" / "notes" / "reproductions"
    ref.parent.mkdir(parents=True)
    ref.write_text("ab" * 32 + "\n")
    done = json.loads(run_mlv(root, "migrate", "--json").stdout)
    assert done["format_after"] == 2 and done["reproductions_linked"] == 1
    assert shown_reproductions(root, run_mlv) == expected_reproductions()
    fsck = run_mlv(root, "fsck", expect=1)
    assert "cannot be read to its end" in fsck.stdout and "ab" * 32 in fsck.stdout


def test_migrate_killed_while_it_wrote_config_toml_is_finished_cleanly(
    tmp_path: Path, run_mlv
) -> None:
    root = unpack_format_1(tmp_path)
    killed = run_mlv(root, "migrate", env={"MLV_CRASH_POINT": "file.before-rename"}, expect=None)
    assert killed.returncode == -9
    assert "format = 1" in (root / ".mlv" / "config.toml").read_text()
    assert list((root / ".mlv").glob(".config.toml.mlv-*.tmp"))
    again = json.loads(run_mlv(root, "migrate", "--json").stdout)
    assert again == {"format_after": 2, "format_before": 1, "reproductions_linked": 0}
    assert not list((root / ".mlv").glob(".config.toml.mlv-*.tmp"))
    assert shown_reproductions(root, run_mlv) == expected_reproductions()
