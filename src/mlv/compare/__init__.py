"""Comparing a rebuilt output with the recorded one: identical, equivalent, close or different."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlv.compare.files import FOLDER, compare_entry, kind_of
from mlv.compare.folders import compare_folders
from mlv.compare.result import Comparison
from mlv.model.runs import DIFFERENT, MISSING

__all__ = ["Comparison", "compare_paths"]


def compare_paths(
    recorded: Path,
    rebuilt: Path,
    *,
    rtol: float = 1e-9,
    atol: float = 0.0,
    exact: bool = False,
    skip: Callable[[str], bool] | None = None,
) -> Comparison:
    """Compare a rebuilt output (file or folder) with the recorded one.

    Args:
        recorded: the output as the recorded run wrote it.
        rebuilt: the same output written again by the re-executed run.
        rtol: relative tolerance: numbers are close when
            ``|rebuilt - recorded| <= atol + rtol * |recorded|``.
        atol: absolute tolerance, as above.
        exact: accept identical bytes only; the detail still says what the values did.
        skip: for folders, files (by path relative to the folder) that neither side
            counts: those the repository ignores, which a recorded folder never holds.
    """
    recorded, rebuilt = Path(recorded), Path(rebuilt)
    if not _exists(rebuilt):
        return Comparison(MISSING, "the rebuilt run did not write it")
    if not _exists(recorded):
        return Comparison(DIFFERENT, "nothing was recorded at this path")
    was, now = kind_of(recorded), kind_of(rebuilt)
    if was == now == FOLDER:
        return compare_folders(recorded, rebuilt, rtol=rtol, atol=atol, exact=exact, skip=skip)
    return compare_entry(recorded, rebuilt, rtol=rtol, atol=atol, exact=exact)


def _exists(path: Path) -> bool:
    # A dangling symlink is still an output: it is compared by its target.
    return path.is_symlink() or path.exists()
