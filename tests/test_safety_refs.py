"""Ref names and ref files: one gate for names from users and from disk, no symlink followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import AUTHOR, mlv, one_error_line, write_files
from mlv import Repo
from mlv.errors import FormatError, InvalidArgumentError, MlvError, UnsupportedVersionError
from mlv.repo.config import Config
from mlv.repo.refs import HEADS, RefStore, check_ref_name

REF_FILE = "0" * 63 + "1\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two commits on main, inside tmp_path/repo; tmp_path/outside is empty."""
    root = tmp_path / "repo"
    (tmp_path / "outside").mkdir()
    with Repo.init(root) as r:
        write_files(root, {"data/a.txt": "one\n"})
        r.add(["data"])
        r.commit("first", author=AUTHOR)
        write_files(root, {"data/a.txt": "two\n"})
        r.add(["data"])
        r.commit("second", author=AUTHOR)
    return root


def outside_mlv(tmp_path: Path) -> dict[str, bytes | str | None]:
    """Everything under tmp_path but the repository's .mlv: path -> content, link or folder."""
    found: dict[str, bytes | str | None] = {}
    for dirpath, dirs, files in os.walk(tmp_path):
        here = Path(dirpath)
        if here == tmp_path / "repo":
            dirs.remove(".mlv")
        for name in dirs + files:
            path = here / name
            rel = path.relative_to(tmp_path).as_posix()
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[rel] = None
            else:
                found[rel] = path.read_bytes()
    return found


def assert_fsck_reports(root: Path, needle: str) -> str:
    proc = mlv(root, "fsck")
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert needle in proc.stdout, proc.stdout
    return proc.stdout


def main_id(root: Path) -> str:
    return (root / ".mlv" / "refs" / "heads" / "main").read_text().strip()


# -- HEAD ------------------------------------------------------------------------

# Every command that follows HEAD, for the targets of the reported defect.
FOLLOWERS = [
    ["commit", "-m", "third"],
    ["log"],
    ["status"],
    ["show"],
    ["branch"],
    ["branch", "new"],
    ["tag", "t1"],
    ["switch", "-c", "other"],
    ["merge", "main"],
]
HOSTILE_HEADS = [
    "ref: refs/heads/a/../../../x",
    "ref: refs/tags/v1",
    "ref: refs/heads/",
    "ref: refs/heads/x.lock",
    "ref: refs/heads/.hidden",
    "ref: refs/heads/a//b",
    "ref: refs/heads/a b",
    "ref: refs/heads/" + "a" * 300,
    "ref: logs/refs/heads/main",
    "ref: HEAD",
]


def _point_head(repo: Path, tmp_path: Path, text: str) -> tuple[str, dict]:
    """Write HEAD, stage a change; return main's commit and everything outside .mlv."""
    (repo / ".mlv" / "HEAD").write_text(text.format(abs=tmp_path / "outside" / "abs") + "\n")
    write_files(repo, {"data/a.txt": "three\n"})
    assert mlv(repo, "add", "data").returncode == 0
    return main_id(repo), outside_mlv(tmp_path)


def _assert_nothing_moved(repo: Path, tmp_path: Path, main: str, before: dict) -> None:
    assert outside_mlv(tmp_path) == before
    assert main_id(repo) == main
    assert sorted(p.name for p in (repo / ".mlv" / "refs" / "heads").iterdir()) == ["main"]


@pytest.mark.parametrize("text", ["ref: refs/heads/../../../../pwn", "ref: {abs}"])
def test_head_pointing_out_of_the_repository_is_refused_by_every_command(
    repo: Path, tmp_path: Path, text: str
) -> None:
    main, before = _point_head(repo, tmp_path, text)
    for args in FOLLOWERS:
        line = one_error_line(mlv(repo, *args))
        assert "HEAD is damaged" in line and "'mlv switch main'" in line, line
        assert "write 'ref: refs/heads/main' into" in line, line
    _assert_nothing_moved(repo, tmp_path, main, before)
    assert_fsck_reports(repo, "HEAD is damaged")
    # Both repairs the message names work: switch guards the staged change...
    assert "uncommitted changes" in one_error_line(mlv(repo, "switch", "main"))
    # ...and writing HEAD keeps it.
    (repo / ".mlv" / "HEAD").write_text("ref: refs/heads/main\n")
    assert mlv(repo, "commit", "-m", "third").returncode == 0


@pytest.mark.parametrize("text", HOSTILE_HEADS)
def test_head_that_names_no_valid_branch_is_damage(repo: Path, tmp_path: Path, text: str) -> None:
    main, before = _point_head(repo, tmp_path, text)
    line = one_error_line(mlv(repo, "commit", "-m", "third"))
    assert "HEAD is damaged" in line, line
    with Repo(repo) as r:
        with pytest.raises(FormatError, match="HEAD is damaged"):
            r.resolve("HEAD")
        assert [p.where for p in r.fsck().problems] == ["HEAD"]
    _assert_nothing_moved(repo, tmp_path, main, before)


@pytest.mark.parametrize(
    "content", [b"ref: refs/heads/\xff\n", b"ref: refs/heads/m\x00ain\n", b"x" * 5000]
)
def test_head_that_is_not_a_short_text_is_damage(repo: Path, content: bytes) -> None:
    (repo / ".mlv" / "HEAD").write_bytes(content)
    for args in (["commit", "--allow-empty", "-m", "x"], ["log"], ["status"]):
        line = one_error_line(mlv(repo, *args))
        assert "HEAD is damaged" in line, line
    assert sorted(p.name for p in (repo / ".mlv" / "refs" / "heads").iterdir()) == ["main"]
    assert_fsck_reports(repo, "HEAD")


def test_head_that_is_a_symlink_is_not_followed(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "outside" / "HEAD"
    target.write_text("ref: refs/heads/main\n")
    (repo / ".mlv" / "HEAD").unlink()
    (repo / ".mlv" / "HEAD").symlink_to(target)
    line = one_error_line(mlv(repo, "log"))
    assert "HEAD is damaged" in line and "symbolic link" in line, line
    assert_fsck_reports(repo, "HEAD")


def test_set_head_ref_refuses_what_head_may_not_name(repo: Path) -> None:
    with Repo(repo) as r:
        for ref in ("refs/heads/../../x", "refs/tags/v1", "/tmp/x", "main", "refs/heads/"):
            with pytest.raises(InvalidArgumentError):
                r.refs.set_head_ref(ref)
        assert r.refs.head().ref == HEADS + "main"


# -- names given by the user -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["branch", "a" * 300], "longer than"),
        (["branch", "x/" + "a" * 300], "longer than"),
        (["branch", "/".join(["a" * 200] * 6)], "longer than 1024"),
        (["switch", "-c", "b" * 300], "longer than"),
        (["tag", "t" * 300], "longer than"),
        (["branch", "bad\udcff\udcfe"], "UTF-8"),
        (["tag", "bad\udcff"], "UTF-8"),
        (["switch", "-c", "\udcff"], "UTF-8"),
        (["branch", "a..b"], "'..'"),
        (["branch", "x.lock"], "'.lock'"),
        (["tag", "v1:2"], "':'"),
    ],
)
def test_bad_ref_name_from_the_user_is_one_clear_line(
    repo: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    before = outside_mlv(tmp_path)
    line = one_error_line(mlv(repo, *args))
    assert "not a valid" in line and needle in line, line
    assert "Error:" not in line, line  # not the fallback for an unexpected exception
    assert outside_mlv(tmp_path) == before
    assert sorted(p.name for p in (repo / ".mlv" / "refs" / "heads").iterdir()) == ["main"]
    assert not any((repo / ".mlv" / "refs" / "tags").iterdir())


def test_longest_ref_name_works_end_to_end(repo: Path) -> None:
    """The length limits leave room for the temporary file written beside a ref."""
    from mlv.repo.refnames import MAX_COMPONENT_BYTES

    part = "é" * ((MAX_COMPONENT_BYTES - 1) // 2) + "x" * (1 + (MAX_COMPONENT_BYTES - 1) % 2)
    assert len(part.encode()) == MAX_COMPONENT_BYTES
    name = "/".join([part] * 4)
    assert mlv(repo, "branch", name).returncode == 0
    assert mlv(repo, "switch", name).returncode == 0
    write_files(repo, {"data/a.txt": "on a long branch\n"})
    assert mlv(repo, "add", "data").returncode == 0
    assert mlv(repo, "commit", "-m", "long").returncode == 0
    assert mlv(repo, "tag", name).returncode == 0
    with Repo(repo) as r:
        assert r.refs.head().branch == name
        assert r.resolve(name) == r.resolve("HEAD") == r.tags()[name]


def test_check_ref_name_names_the_reason() -> None:
    from mlv.repo.refnames import MAX_COMPONENT_BYTES

    with pytest.raises(InvalidArgumentError, match=r"'a\.\.b' is not a valid tag name: .*'\.\.'"):
        check_ref_name("a..b", "tag")
    check_ref_name("x" * MAX_COMPONENT_BYTES)
    with pytest.raises(InvalidArgumentError, match=f"longer than {MAX_COMPONENT_BYTES} bytes"):
        check_ref_name("x" * (MAX_COMPONENT_BYTES + 1))


def test_refstore_refuses_to_write_a_bad_name_whoever_calls(repo: Path, tmp_path: Path) -> None:
    """The gate is in RefStore itself: a caller that skipped check_ref_name is refused too."""
    before = outside_mlv(tmp_path)
    with Repo(repo) as r:
        commit = r.resolve("HEAD")
        for name in (
            "refs/heads/../../../outside/x",
            "refs/heads/a/../../x",
            str(tmp_path / "outside" / "x"),
            "refs/remotes/x",
            "refs/heads/x\udcff",
            "refs/heads/" + "y" * 300,
            "HEAD",
        ):
            with pytest.raises(InvalidArgumentError):
                r.refs.update(name, commit, None)
            with pytest.raises(InvalidArgumentError):
                r.refs.delete(name)
            assert r.refs.read(name) is None  # no ref can have that name
    assert outside_mlv(tmp_path) == before


# -- ref files on disk -------------------------------------------------------------


def test_branch_does_not_write_through_a_symlinked_ref_folder(repo: Path, tmp_path: Path) -> None:
    (repo / ".mlv" / "refs" / "heads" / "feat").symlink_to(tmp_path / "outside")
    before = outside_mlv(tmp_path)
    for args in (["branch", "feat/x"], ["switch", "-c", "feat/y"], ["branch"]):
        line = one_error_line(mlv(repo, *args))
        assert ".mlv/refs/heads/feat is a symbolic link" in line, line
    assert outside_mlv(tmp_path) == before
    with Repo(repo) as r:
        assert [w for w, _ in r.refs.damage()] == ["refs/heads/feat"]
        # Readers that skip damage still see the rest.
        assert list(r.refs.list(HEADS, skip_damaged=True)) == ["main"]


def test_ref_that_is_a_symlink_is_not_followed(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "ref"
    outside.write_text(main_id(repo) + "\n")
    (repo / ".mlv" / "refs" / "tags" / "v1").symlink_to(outside)
    line = one_error_line(mlv(repo, "show", "v1"))
    assert "refs/tags/v1" in line and "symbolic link" in line, line
    one_error_line(mlv(repo, "tag"))
    # Moving it is refused too: the link is never replaced, nor written through.
    line = one_error_line(mlv(repo, "tag", "--force", "v1"))
    assert "symbolic link" in line, line
    assert outside.read_text() == main_id(repo) + "\n"
    assert_fsck_reports(repo, "refs/tags/v1")


def test_reflog_is_not_written_through_a_symlinked_logs_folder(repo: Path, tmp_path: Path) -> None:
    logs = repo / ".mlv" / "logs" / "refs" / "heads"
    for child in logs.iterdir():
        child.unlink()
    logs.rmdir()
    logs.symlink_to(tmp_path / "outside")
    before = outside_mlv(tmp_path)
    line = one_error_line(mlv(repo, "branch", "feat"))
    assert ".mlv/logs/refs/heads is a symbolic link" in line, line
    line = one_error_line(mlv(repo, "commit", "--allow-empty", "-m", "x"))
    assert "symbolic link" in line, line
    assert outside_mlv(tmp_path) == before
    # Refs move last: the refused reflog line left the refs where they were.
    assert sorted(p.name for p in (repo / ".mlv" / "refs" / "heads").iterdir()) == ["main"]
    with Repo(repo) as r:
        assert r.log()[0].commit.message == "second\n"
        assert "logs/refs/heads" in [w for w, _ in r.refs.damage()]
        with pytest.raises(FormatError, match="symbolic link"):
            r.refs.reflog_ids()


def test_fsck_reports_a_symlinked_ref_folder(repo: Path, tmp_path: Path) -> None:
    (repo / ".mlv" / "refs" / "heads" / "feat").symlink_to(tmp_path / "outside")
    assert_fsck_reports(repo, "refs/heads/feat")


def test_fsck_reports_a_file_that_cannot_be_a_ref(repo: Path) -> None:
    (repo / ".mlv" / "refs" / "heads" / "a..b").write_text(main_id(repo) + "\n")
    assert_fsck_reports(repo, "a..b")


def test_fsck_reports_a_fifo_in_refs(repo: Path) -> None:
    os.mkfifo(repo / ".mlv" / "refs" / "tags" / "v1")
    assert_fsck_reports(repo, "refs/tags/v1")


@pytest.mark.parametrize("name", ["a..b", "x.lock", "a b", "bad\udcff", "-x", "HEAD"])
def test_file_in_refs_that_cannot_be_a_ref_is_damage(repo: Path, name: str) -> None:
    heads = repo / ".mlv" / "refs" / "heads"
    (heads / name).write_text(main_id(repo) + "\n")
    line = one_error_line(mlv(repo, "branch"))
    assert "cannot be a ref" in line, line
    with Repo(repo) as r:
        assert [w for w, _ in r.refs.damage()] == [f"refs/heads/{name}"]
        assert list(r.refs.list(HEADS, skip_damaged=True)) == ["main"]
    # log leaves it out, as it leaves out a damaged ref.
    assert mlv(repo, "log", "--oneline").returncode == 0


def test_fifo_in_refs_does_not_hang(repo: Path) -> None:
    os.mkfifo(repo / ".mlv" / "refs" / "tags" / "v1")
    line = one_error_line(mlv(repo, "show", "v1"))
    assert "special file" in line, line
    one_error_line(mlv(repo, "tag"))
    with Repo(repo) as r:
        assert [w for w, _ in r.refs.damage()] == ["refs/tags/v1"]


def test_name_clash_with_a_stale_reflog_is_refused_before_the_ref_moves(repo: Path) -> None:
    """The reflog of a deleted branch stays (it keeps its commits for gc) and can be in the way."""
    assert mlv(repo, "branch", "feat").returncode == 0
    assert mlv(repo, "branch", "-d", "feat").returncode == 0
    line = one_error_line(mlv(repo, "branch", "feat/x"))
    assert "reflog" in line and ".mlv/logs/refs/heads/feat" in line, line
    assert not (repo / ".mlv" / "refs" / "heads" / "feat").exists()
    assert mlv(repo, "branch").stdout.split() == ["*", "main", main_id(repo)[:12]]


def test_name_clash_between_refs_is_one_line(repo: Path) -> None:
    assert mlv(repo, "branch", "feat/x").returncode == 0
    line = one_error_line(mlv(repo, "branch", "feat"))
    assert "cannot create refs/heads/feat" in line, line
    line = one_error_line(mlv(repo, "branch", "main/x"))
    assert "cannot create refs/heads/main/x" in line, line
    with Repo(repo) as r:
        assert sorted(RefStore(r.layout).list(HEADS)) == ["feat/x", "main"]


def test_reflog_with_garbage_lines_still_gives_its_ids(repo: Path) -> None:
    log = repo / ".mlv" / "logs" / "refs" / "heads" / "main"
    with Repo(repo) as r:
        ids = r.refs.reflog_ids()
    assert len(ids) == 2
    extra = "ab" * 32
    with open(log, "ab") as f:
        f.write(b"\xff\xfe garbage\n\n \t\n" + extra.encode() + b" 12\x00\n" + b"0" * 64)
    with Repo(repo) as r:
        assert r.refs.reflog_ids() == {*ids, extra}
        assert r.refs.damage() == []


def test_reflog_of_a_symlink_is_not_read(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "log"
    outside.write_text(f"{'0' * 64} {'cd' * 32} x 1\tfrom outside\n")
    (repo / ".mlv" / "logs" / "refs" / "heads" / "other").symlink_to(outside)
    with Repo(repo) as r:
        with pytest.raises(FormatError, match="symbolic link"):
            r.refs.reflog_ids()
        assert [w for w, _ in r.refs.damage()] == ["logs/refs/heads/other"]


# -- revisions ---------------------------------------------------------------------


@pytest.mark.parametrize("rev", ["HEAD~" + "9" * 5000, "HEAD^" + "1" * 5000, "main~1~" + "7" * 40])
def test_huge_step_count_is_refused_as_malformed(repo: Path, rev: str) -> None:
    line = one_error_line(mlv(repo, "show", rev))
    assert "digits" in line and "Error" not in line, line
    assert len(line) < 300, line


def test_long_step_counts_that_are_small_numbers_work(repo: Path) -> None:
    with Repo(repo) as r:
        assert r.resolve("HEAD~" + "0" * 50 + "1") == r.resolve("HEAD~1")
        with pytest.raises(MlvError, match="past the first commit"):
            r.resolve("HEAD~999999999")
        with pytest.raises(MlvError):
            r.resolve("HEAD~\u0663")  # a digit, but not an ASCII one


# -- config.toml -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\xff\xfe[core]\nformat = 1\n", "not UTF-8"),
        (b"[core]\nformat = 1\n# caf\xe9\n", "not UTF-8"),
        (b"core = 5\n", "core must be a table"),
        (b"[core]\nformat = 1\n[core]\n", "not valid TOML"),
        (b"store = 'fast'\n", "store must be a table"),
        (b"tables = [1, 2]\n", "tables must be a table"),
        (b"[core]\nformat = true\n", "core.format"),
        (b"[core]\nformat = 1.0\n", "core.format"),
        (b"[core]\nformat = 1\nx = 1" + b"0" * 5000 + b"\n", "too long"),
        (b"x = " + b"[" * 5000 + b"\n", "nested too deep"),
        (b"# " + b"x" * (1 << 21) + b"\n", "larger than"),
    ],
)
def test_broken_config_is_one_clear_line(repo: Path, content: bytes, needle: str) -> None:
    (repo / ".mlv" / "config.toml").write_bytes(content)
    for args in (["status"], ["log"], ["fsck"]):
        line = one_error_line(mlv(repo, *args))
        assert "config.toml" in line and needle in line and "Error:" not in line, line
    with pytest.raises((FormatError, UnsupportedVersionError)):
        Config.load(repo / ".mlv" / "config.toml")


def test_config_that_is_a_folder_is_one_clear_line(repo: Path) -> None:
    config = repo / ".mlv" / "config.toml"
    config.unlink()
    config.mkdir()
    line = one_error_line(mlv(repo, "status"))
    assert "config.toml is a folder" in line, line


def test_config_that_is_a_fifo_does_not_hang(repo: Path) -> None:
    config = repo / ".mlv" / "config.toml"
    config.unlink()
    os.mkfifo(config)
    line = one_error_line(mlv(repo, "status"))
    assert "config.toml is a special file" in line, line


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_config_is_one_clear_line(repo: Path) -> None:
    config = repo / ".mlv" / "config.toml"
    config.chmod(0)
    try:
        line = one_error_line(mlv(repo, "status"))
    finally:
        config.chmod(0o644)
    assert "permission denied" in line, line
