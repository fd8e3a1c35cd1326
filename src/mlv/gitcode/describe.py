"""The code version in words, for ``mlv show`` and reproduction notes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlv.repo.protocols import ObjectReader


def describe(code: Mapping[str, Any]) -> str:
    """``git 3fa9c1d2 on main (dirty)``: where the code came from, in a few words."""
    sha = str(code.get("git_commit", ""))
    where = f"git {sha[:8]}" if sha else "git (no commit yet)"
    branch = code.get("branch")
    where += f" on {branch}" if branch else " (detached HEAD)"
    if code.get("dirty"):
        where += " (dirty)"
    if code.get("shallow"):
        where += " (shallow clone)"
    return where


def code_line(objects: ObjectReader, code: Mapping[str, Any]) -> str:
    """``git 3fa9c1d2 on main (dirty), source tree 1a2b3c4d (123 files)``; "" without code.

    The files are counted in ``objects``: none when the source tree is not there.
    """
    if not code:
        return ""
    tree = str(code.get("tree", ""))
    if not tree:
        return describe(code)
    files = len(objects.flatten(tree)) if objects.has(tree) else 0
    return f"{describe(code)}, source tree {tree[:8]} ({files} files)"
