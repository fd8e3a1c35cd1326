"""Shared fixtures: the real ``mlv`` command in a subprocess, small repositories for it,
and a real S3-API server (moto, on 127.0.0.1) for remote tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import pytest

from helpers import write_files
from s3server import DUMMY_KEYS, REGION, MotoServer

AUTHOR_NAME = "Ada Tester"
AUTHOR_EMAIL = "ada@example.com"

RunMlv = Callable[..., subprocess.CompletedProcess]


@cache
def mlv_executable() -> str:
    """The ``mlv`` console script of the interpreter running the tests, else the one on PATH."""
    beside = Path(sys.executable).parent / "mlv"
    if beside.exists():
        return str(beside)
    found = shutil.which("mlv")
    if found is None:
        raise RuntimeError("the mlv console script is not installed: pip install -e .")
    return found


def mlv_env(extra: Mapping[str, str | None] | None = None, home: Path | None = None) -> dict:
    """A clean environment: a fixed author, no stray MLV_/GIT_ settings; None in extra unsets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLV_", "GIT_"))}
    env.update(MLV_AUTHOR_NAME=AUTHOR_NAME, MLV_AUTHOR_EMAIL=AUTHOR_EMAIL, GIT_CONFIG_NOSYSTEM="1")
    if home is not None:
        # Neither the user's ~/.gitconfig nor their XDG config may leak into authorship.
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@pytest.fixture(scope="session")
def fake_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture
def run_mlv(fake_home: Path) -> RunMlv:
    """``run_mlv(cwd, *args, env=None, expect=0, binary=False, input_text=None)``.

    Runs the installed ``mlv`` in ``cwd``; asserts the exit code is ``expect`` (skip the
    check with ``expect=None``). ``env`` adds to (or, with None values, removes from) the
    test environment. Output is text unless ``binary``.
    """

    def run(
        cwd: str | os.PathLike[str],
        *args: str,
        env: Mapping[str, str | None] | None = None,
        expect: int | None = 0,
        binary: bool = False,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [mlv_executable(), *args],
            cwd=cwd,
            env=mlv_env(env, fake_home),
            capture_output=True,
            text=not binary,
            input=input_text,
            timeout=60,
        )
        if expect is not None and proc.returncode != expect:
            err = proc.stderr if not binary else proc.stderr.decode(errors="replace")
            out = proc.stdout if not binary else f"<{len(proc.stdout)} bytes>"
            raise AssertionError(
                f"mlv {' '.join(args)} exited {proc.returncode}, expected {expect}\n"
                f"stdout:\n{out}\nstderr:\n{err}"
            )
        return proc

    return run


@pytest.fixture
def write() -> Callable[[Path, Mapping[str, str | bytes]], None]:
    return write_files


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    """An empty repository (made through the library: the CLI's init has tests of its own)."""
    from mlv import Repo

    root = tmp_path / "work"
    Repo.init(root).close()
    return root


@pytest.fixture
def commit_files() -> Callable[..., str]:
    """``commit_files(root, files, message, *, remove=(), when=None, name=None) -> commit id``.

    Writes ``files``, deletes the paths in ``remove``, stages both through the library and
    commits; the author is the test author unless ``name`` (and then ``name@example.com``).
    """
    from mlv import Repo
    from mlv.model.objects import Person

    def commit(
        root: Path,
        files: Mapping[str, str | bytes],
        message: str,
        *,
        remove: tuple[str, ...] = (),
        when: datetime | None = None,
        name: str | None = None,
    ) -> str:
        write_files(root, files)
        for rel in remove:
            (root / rel).unlink()
        author = (
            Person(name, f"{name.lower()}@example.com")
            if name
            else Person(AUTHOR_NAME, AUTHOR_EMAIL)
        )
        with Repo(root) as repo:
            repo.add([*files, *remove])
            return repo.commit(message, author=author, when=when)

    return commit


@dataclass(frozen=True)
class S3Bucket:
    """A fresh, empty bucket on the session's moto server."""

    endpoint: str
    name: str
    region: str


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoServer]:
    """A moto S3 server on 127.0.0.1 for the whole session (one per xdist worker); moto
    comes with the test extra, so its absence fails the tests rather than skipping them."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """A new bucket, with dummy AWS keys (and no profile) in this test's environment."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    bucket = f"mlv-test-{uuid.uuid4().hex[:12]}"
    s3_server.make_bucket(bucket)
    return S3Bucket(s3_server.endpoint, bucket, REGION)


@pytest.fixture(scope="session")
def demo_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository ``mlv demo`` leaves, built once per test process: read it, never
    change it (``demo_copy`` is a private copy for a test that does)."""
    from ui_support import build_demo

    return build_demo(tmp_path_factory.mktemp("demo") / "tour")


@pytest.fixture
def demo_copy(demo_repo: Path, tmp_path: Path) -> Path:
    from ui_support import copy_repo

    return copy_repo(demo_repo, tmp_path / "tour")
