"""Object ids: BLAKE3-256 of content, written as 64 lowercase hex digits."""

from __future__ import annotations

import re

from blake3 import blake3

ID_HEX_LENGTH = 64
ID_BYTES = 32
_ID_RE = re.compile(r"[0-9a-f]{64}")

Hasher = blake3


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    """Return the id of ``data``: the same digest that ``b3sum`` prints."""
    return blake3(data).hexdigest()


def is_object_id(text: str) -> bool:
    """True when ``text`` is a full, lowercase object id."""
    return len(text) == ID_HEX_LENGTH and _ID_RE.fullmatch(text) is not None


def id_to_bytes(object_id: str) -> bytes:
    return bytes.fromhex(object_id)


def id_from_bytes(raw: bytes) -> str:
    return raw.hex()
