"""Putting a recorded code tree into a reproduction's workspace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlv.core.paths import overlaps
from mlv.gitcode.describe import describe
from mlv.model.runs import Run
from mlv.repo.checkout import Materialiser

if TYPE_CHECKING:
    from mlv.repo.protocols import ObjectReader
    from mlv.store.objectstore import ObjectStore


def recorded_code(runs: Iterable[Run], commit_code: Mapping[str, Any]) -> dict[str, Any]:
    """The code version to rebuild with: the first run's that has one, else the commit's.

    A run's own code is what it ran; the commit's may have moved on since.
    """
    for run in runs:
        if run.code.get("tree"):
            return dict(run.code)
    return dict(commit_code) if commit_code.get("tree") else {}


def write_code(
    runs: list[Run],
    commit_code: Mapping[str, Any],
    space: Path,
    *,
    objects: ObjectReader,
    store: ObjectStore,
) -> str:
    """Write the recorded source files into ``space``; return a note, "" when there were none.

    The code tree is read from ``objects``, the files' content from ``store``.

    Declared inputs and outputs are left out: inputs are written afterwards from
    what the run read, and outputs are the run's to write.
    """
    code = recorded_code(runs, commit_code)
    if not code:
        return ""
    declared = [p for run in runs for p in (*run.inputs(), *run.outs)]
    files = {
        path: entry
        for path, entry in objects.flatten(code["tree"]).items()
        if not any(overlaps(path, d) for d in declared)
    }
    space.mkdir(parents=True, exist_ok=True)
    Materialiser(space, store).apply(files, [])
    return f"source files from {describe(code)} written into the workspace ({len(files)} files)"
