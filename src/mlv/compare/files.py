"""One file or symlink: identical bytes first, then the family its extension names, then raw."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mlv.compare import arrays, structured, tables
from mlv.compare.raw import compare_raw, same_bytes
from mlv.compare.result import Comparison, fmt_rel
from mlv.model.runs import DIFFERENT, EQUIVALENT, IDENTICAL

FILE = "file"
FOLDER = "folder"
SYMLINK = "symlink"
SPECIAL = "special file"

_Family = Callable[[Path, Path, float, float], Comparison | None]

_FAMILIES: dict[str, tuple[_Family, str]] = {
    **{s: (tables.compare_tables, "a table") for s in tables.SUFFIXES},
    **{s: (structured.compare_structured, "JSON") for s in structured.JSON_SUFFIXES},
    **{s: (structured.compare_structured, "YAML") for s in structured.YAML_SUFFIXES},
    **{s: (arrays.compare_arrays, "arrays") for s in arrays.SUFFIXES},
}


def kind_of(path: Path) -> str:
    if path.is_symlink():
        return SYMLINK
    if path.is_dir():
        return FOLDER
    return FILE if path.is_file() else SPECIAL


def compare_tolerant(recorded: Path, rebuilt: Path, rtol: float, atol: float) -> Comparison:
    """Compare two files whose bytes differ by what they hold, as far as their format allows."""
    family = _FAMILIES.get(recorded.suffix.lower())
    if family is None:
        return compare_raw(recorded, rebuilt)
    compare, name = family
    found = compare(recorded, rebuilt, rtol, atol)
    if found is None:
        return compare_raw(recorded, rebuilt, note=f"not readable as {name} on one side or both")
    return found


def compare_file(
    recorded: Path, rebuilt: Path, *, rtol: float, atol: float, exact: bool
) -> Comparison:
    if same_bytes(recorded, rebuilt):
        return Comparison(IDENTICAL)
    found = compare_tolerant(recorded, rebuilt, rtol, atol)
    if not exact or found.result == DIFFERENT:
        return found
    if found.result == EQUIVALENT:
        hint = "same values (equivalent without --exact)"
    else:
        rel = fmt_rel(found.max_rel_diff or 0.0)
        hint = f"values within tolerance (close without --exact, largest relative difference {rel})"
    return Comparison(DIFFERENT, f"bytes differ; {hint}", found.max_rel_diff, found.values_moved)


def compare_entry(
    recorded: Path, rebuilt: Path, *, rtol: float, atol: float, exact: bool
) -> Comparison:
    """Compare two paths that both exist and are not folders, symlinks by their target."""
    was, now = kind_of(recorded), kind_of(rebuilt)
    if was != now:
        return Comparison(DIFFERENT, f"{was} → {now}")
    if was == SYMLINK:
        old, new = os.readlink(recorded), os.readlink(rebuilt)
        if old == new:
            return Comparison(IDENTICAL)
        return Comparison(DIFFERENT, f"symlink target '{old}' → '{new}'")
    if was == SPECIAL:
        return Comparison(DIFFERENT, "not a regular file: cannot compare its content")
    return compare_file(recorded, rebuilt, rtol=rtol, atol=atol, exact=exact)
