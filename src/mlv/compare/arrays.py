"""NumPy .npy and .npz files compared array by array: names, shapes, dtypes and values."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlv.compare.raw import compare_raw
from mlv.compare.result import (
    Comparison,
    capped,
    differ,
    fmt_count,
    fmt_rel,
    max_or_none,
    settled,
)
from mlv.model.runs import DIFFERENT

if TYPE_CHECKING:
    from numpy.typing import NDArray

SUFFIXES = frozenset({".npy", ".npz"})


def _load(path: Path) -> dict[str, NDArray[Any]]:
    import numpy as np

    # Never unpickle: an output is data, and loading it must not run code.
    if path.suffix.lower() == ".npy":
        return {"": np.load(path, allow_pickle=False)}
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _label(name: str) -> str:
    return f" of '{name}'" if name else ""


def _same(a: NDArray[Any], b: NDArray[Any]) -> NDArray[Any]:
    """Where two arrays of one shape and dtype hold the same value, NaN and NaT included."""
    import numpy as np

    kind = a.dtype.kind
    if kind in "fc":
        return (a == b) | (np.isnan(a) & np.isnan(b))  # type: ignore[no-any-return]
    if kind in "mM":
        return (a == b) | (np.isnat(a) & np.isnat(b))  # type: ignore[no-any-return]
    equal = np.asarray(a == b)
    if equal.shape != a.shape:  # dtypes without an element-wise ==
        return np.full(a.shape, np.array_equal(a, b))
    return equal


def _moved(
    a: NDArray[Any], b: NDArray[Any], rtol: float, atol: float
) -> tuple[int, int, float | None]:
    """How many values moved, how many of those are out of tolerance, and the largest move."""
    import numpy as np

    moved_at = ~_same(a, b)
    moved = int(np.count_nonzero(moved_at))
    if not moved or a.dtype.kind not in "iufc":
        return moved, moved, None
    x, y = a[moved_at], b[moved_at]
    if x.dtype.kind in "iu":  # a difference of integers can overflow their type
        x, y = x.astype(np.float64), y.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        diff = np.abs(y - x)
        scale = np.abs(x)
        ok = diff <= atol + rtol * scale
        rel = np.where(scale > 0, diff / scale, math.inf)
    rel[np.isnan(rel)] = math.inf
    return moved, int(np.count_nonzero(~ok)), float(rel.max())


def compare_arrays(recorded: Path, rebuilt: Path, rtol: float, atol: float) -> Comparison | None:
    """Compare two .npy or .npz files; None when either side cannot be read as arrays."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return compare_raw(recorded, rebuilt, note="numpy is needed to compare values")
    import zipfile

    try:
        old, new = _load(recorded), _load(rebuilt)
    # A damaged or pickled file raises any of these, depending on where it breaks.
    except (ValueError, EOFError, OSError, zipfile.BadZipFile):
        return None
    problems: list[str] = []
    if added := [n for n in new if n not in old]:
        problems.append(f"array{'s' if len(added) > 1 else ''} {_names(added)} added")
    if removed := [n for n in old if n not in new]:
        problems.append(f"array{'s' if len(removed) > 1 else ''} {_names(removed)} removed")
    moved_total, rels, moved_in = 0, [], []
    for name, a in old.items():
        if name not in new:
            continue
        b = new[name]
        if a.shape != b.shape:
            problems.append(f"shape{_label(name)} {a.shape} → {b.shape}")
        elif a.dtype != b.dtype:
            problems.append(f"dtype{_label(name)} {a.dtype} → {b.dtype}")
        else:
            moved, failed, rel = _moved(a, b, rtol, atol)
            moved_total += moved
            rels.append(rel)
            if moved:
                moved_in.append(name)
            if failed:
                where = f" in '{name}'" if name else ""
                largest = f", largest relative difference {fmt_rel(rel)}" if rel is not None else ""
                count = f"{fmt_count(moved)} of {fmt_count(a.size)} values"
                problems.append(f"{count} {differ(moved)}{where}{largest}")
    max_rel = max_or_none(rels)
    if problems:
        return Comparison(DIFFERENT, capped(problems, sep="; "), max_rel, moved_total)
    where = f"in {_names(moved_in)}" if any(moved_in) else ""
    return settled(moved_total, max_rel, "same arrays; bytes differ", where)


def _names(names: list[str]) -> str:
    return capped([f"'{n}'" for n in names])
