"""Canonical JSON: sorted keys, no insignificant white space, UTF-8, so equal objects hash equal."""

from __future__ import annotations

import json
from typing import Any

from mlv.errors import FormatError


def dumps(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"not canonical JSON: {exc}") from None
