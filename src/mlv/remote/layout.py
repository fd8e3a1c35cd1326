"""The names of everything on a remote (see docs/format.md, "Remote layout").

A remote is a folder of keys, under a bucket prefix or a local path::

    mlv-remote.json             the marker: what makes the folder an mlv remote
    refs/heads/<branch>         a commit id and a newline, as a local ref file
    refs/tags/<tag>
    refs/notes/reproductions
    packs/<pack id>.pack        records, in the pack format of the local store
    packs/<pack id>.idx         the pack's index: which records it holds, and where
    gc/condemned.json           packs gc will delete once the grace period is over
    locks/refs.json             the lease of a pusher, on a remote without
                                compare-and-swap
    tmp/                        `mlv remote test`'s probes

A pack id is the BLAKE3 of the pack's bytes, so a pack is named by what it holds,
and a pack is *on* the remote only once its index is: the index is written after
the pack, and readers look at indexes alone.
"""

from __future__ import annotations

import re

from mlv.core.hashing import is_object_id
from mlv.errors import RemoteError, UnsupportedVersionError
from mlv.model.canonical import dumps, loads

MARKER = "mlv-remote.json"
REMOTE_FORMAT = 1
REFS = "refs"
PACKS = "packs"
PACK_SUFFIX = ".pack"
INDEX_SUFFIX = ".idx"
CONDEMNED = "gc/condemned.json"
REFS_LEASE = "locks/refs.json"
GC_LEASE = "locks/gc.json"

_PACK_KEY = re.compile(r"packs/([0-9a-f]{64})\.(pack|idx)")


def pack_key(pack_id: str) -> str:
    return f"{PACKS}/{pack_id}{PACK_SUFFIX}"


def index_key(pack_id: str) -> str:
    return f"{PACKS}/{pack_id}{INDEX_SUFFIX}"


def parse_pack_key(key: str) -> tuple[str, str] | None:
    """(pack id, "pack" or "idx") for a key of ``packs/``; None for anything else."""
    match = _PACK_KEY.fullmatch(key)
    if match is None or not is_object_id(match.group(1)):
        return None
    return match.group(1), match.group(2)


def marker_bytes() -> bytes:
    return dumps({"format": REMOTE_FORMAT, "type": "mlv-remote"}) + b"\n"


def check_marker(data: bytes, url: str) -> None:
    """Refuse a marker that is not one, or of a format this mlv does not read."""
    try:
        doc = loads(data.strip())
    except Exception:
        doc = None
    if not isinstance(doc, dict) or doc.get("type") != "mlv-remote":
        raise RemoteError(
            f"remote {url}: {MARKER} is not an mlv remote marker; "
            "check the URL, or point the remote at an empty folder"
        )
    version = doc.get("format")
    if version != REMOTE_FORMAT:
        raise UnsupportedVersionError(
            f"remote {url} has format {version!r}; this mlv reads format {REMOTE_FORMAT}: "
            "upgrade mlv to use it"
        )
