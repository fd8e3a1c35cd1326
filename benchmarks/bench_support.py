"""What the whole-process benchmarks share: the mlv command beside this interpreter, and
the repository they time, built once into a kept folder or into a scratch one."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlv import Repo
    from mlv.model.runs import Artifact


def mlv_exe() -> str:
    """The ``mlv`` of this interpreter's installation, else the one on PATH."""
    beside = Path(sys.executable).with_name("mlv")
    return str(beside) if beside.exists() else (shutil.which("mlv") or "mlv")


@contextmanager
def benchmark_repo(
    workdir: Path | None, prefix: str, build: Callable[[Path, int], None], commits: int
) -> Iterator[Path]:
    """The repository to time: ``workdir`` (built there unless it already is, and kept),
    or a scratch folder removed afterwards."""
    scratch = None
    if workdir is None:
        scratch = Path(tempfile.mkdtemp(prefix=prefix))
        root = scratch / "repo"
    else:
        root = workdir
    try:
        if not (root / ".mlv").exists():
            began = time.perf_counter()
            build(root, commits)
            print(f"built {commits} commits in {time.perf_counter() - began:.1f} s")
        yield root
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def write_artifact(root: Path, path: str, text: str) -> Artifact:
    """Write ``text`` at ``path`` under ``root``, as a run's output: its artifact record."""
    from mlv.core.hashing import hash_bytes
    from mlv.model.runs import ARTIFACT_FILE, Artifact

    data = text.encode()
    full = root / path
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_bytes(data)
    return Artifact(hash_bytes(data), ARTIFACT_FILE, len(data))


def bench_env(repo: Repo) -> str:
    """The id of one stored environment for every run of a benchmark repository."""
    from mlv.model.runs import Env
    from mlv.store.pack import KIND_META

    env = Env("3.11.0", "CPython", "Linux", "x86_64", {"numpy": "2.0"}, {})
    return repo.store.put_meta(env.to_bytes(), KIND_META)
