"""What a killed checkout leaves behind, and how the next one finds and removes it.

A checkout writes a journal in `.mlv/tmp` (``checkout-<token>.journal``) naming its
token and the folders where it writes temporaries, before the first is written,
and builds the folders it makes in `.mlv/tmp/building-<token>`. Whatever is left of
either after a kill is removed by the next checkout (``clear_leftovers``): files
named with a journal's token are mlv's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from mlv.core.paths import TreeGate, lstat_or_none, read_regular_file
from mlv.errors import UnsafePathError

# Journals under `.mlv/tmp`: one per checkout in progress (docs/format.md).
JOURNAL_PREFIX = "checkout-"
JOURNAL_SUFFIX = ".journal"
# Folders under `.mlv/tmp` where a checkout builds the folders it makes.
SCRATCH_PREFIX = "building-"


def check_tmp_dir(tmp_dir: Path) -> None:
    """Refuse a `.mlv/tmp` that is not a real folder (absent is fine: it is made).

    Journals and the folders a checkout builds go there, and leftovers there are
    deleted: through a symlink, all three would happen outside the repository.
    """
    found = lstat_or_none(tmp_dir)
    if found is not None and not stat.S_ISDIR(found.st_mode):
        what = "a symlink" if stat.S_ISLNK(found.st_mode) else "not a folder"
        raise UnsafePathError(
            f"{tmp_dir} is {what}; mlv writes its checkout journals there only in a real "
            "folder: remove it and run the command again"
        )


def clear_leftovers(root: Path, tmp_dir: Path) -> int:
    """Remove the temporaries that checkouts killed mid-way left in the working tree.

    Each journal in ``tmp_dir`` names a token and folders; files there named with
    that token are mlv's own. The caller holds the repository lock, so no journal
    belongs to a checkout still running. Returns how many files were removed.
    """
    check_tmp_dir(tmp_dir)
    try:
        found = list(tmp_dir.iterdir())
    except FileNotFoundError:
        return 0
    journals = [p for p in found if p.name.startswith(JOURNAL_PREFIX)]
    removed = 0
    for scratch in found:
        # Folders a killed checkout was building: nothing outside `.mlv` sees them.
        if scratch.name.startswith(SCRATCH_PREFIX):
            shutil.rmtree(scratch, ignore_errors=True)
    for journal in journals:
        try:
            doc = json.loads(read_regular_file(journal))
            token, folders = str(doc["token"]), [str(f) for f in doc["folders"]]
        except (OSError, ValueError, KeyError, TypeError):
            token, folders = "", []
        complete = True
        if _TOKEN.fullmatch(token):
            count, complete = remove_temporaries(TreeGate(root), token, folders)
            removed += count
        if complete:
            # Kept otherwise: a folder that is not one now (a symlink in its place) may
            # be one again at the next checkout, and its temporaries must go then.
            journal.unlink(missing_ok=True)
    return removed


_TOKEN = re.compile(r"[0-9a-f]{12}")


def remove_temporaries(gate: TreeGate, token: str, folders: Iterable[str]) -> tuple[int, bool]:
    """Delete the files named ``.<name>.mlv-<token>.tmp`` in ``folders``, through the gate.

    Returns how many were removed, and whether every folder could be looked at (a
    folder that is gone holds nothing of ours; one behind a symlink may, later).
    """
    suffix = f".mlv-{token}.tmp"
    removed = 0
    complete = True
    for folder in folders:
        try:
            base = gate.folder(folder) if folder else gate.root
            names = [n for n in os.listdir(base) if n.startswith(".") and n.endswith(suffix)]
        except UnsafePathError:
            complete = complete and lstat_or_none(gate.root / folder) is None
            continue
        except OSError:
            complete = False
            continue
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base / name)
                removed += 1
    return removed, complete


def scratch_folder(journal_dir: Path, token: str) -> str:
    """Where a checkout builds the folders it makes: absolute, in `.mlv/tmp`."""
    return os.path.abspath(journal_dir / f"{SCRATCH_PREFIX}{token}")
