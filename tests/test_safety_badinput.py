"""Bad input gets one `mlv: error:` line on stderr, exit code 2 and no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import AUTHOR, ENV, mlv
from mlv import Repo
from mlv.core.hashing import hash_bytes
from mlv.model.objects import Commit, Person
from mlv.store.pack import KIND_META


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, exactly one stderr line starting `mlv: error:`, no traceback anywhere."""
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert proc.returncode == 2, out
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mlv: error: "), proc.stderr
    assert "(set MLV_DEBUG=1 to see where)" not in lines[0], f"unexpected error: {lines[0]}"
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two commits: data/a.txt, data/sub/b.txt, then data/c.txt."""
    root = tmp_path / "repo"
    with Repo.init(root) as r:
        (root / "data" / "sub").mkdir(parents=True)
        (root / "data" / "a.txt").write_text("alpha\n")
        (root / "data" / "sub" / "b.txt").write_text("beta\n")
        r.add(["data"])
        r.commit("first", author=AUTHOR)
        (root / "data" / "c.txt").write_text("gamma\n")
        r.add(["data"])
        r.commit("second", author=AUTHOR)
    return root


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["show", "nosuchbranch"], "nosuchbranch"),
        (["log", "nosuchbranch"], "nosuchbranch"),
        (["checkout", "nosuchbranch"], "nosuchbranch"),
        (["diff", "nosuchbranch"], "nosuchbranch"),
        (["show", "HEAD~5"], "HEAD~5"),
        (["show", "HEAD^^^^x"], "HEAD^^^^x"),
        (["show", "abc"], "abc"),
        (["show", "0" * 64], "0" * 64),
        (["add", "missing.txt"], "missing.txt"),
        (["show", "HEAD:data/missing.txt"], "data/missing.txt"),
        (["show", "HEAD:data/sub"], "data/sub"),
        (["show", "HEAD:data"], "data"),
        (["checkout", "HEAD", "--", "data/missing.txt"], "data/missing.txt"),
        (["checkout", "HEAD", "data/missing.txt"], "data/missing.txt"),
        (["restore", "data/missing.txt"], "data/missing.txt"),
        (["rm", "data/missing.txt"], "data/missing.txt"),
        (["add", "../outside"], "outside"),
        (["add", ".mlv/HEAD"], ".mlv"),
        (["branch", "bad..name"], "bad..name"),
        (["branch", "with space"], "with space"),
        (["branch", "x.lock"], "x.lock"),
        (["switch", "-c", "a:b"], "a:b"),
        (["tag", "v1~2"], "v1~2"),
        (["switch", "nosuchbranch"], "nosuchbranch"),
        (["branch", "-d", "nosuchbranch"], "nosuchbranch"),
        (["diff", "HEAD", "HEAD~1", "HEAD"], "two revisions"),
        (["commit", "-m", "   "], "message"),
        (["commit", "-m", "nothing staged"], "nothing to commit"),
        (["merge", "nosuchbranch"], "nosuchbranch"),
        (["merge", "HEAD", "--ours", "--theirs"], "--ours"),
        (["init", "."], "already"),
    ],
)
def test_bad_argument_is_one_line(repo: Path, args: list[str], needle: str) -> None:
    assert_one_line_error(mlv(repo, *args), needle)


def test_bad_input_leaves_repo_untouched(repo: Path) -> None:
    before = mlv(repo, "log", "--oneline").stdout
    for args in (["checkout", "nosuch"], ["add", "nope"], ["branch", "a..b"]):
        assert mlv(repo, *args).returncode == 2
    assert mlv(repo, "log", "--oneline").stdout == before
    assert mlv(repo, "fsck").returncode == 0


def test_ambiguous_prefix(repo: Path) -> None:
    ids = _two_commits_sharing_prefix(repo, 4)
    prefix = ids[0][:4]
    line = assert_one_line_error(mlv(repo, "show", prefix), "ambiguous")
    assert ids[0][:12] in line and ids[1][:12] in line
    # One more character tells them apart (or not): never a traceback either way.
    for rev in (ids[0][:5], ids[0][:12], ids[0]):
        proc = mlv(repo, "show", rev)
        if proc.returncode == 0:
            assert ids[0] in proc.stdout
        else:
            assert_one_line_error(proc)
    assert mlv(repo, "show", ids[1]).returncode == 0


def _two_commits_sharing_prefix(root: Path, n: int) -> tuple[str, str]:
    """Store two (unreachable) commits whose ids share their first ``n`` hex digits."""
    with Repo(root) as r:
        head = r.resolve("HEAD")
        tree = r.read_commit(head).tree
        seen: dict[str, bytes] = {}
        for i in range(1_000_000):
            data = Commit(tree, (head,), Person("x", "x@y"), 1_700_000_000 + i, 0, "m\n").to_bytes()
            key = hash_bytes(data)[:n]
            if key in seen:
                first = r.store.put_meta(seen[key], KIND_META)
                second = r.store.put_meta(data, KIND_META)
                r.store.flush()
                return first, second
            seen[key] = data
    raise AssertionError("no prefix collision found")


def test_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for args in (["status"], ["log"], ["add", "."], ["fsck"], ["show"], ["checkout", "main"]):
        assert_one_line_error(mlv(plain, *args), "not an mlv repository")


def test_unknown_option_prints_usage_without_traceback(repo: Path) -> None:
    for args in (["status", "--bogus"], ["commit", "--nope", "-m", "x"], ["frobnicate"]):
        proc = mlv(repo, *args)
        assert proc.returncode == 2, proc
        assert "Traceback" not in proc.stdout + proc.stderr
        assert proc.stderr.strip(), "a usage error must say what is wrong"


def test_missing_required_argument(repo: Path) -> None:
    for args in (["add"], ["commit"], ["checkout"]):
        proc = mlv(repo, *args)
        assert proc.returncode == 2, proc
        assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "text",
    [
        "[core\nformat = 1\n",
        "[core]\nformat = 2\n[store]\ncompression_level = 'fast'\n",
        "[core]\nformat = 2\n[store]\ncompression_level = 99\n",
        "\xff\xfe not text",
    ],
)
def test_malformed_config(repo: Path, text: str) -> None:
    (repo / ".mlv" / "config.toml").write_bytes(text.encode("utf-8", "surrogateescape"))
    for args in (["status"], ["log"], ["add", "data"], ["fsck"]):
        assert_one_line_error(mlv(repo, *args), "config.toml")


def test_missing_config(repo: Path) -> None:
    (repo / ".mlv" / "config.toml").unlink()
    assert_one_line_error(mlv(repo, "status"), "config.toml")


@pytest.mark.parametrize("version", ["3", "99", "0", "'one'"])
def test_unsupported_repository_format(repo: Path, version: str) -> None:
    (repo / ".mlv" / "config.toml").write_text(f"[core]\nformat = {version}\n")
    for args in (["status"], ["log"], ["add", "data"], ["checkout", "HEAD~1"], ["fsck"]):
        assert_one_line_error(mlv(repo, *args), "format")


def test_debug_shows_traceback(repo: Path) -> None:
    proc = mlv(repo, "show", "nosuchbranch", env={**ENV, "MLV_DEBUG": "1"})
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr
    assert "nosuchbranch" in proc.stderr


def test_errors_from_subfolder(repo: Path) -> None:
    sub = repo / "data" / "sub"
    assert_one_line_error(mlv(sub, "add", "missing.txt"), "missing.txt")
    assert_one_line_error(mlv(sub, "show", "HEAD:missing.txt"), "missing.txt")
