"""Remote-tracking refs (refs/remotes/<remote>/<branch>): names, revisions, upstreams,
remote rename and remove, fsck; made with RefStore.update, as fetch makes them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import AUTHOR, mlv, one_error_line, write_files
from mlv import Repo
from mlv.errors import FormatError, InvalidArgumentError
from mlv.model.objects import Commit, Person
from mlv.repo.refnames import REMOTES, ref_name_problem, remote_ref
from mlv.repo.upstream import ahead_behind, upstream_of

ORIGIN_MAIN = "refs/remotes/origin/main"


def _commit(repo: Repo, text: str) -> str:
    write_files(repo.root, {"data/a.txt": text})
    repo.add(["data"])
    return repo.commit(text, author=AUTHOR)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    """main with three commits; remote origin (the default) and backup configured."""
    r = Repo.init(tmp_path / "repo")
    for n in range(3):
        _commit(r, f"v{n}\n")
    r.add_remote("origin", str(tmp_path / "origin"))
    r.add_remote("backup", str(tmp_path / "backup"))
    yield r
    r.close()


def _track(repo: Repo, name: str, commit: str) -> None:
    with repo.write_lock:
        repo.refs.update(name, commit, repo.refs.read(name), message="fetch: test")


def _status(repo: Repo) -> tuple[list[str], dict[str, object]]:
    text = mlv(repo.root, "status")
    assert text.returncode == 0, text.stderr
    data = json.loads(mlv(repo.root, "status", "--json").stdout)
    return text.stdout.splitlines(), data


# -- names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "refs/remotes/origin/a..b",
        "refs/remotes/origin/",
        "refs/remotes/origin",
        "refs/remotes/-x/main",
        "refs/remotes/has.dot/main",
        "refs/remotes/" + "r" * 65 + "/main",
        "refs/remotes/origin/main.lock",
        "refs/remotes/origin/HEAD",
        "refs/remotes/origin/x y",
        "refs/remotes//main",
    ],
)
def test_bad_remote_tracking_names_are_refused(repo: Repo, name: str) -> None:
    assert ref_name_problem(name)
    head = repo.refs.head().commit
    assert head
    with repo.write_lock, pytest.raises(InvalidArgumentError, match="not a valid ref name"):
        repo.refs.update(name, head, None)
    assert repo.refs.read(name) is None


def test_good_names_pass_the_gate() -> None:
    for name in (ORIGIN_MAIN, "refs/remotes/o_1-x/feature/deep", "refs/remotes/9/v1.0"):
        assert ref_name_problem(name) is None
    assert remote_ref("origin", "feat/x") == "refs/remotes/origin/feat/x"
    with pytest.raises(InvalidArgumentError, match="remote part"):
        remote_ref("bad.name", "main")


def test_update_list_delete_with_reflogs(repo: Repo) -> None:
    head = repo.refs.head().commit
    assert head
    _track(repo, ORIGIN_MAIN, head)
    _track(repo, "refs/remotes/origin/feat/x", head)
    _track(repo, "refs/remotes/backup/main", head)
    assert repo.refs.list(REMOTES) == {
        "backup/main": head,
        "origin/feat/x": head,
        "origin/main": head,
    }
    assert repo.refs.remote_refs("origin") == {"feat/x": head, "main": head}
    log = repo.layout.mlv / "logs" / ORIGIN_MAIN
    assert log.read_text().endswith("\tfetch: test\n")
    with repo.write_lock:
        repo.refs.delete("refs/remotes/origin/feat/x")
    assert not (repo.layout.mlv / "refs/remotes/origin/feat").exists()
    assert repo.remote_branches() == {"backup/main": head, "origin/main": head}
    assert repo.remote_branches("backup") == {"backup/main": head}


def test_listing_skips_damaged_remote_refs(repo: Repo) -> None:
    head = repo.refs.head().commit
    assert head
    _track(repo, ORIGIN_MAIN, head)
    (repo.layout.mlv / "refs/remotes/origin/broken").write_text("nonsense\n")
    (repo.layout.mlv / "refs/remotes/bad.remote").mkdir()
    (repo.layout.mlv / "refs/remotes/bad.remote/main").write_text(head + "\n")
    assert repo.refs.list(REMOTES, skip_damaged=True) == {"origin/main": head}
    with pytest.raises(FormatError):
        repo.refs.list(REMOTES)
    wheres = [where for where, _ in repo.refs.damage()]
    assert "refs/remotes/origin/broken" in wheres
    assert "refs/remotes/bad.remote/main" in wheres


# -- revisions ---------------------------------------------------------------------


def test_revisions_name_remote_tracking_refs(repo: Repo) -> None:
    tip = repo.refs.head().commit
    assert tip
    parent = repo.read_commit(tip).parents[0]
    _track(repo, ORIGIN_MAIN, tip)
    assert repo.resolve("origin/main") == tip
    assert repo.resolve(ORIGIN_MAIN) == tip
    assert repo.resolve("origin/main~1") == parent
    assert repo.resolve("origin/main^") == parent
    assert repo.resolve("origin/main~2") == repo.read_commit(parent).parents[0]
    out = mlv(repo.root, "log", "--oneline", "origin/main~1")
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 2, out.stderr


def test_branch_and_tag_come_before_remote_tracking(repo: Repo) -> None:
    tip = repo.refs.head().commit
    assert tip
    parent = repo.read_commit(tip).parents[0]
    _track(repo, ORIGIN_MAIN, tip)
    repo.create_branch("origin/main", parent)
    assert repo.resolve("origin/main") == parent
    assert repo.resolve(ORIGIN_MAIN) == tip
    repo.delete_branch("origin/main", force=True)
    repo.create_tag("origin/main", parent)
    assert repo.resolve("origin/main") == parent
    repo.delete_tag("origin/main")
    assert repo.resolve("origin/main") == tip


def test_unknown_remote_tracking_revision_is_one_line(repo: Repo) -> None:
    assert "remote-tracking" in one_error_line(mlv(repo.root, "log", "origin/nope"))


# -- upstream ----------------------------------------------------------------------


def test_no_upstream(repo: Repo) -> None:
    lines, data = _status(repo)
    assert data["upstream"] is None
    assert not any("Your branch" in line for line in lines)
    tip = repo.refs.head().commit
    assert tip
    _track(repo, "refs/remotes/backup/main", tip)  # not the default remote
    assert repo.upstream_status() is None
    assert upstream_of(repo.refs, "main", None) is None


def test_up_to_date(repo: Repo) -> None:
    tip = repo.refs.head().commit
    assert tip
    _track(repo, ORIGIN_MAIN, tip)
    assert upstream_of(repo.refs, "main", "origin") == ORIGIN_MAIN
    lines, data = _status(repo)
    assert lines[:2] == ["On branch main", "Your branch is up to date with 'origin/main'."]
    assert data["upstream"] == {"ref": "origin/main", "ahead": 0, "behind": 0}


def test_ahead(repo: Repo) -> None:
    tip = repo.refs.head().commit
    assert tip
    _track(repo, ORIGIN_MAIN, repo.resolve("HEAD~2"))
    lines, data = _status(repo)
    assert lines[1] == "Your branch is ahead of 'origin/main' by 2 commits."
    assert data["upstream"] == {"ref": "origin/main", "ahead": 2, "behind": 0}


def test_behind(repo: Repo) -> None:
    tip = repo.refs.head().commit
    assert tip
    for n in range(3):
        _commit(repo, f"later {n}\n")
    _track(repo, ORIGIN_MAIN, repo.refs.head().commit or "")
    with repo.write_lock:
        repo.refs.update("refs/heads/main", tip, repo.refs.head().commit)
    repo.checkout("main", force=True)
    lines, data = _status(repo)
    assert lines[1] == (
        "Your branch is behind 'origin/main' by 3 commits, and can be fast-forwarded."
    )
    assert data["upstream"] == {"ref": "origin/main", "ahead": 0, "behind": 3}


def test_diverged(repo: Repo) -> None:
    base = repo.refs.head().commit
    assert base
    _commit(repo, "theirs 1\n")
    theirs = _commit(repo, "theirs 2\n")
    _track(repo, ORIGIN_MAIN, theirs)
    with repo.write_lock:
        repo.refs.update("refs/heads/main", base, theirs)
    repo.checkout("main", force=True)
    _commit(repo, "ours\n")
    lines, data = _status(repo)
    assert lines[1] == (
        "Your branch and 'origin/main' have diverged, and have 1 and 2 different commits "
        "each, respectively."
    )
    assert data["upstream"] == {"ref": "origin/main", "ahead": 1, "behind": 2}


def _chain(commits: dict[str, Commit], start: str | None, n: int, tag: str, t0: int) -> str | None:
    tip = start
    for i in range(n):
        commit = Commit(
            tree="0" * 64,
            parents=(tip,) if tip else (),
            author=Person("a", "a@example.com"),
            time=t0 + i,
            tz_offset=0,
            message=f"{tag} {i}",
        )
        tip = f"{tag}{i:060d}"[:64].ljust(64, "0")
        commits[tip] = commit
    return tip


def test_ahead_behind_is_fast_on_long_histories() -> None:
    commits: dict[str, Commit] = {}
    read_count = 0

    def read(commit_id: str) -> Commit:
        nonlocal read_count
        read_count += 1
        return commits[commit_id]

    base = _chain(commits, None, 5000, "b", 0)
    ours = _chain(commits, base, 3, "o", 10_000)
    theirs = _chain(commits, base, 7, "t", 10_000)
    assert base and ours and theirs
    started = time.perf_counter()
    assert ahead_behind(read, ours, theirs) == (3, 7)
    assert time.perf_counter() - started < 1
    assert read_count < 50  # stopped where the histories met, not at the root
    assert ahead_behind(read, ours, ours) == (0, 0)
    assert ahead_behind(read, base, ours) == (0, 3)


def test_ahead_behind_through_merges(repo: Repo) -> None:
    base = repo.refs.head().commit
    assert base
    repo.create_branch("side")
    _commit(repo, "main 1\n")
    repo.switch("side")
    _commit(repo, "side 1\n")
    repo.switch("main")
    merged = repo.merge("side", prefer="theirs", author=AUTHOR)
    assert merged
    side = repo.refs.read("refs/heads/side")
    head = repo.refs.head().commit
    assert side and head
    # main has its own commit and the merge; side has nothing main lacks.
    assert ahead_behind(repo.read_commit, head, side) == (2, 0)
    assert ahead_behind(repo.read_commit, side, head) == (0, 2)


# -- branch listing and log decorations ---------------------------------------------


def test_branch_lists_remote_tracking(repo: Repo) -> None:
    tip = repo.refs.head().commit
    assert tip
    _track(repo, ORIGIN_MAIN, tip)
    plain = mlv(repo.root, "branch").stdout
    assert "origin/main" not in plain
    remotes = mlv(repo.root, "branch", "-r")
    assert remotes.stdout.split() == ["origin/main", tip[:12]], remotes.stderr
    both = mlv(repo.root, "branch", "-a").stdout
    assert "* main" in both and "remotes/origin/main" in both
    data = json.loads(mlv(repo.root, "branch", "-a", "--json").stdout)
    assert data["remotes"] == {"origin/main": tip}
    assert "main" in data["branches"]
    one_error_line(mlv(repo.root, "branch", "-r", "x"))


def test_log_decorates_remote_tracking(repo: Repo) -> None:
    tip = repo.refs.head().commit
    assert tip
    _track(repo, ORIGIN_MAIN, repo.resolve("HEAD~1"))
    assert "origin/main" in repo.ref_names()[repo.resolve("HEAD~1")]
    out = mlv(repo.root, "log", "--oneline").stdout.splitlines()
    assert "origin/main" in out[1] and "origin/main" not in out[0]


# -- rename and remove ----------------------------------------------------------------


def test_rename_remote_moves_its_tracking_refs(repo: Repo) -> None:
    tip = repo.refs.head().commit
    assert tip
    _track(repo, ORIGIN_MAIN, tip)
    _track(repo, "refs/remotes/origin/feat/x", tip)
    _track(repo, "refs/remotes/backup/main", tip)
    log_before = (repo.layout.mlv / "logs" / ORIGIN_MAIN).read_text()
    out = mlv(repo.root, "remote", "rename", "origin", "team")
    assert out.returncode == 0, out.stderr
    assert repo.refs.remote_refs("origin") == {}
    assert repo.refs.remote_refs("team") == {"main": tip, "feat/x": tip}
    assert (repo.layout.mlv / "logs/refs/remotes/team/main").read_text() == log_before
    assert not (repo.layout.mlv / "refs/remotes/origin").exists()
    assert not (repo.layout.mlv / "logs/refs/remotes/origin").exists()
    assert repo.remotes().default == "team"
    assert repo.resolve("team/main") == tip
    assert repo.upstream_status() is not None


def test_rename_refused_when_the_new_name_has_refs(repo: Repo) -> None:
    tip = repo.refs.head().commit
    assert tip
    _track(repo, ORIGIN_MAIN, tip)
    _track(repo, "refs/remotes/team/main", tip)
    line = one_error_line(mlv(repo.root, "remote", "rename", "origin", "team"))
    assert "refs/remotes/team/" in line
    assert "origin" in repo.remotes().by_name  # nothing changed
    assert repo.refs.remote_refs("origin") == {"main": tip}
    with repo.write_lock, pytest.raises(InvalidArgumentError):
        repo.refs.rename_remote_refs("origin", "team")


def test_remove_remote_deletes_its_tracking_refs(repo: Repo) -> None:
    tip = repo.refs.head().commit
    assert tip
    _track(repo, ORIGIN_MAIN, tip)
    _track(repo, "refs/remotes/backup/main", tip)
    removed = repo.remove_remote("origin")
    assert removed.name == "origin"
    assert repo.refs.list(REMOTES) == {"backup/main": tip}
    assert not (repo.layout.mlv / "refs/remotes/origin").exists()
    assert not (repo.layout.mlv / "logs/refs/remotes/origin").exists()
    out = mlv(repo.root, "remote", "remove", "backup")
    assert out.returncode == 0, out.stderr
    assert repo.refs.list(REMOTES) == {}


# -- fsck --------------------------------------------------------------------------


def test_fsck_walks_from_remote_tracking_refs(repo: Repo) -> None:
    base = repo.refs.head().commit
    assert base
    theirs = _commit(repo, "only on origin\n")
    _track(repo, ORIGIN_MAIN, theirs)
    with repo.write_lock:
        repo.refs.update("refs/heads/main", base, theirs)
    repo.checkout("main", force=True)
    report = repo.fsck()
    assert report.ok, report.problems
    assert report.commits_checked == 4  # the commit only origin/main reaches is checked too
    from mlv.repo.reachable import ref_starts

    assert ref_starts(repo.refs)[ORIGIN_MAIN] == theirs


@pytest.mark.parametrize("seed", range(60))
def test_ahead_behind_equals_the_set_difference(seed: int) -> None:
    """On random graphs with merges and many commits in one second, the early stop
    gives what comparing the two whole histories gives."""
    import random

    from mlv.repo.history import reachable

    rng = random.Random(seed)
    commits: dict[str, Commit] = {}
    ids: list[str] = []
    per_second = rng.randint(1, 10)
    for i in range(rng.randint(2, 60)):
        parents = tuple(rng.sample(ids, min(len(ids), rng.choice([1, 1, 1, 2])))) if ids else ()
        commit_id = f"{i:064x}"
        commits[commit_id] = Commit(
            tree="0" * 64,
            parents=parents,
            author=Person("a", "a@example.com"),
            time=i // per_second,  # never before a parent, often the same second
            tz_offset=0,
            message=str(i),
        )
        ids.append(commit_id)
    a, b = rng.choice(ids), rng.choice(ids)
    ra, rb = reachable(commits.__getitem__, [a]), reachable(commits.__getitem__, [b])
    assert ahead_behind(commits.__getitem__, a, b) == (len(ra.keys() - rb), len(rb.keys() - ra))
