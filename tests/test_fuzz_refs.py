"""Generated hostile input for HEAD, refs, reflogs, ref names and config.toml.

Whatever bytes sit in those files, or whatever entries sit under ``refs/`` and ``logs/``,
opening the repository and reading or moving refs either works or raises an MlvError,
and nothing outside ``.mlv`` is created or changed. Ref names are checked against git.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers import AUTHOR, write_files
from mlv import Repo
from mlv.errors import MlvError
from mlv.repo.layout import Layout
from mlv.repo.refnames import MAX_COMPONENT_BYTES, MAX_NAME_BYTES, ref_name_problem
from mlv.repo.refs import HEADS, TAGS, RefStore

# The repository sits this deep in each scratch folder, so that a path that climbs out
# of it (the defect these tests guard against) still lands where the check looks.
DEPTH = 12
# Each case copies a repository and writes refs with fsync: in memory that is some 20
# times faster than on disk, which keeps the whole module within seconds.
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


OUTSIDE = b"{outside}"  # replaced by the absolute path of the scratch folder's outside/


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two commits on main, a tag and a second branch."""
    root = tmp_path_factory.mktemp("fuzz-template") / "repo"
    with Repo.init(root) as r:
        write_files(root, {"a.txt": "one\n"})
        r.add(["a.txt"])
        r.commit("first", author=AUTHOR)
        write_files(root, {"a.txt": "two\n"})
        r.add(["a.txt"])
        r.commit("second", author=AUTHOR)
        r.create_tag("v1")
        r.create_branch("feat/x", "HEAD~1")
    return root


@contextmanager
def scratch(template: Path) -> Iterator[tuple[Path, Path]]:
    """A fresh copy of the template: (scratch folder, repository root)."""
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        box = Path(tmp)
        root = box.joinpath(*[f"d{i}" for i in range(DEPTH)], "repo")
        shutil.copytree(template, root, symlinks=True)
        (box / "outside" / "folder").mkdir(parents=True)
        (box / "outside" / "file").write_text("keep\n")
        yield box, root


def snapshot(box: Path, root: Path) -> dict[str, object]:
    """Everything in the scratch folder except the repository's .mlv."""
    found: dict[str, object] = {}
    for dirpath, dirs, files in os.walk(box):
        here = Path(dirpath)
        if here == root and ".mlv" in dirs:
            dirs.remove(".mlv")
        for name in dirs + files:
            path = here / name
            st_ = path.lstat()
            found[str(path.relative_to(box))] = (
                os.readlink(path) if path.is_symlink() else None,
                st_.st_mode,
                path.read_bytes() if path.is_file() and not path.is_symlink() else None,
            )
    return found


def commit_of(root: Path) -> str:
    return (root / ".mlv" / "refs" / "tags" / "v1").read_text().strip()


STEPS: list[tuple[str, Callable[[Repo, str], object]]] = [
    ("head", lambda r, c: r.refs.head()),
    ("resolve HEAD~1", lambda r, c: r.resolve("HEAD~1")),
    ("resolve main", lambda r, c: r.resolve("main")),
    ("branches", lambda r, c: r.refs.list(HEADS)),
    ("tags", lambda r, c: r.refs.list(TAGS, skip_damaged=True)),
    ("reflog ids", lambda r, c: r.refs.reflog_ids()),
    ("log", lambda r, c: r.log(max_count=3)),
    ("status", lambda r, c: r.status()),
    # Writers: these are what once followed a hostile HEAD or a symlink out.
    ("advance HEAD", lambda r, c: r.refs.update_head(c, "fuzz", "fuzz")),
    ("new branch", lambda r, c: r.refs.update(HEADS + "new/x", c, None, "fuzz", "fuzz")),
    ("move main", lambda r, c: r.refs.update(HEADS + "main", c, r.refs.read(HEADS + "main"))),
    ("delete feat/x", lambda r, c: r.refs.delete(HEADS + "feat/x")),
    ("detach HEAD", lambda r, c: r.refs.set_head_detached(c, "fuzz", "fuzz")),
]


def exercise(box: Path, root: Path, commit: str) -> None:
    """Run every step; each may refuse with an MlvError, none may touch anything outside."""
    before = snapshot(box, root)
    try:
        repo = Repo(root)
    except MlvError:
        assert snapshot(box, root) == before
        return
    with repo:
        # fsck's view of the refs: it never raises, and it agrees with the readers.
        damage = repo.refs.damage()
        where = {w for w, _ in damage}
        try:
            repo.refs.head()
            assert "HEAD" not in where, damage
        except MlvError:
            assert "HEAD" in where, damage
        try:
            repo.refs.list(HEADS)
        except MlvError:
            assert any(w.startswith("refs/heads") for w in where), damage
        for _name, step in STEPS:
            with suppress(MlvError):
                step(repo, commit)
    assert snapshot(box, root) == before


def _bytes_from(tokens: list[bytes], max_size: int = 8) -> st.SearchStrategy[bytes]:
    return st.lists(st.sampled_from(tokens), max_size=max_size).map(b"".join)


PATH_TOKENS = [
    b"refs/", b"heads/", b"tags/", b"logs/", b"../", b"..", b"./", b"/", b"//", b"main",
    b"feat", b"x", b"pwn", b".lock", b".hidden", b"@{", b"@", b"~1", b"^", b":", b"?", b"*",
    b"[", b"\\", b" ", b"\t", b"\x00", b"\n", b"\r", b"\x7f", b"\xff", b"\xc3", "é".encode(),
    b"a" * 240, b"HEAD", b"-", OUTSIDE, OUTSIDE + b"/folder/", OUTSIDE + b"/file",
]  # fmt: skip
ID_TOKENS = [b"0" * 64, b"ab" * 32, b"AB" * 32, b"ab" * 31, b"ab" * 33, b"g" * 64, b" ", b"\n"]


def head_contents() -> st.SearchStrategy[bytes]:
    climbing = st.tuples(
        st.just(b"ref: "),
        st.sampled_from([b"refs/heads/", b"", OUTSIDE + b"/", OUTSIDE + b"/folder/"]),
        _bytes_from([b"../", b"..", b"pwn", b"x/", b"refs/", b"heads/", b"/"], 10),
        st.sampled_from([b"pwn", b"\n", b""]),
    ).map(b"".join)
    return st.one_of(
        st.binary(max_size=120),
        climbing,
        st.tuples(
            st.sampled_from([b"ref: ", b"ref:", b"ref:  ", b"", b" ref: "]),
            st.sampled_from([b"", b"refs/heads/", b"refs/heads/../" * 3]),
            _bytes_from(PATH_TOKENS),
            st.sampled_from([b"", b"\n", b"\r\n", b"\n\n", b"\x00"]),
        ).map(b"".join),
        _bytes_from(ID_TOKENS, 4),
    )


def ref_contents() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=100),
        _bytes_from(ID_TOKENS, 4),
        st.text("0123456789abcdefABCDEF \n\t\r", max_size=80).map(str.encode),
        st.just(b"ab" * 32 + b"\n" + b" " * 5000),
    )


def reflog_contents() -> st.SearchStrategy[bytes]:
    line = _bytes_from([*ID_TOKENS, b"Ada <a@b>", b"1700000000", b"\t", b"msg", b"\xff"], 8)
    return st.one_of(
        st.binary(max_size=300),
        st.lists(line, max_size=6).map(b"\n".join),
    )


CONFIG_LINES = [
    b"[core]", b"[store]", b"[tables]", b"[[core]]", b"[core.x]", b"format = 1", b"format = 2",
    b"format = '1'", b"format = true", b"format = 1.0", b"format = -1", b"format = [1]",
    b"compression_level = 3", b"compression_level = 99", b"compression_level = 'x'",
    b"strict = true", b"strict = 1", b"profile = false", b"profile = {}", b"core = 5",
    b"store = 'x'", b"tables = [1]", b"tables.strict = true", b"x = [", b"x = " + b"[" * 2000,
    b"x = 1" + b"0" * 4400, b"format = 1979-05-27", b"# \xff\xfe", b"\x00", b"\"\\ud800\" = 1",
]  # fmt: skip


def config_contents() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=200),
        st.lists(st.sampled_from(CONFIG_LINES), max_size=8).map(b"\n".join),
    )


def _resolve_outside(data: bytes, box: Path) -> bytes:
    return data.replace(OUTSIDE, os.fsencode(box / "outside"))


@fuzz(300)
@given(content=head_contents())
def test_any_head_is_read_or_refused(template: Path, content: bytes) -> None:
    with scratch(template) as (box, root):
        (root / ".mlv" / "HEAD").write_bytes(_resolve_outside(content, box))
        exercise(box, root, commit_of(template))


@fuzz(200)
@given(
    which=st.sampled_from(["refs/heads/main", "refs/heads/feat/x", "refs/tags/v1"]),
    content=ref_contents(),
)
def test_any_ref_file_is_read_or_refused(template: Path, which: str, content: bytes) -> None:
    with scratch(template) as (box, root):
        (root / ".mlv" / which).write_bytes(content)
        exercise(box, root, commit_of(template))


@fuzz(200)
@given(
    which=st.sampled_from(["logs/refs/heads/main", "logs/HEAD", "logs/refs/heads/feat/x"]),
    content=reflog_contents(),
)
def test_any_reflog_is_read_or_refused(template: Path, which: str, content: bytes) -> None:
    with scratch(template) as (box, root):
        path = root / ".mlv" / which
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        exercise(box, root, commit_of(template))
        with Repo(root) as r:
            ids = r.refs.reflog_ids()  # garbage lines are skipped, never an error
        assert all(len(i) == 64 for i in ids)


@fuzz(300)
@given(content=config_contents())
def test_any_config_is_read_or_refused(template: Path, content: bytes) -> None:
    with scratch(template) as (box, root):
        (root / ".mlv" / "config.toml").write_bytes(content)
        exercise(box, root, commit_of(template))


ENTRY_NAMES = st.one_of(
    st.sampled_from([b"main", b"new", b"feat", b"x", b".main.mlv-0123456789ab.tmp", b"a..b"]),
    st.binary(min_size=1, max_size=255).filter(
        lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b"..")
    ),
)
ENTRY_KINDS = st.sampled_from(
    ["file", "folder", "link to outside folder", "link to outside file", "link loop", "fifo"]
)


@fuzz(150)
@given(
    entries=st.lists(
        st.tuples(
            st.sampled_from(["refs/heads", "refs/tags", "refs", "logs/refs/heads", "logs"]),
            ENTRY_NAMES,
            ENTRY_KINDS,
            ref_contents(),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_entry_under_refs_and_logs_is_read_or_refused(
    template: Path, entries: list[tuple[str, bytes, str, bytes]]
) -> None:
    with scratch(template) as (box, root):
        for folder, name, kind, content in entries:
            path = os.path.join(os.fsencode(root / ".mlv" / folder), name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.unlink(path)
            if kind == "file":
                Path(os.fsdecode(path)).write_bytes(content)
            elif kind == "folder":
                os.mkdir(path)
                Path(os.fsdecode(path), "x").write_bytes(content)
            elif kind == "link to outside folder":
                os.symlink(box / "outside" / "folder", path)
            elif kind == "link to outside file":
                os.symlink(box / "outside" / "file", path)
            elif kind == "link loop":
                os.symlink(os.fsdecode(name), path)
            else:
                os.mkfifo(path)
        exercise(box, root, commit_of(template))


# -- ref names -------------------------------------------------------------------

NAME_TOKENS = [
    "a", "b", "main", ".", "..", "/", "//", ".lock", "lock", "@", "{", "}", "@{", "-", "HEAD",
    "~", "^", ":", "?", "*", "[", "]", "\\", " ", "\t", "\x7f", "\x1f", "\x01", "é", "日本",
    "\u200b", "\ufeff", "x" * 240, "y" * 233,
]  # fmt: skip
SHORT_NAMES = st.one_of(
    st.lists(st.sampled_from(NAME_TOKENS), max_size=7).map("".join),
    st.text(st.sampled_from(list("ab.-/@{}~^:?*[\\ \t\x7f\x01")), max_size=16),
    st.text(max_size=24),
).filter(lambda n: "\x00" not in n)


COMPONENTS = st.one_of(
    st.text(
        st.characters(exclude_categories=("Cs", "Cc"), exclude_characters=" ~^:?*[\\/"),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from(["a", "v1.0", "a.b", "日本", "x" * MAX_COMPONENT_BYTES, "é" * 116 + "x"]),
)
VALID_NAMES = (
    st.lists(COMPONENTS, min_size=1, max_size=5)
    .map("/".join)
    .filter(lambda n: ref_name_problem(HEADS + n) is None)
)


def mlv_only_refusal(short: str) -> bool:
    """Names git takes under refs/heads/ that mlv refuses on purpose (see format.md)."""
    return (
        short.startswith("-")
        or short in ("HEAD", "@")
        or len(short.encode()) > MAX_NAME_BYTES
        or any(len(p.encode()) > MAX_COMPONENT_BYTES for p in short.split("/"))
    )


def git_accepts(names: list[str]) -> list[bool]:
    """git check-ref-format's verdict on refs/heads/<name>, one shell for the whole batch."""
    script = 'for n do git check-ref-format "refs/heads/$n" && echo 1 || echo 0; done'
    proc = subprocess.run(
        ["sh", "-c", script, "sh", *names],
        capture_output=True,
        check=True,
        env={"PATH": os.environ.get("PATH", ""), "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/"},
    )
    verdicts = proc.stdout.split()
    assert len(verdicts) == len(names), proc.stderr
    return [v == b"1" for v in verdicts]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@fuzz(40)
@given(names=st.lists(SHORT_NAMES, min_size=50, max_size=50))
def test_ref_names_agree_with_git_check_ref_format(names: list[str]) -> None:
    for name, git_ok in zip(names, git_accepts(names), strict=True):
        problem = ref_name_problem(HEADS + name)
        if mlv_only_refusal(name):
            assert problem is not None, name
        else:
            assert (problem is None) == git_ok, (name, problem, git_ok)


@fuzz(100)
@given(name=VALID_NAMES)
@example(name="0\xa0")  # str.strip took the no-break space off HEAD's branch name
@example(name="\xa0")
def test_every_valid_name_round_trips_on_disk(name: str) -> None:
    """The gate's limits are real: any name it passes can be written, read, listed, deleted."""
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        layout = Layout(Path(tmp) / "repo")
        layout.refs.mkdir(parents=True)
        refs = RefStore(layout)
        commit = "ab" * 32
        refs.update(HEADS + name, commit, None, "who", "msg")
        refs.update(TAGS + name, commit, None)
        refs.set_head_ref(HEADS + name)
        assert refs.read(HEADS + name) == refs.head().commit == commit
        assert refs.list(HEADS) == {name: commit} == refs.list(TAGS)
        assert (layout.refs / "heads" / name).is_file()
        assert refs.reflog_ids() == {commit}
        refs.delete(HEADS + name)
        assert refs.list(HEADS) == {} and not any((layout.refs / "heads").iterdir())
