"""Running one recorded command in the workspace, keeping its error output for diagnosis."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from mlv.core.paths import TreeGate
from mlv.errors import CommandFailedError
from mlv.model.runs import Run

TAIL_BYTES = 64 * 1024

# How programs say they could not open a file: Python, coreutils, R, shells.
_MISSING_FILE = re.compile(
    r"No such file or directory|FileNotFoundError|does not exist|cannot open"
)


def run_in(
    workspace: Path,
    run: Run,
    env: dict[str, str],
    *,
    known_paths: Iterable[str],
    stdout: IO[Any] | int | None = None,
) -> int:
    """Run ``run.cmd`` in the workspace; raise ``CommandFailedError`` (exit code 2) on failure.

    ``known_paths`` are the files the commit holds: when the command fails, any of
    them that its error output names, and that the workspace lacks, is most likely
    an input the run does not declare.
    """
    # The run object says where to work and write: the gate keeps both inside the workspace.
    gate = TreeGate(workspace)
    cwd = gate.make_folder(run.wdir)
    for out in run.outs:
        gate.make_parents(out)
    try:
        proc = subprocess.Popen(
            run.cmd, shell=True, cwd=cwd, env=env, stdout=stdout, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise CommandFailedError(f"run '{run.name}' could not start: {exc}", 2) from None
    tail = bytearray()
    assert proc.stderr is not None
    copier = threading.Thread(target=_tee, args=(proc.stderr, tail), daemon=True)
    copier.start()
    code = proc.wait()
    copier.join()
    if code == 0:
        return 0
    hint = _undeclared(tail.decode("utf-8", "replace"), workspace, run, known_paths)
    raise CommandFailedError(
        f"run '{run.name}' failed in the isolated workspace with exit code {code}{hint}", 2
    )


def _tee(source: IO[bytes], tail: bytearray) -> None:
    """Pass the command's error output through to ours, keeping its last part."""
    out = getattr(sys.stderr, "buffer", None)
    while block := source.read1(65536):  # type: ignore[attr-defined]
        if out is not None:
            out.write(block)
            out.flush()
        else:  # a stderr replaced by text-only stream (a notebook)
            sys.stderr.write(block.decode("utf-8", "replace"))
        tail.extend(block)
        if len(tail) > TAIL_BYTES:
            del tail[: len(tail) - TAIL_BYTES]


def _undeclared(stderr: str, workspace: Path, run: Run, known_paths: Iterable[str]) -> str:
    declared = set(run.inputs()) | set(run.outs)
    missing = []
    for path in known_paths:
        if path in declared or os.path.lexists(workspace / path):
            continue
        name = path.rsplit("/", 1)[-1]
        relative = os.path.relpath(path, run.wdir or ".")
        named = re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", stderr)
        # Python names a missing helper by its module: "No module named 'helper'".
        module = name.endswith(".py") and f"No module named '{name[:-3]}'" in stderr
        if path in stderr or relative in stderr or named or module:
            missing.append(path)
    if not missing and _MISSING_FILE.search(stderr):
        return (
            "; it could not find a file: it probably reads something it does not declare "
            "(add it as a dependency)"
        )
    if not missing:
        return ""
    missing.sort(key=lambda p: (p not in stderr, len(p)))
    first = missing[0]
    return (
        f"; it probably reads {first}, which it does not declare as a dependency: "
        f"add it (-d {first}, or under deps: in the pipeline file), run it again and commit"
    )
