"""Canonical JSON: sorted keys, no insignificant white space, UTF-8, so equal objects hash equal."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from mlv.errors import FormatError

# A \u escape of a UTF-16 surrogate. In a pair it is one character; alone it decodes to
# a string that UTF-8 cannot encode, so the object could never be written again.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def dumps(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def loads(data: bytes) -> Any:
    """Parse canonical JSON; anything ``dumps`` could not have written is a FormatError."""
    try:
        value = json.loads(
            data.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite_float
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"not canonical JSON: {exc}") from None
    except RecursionError:
        raise FormatError("not canonical JSON: nested too deeply") from None
    if _SURROGATE_ESCAPE.search(data):
        try:
            dumps(value)
        except UnicodeEncodeError:
            raise FormatError("not canonical JSON: it holds a lone UTF-16 surrogate") from None
    return value


def _no_constant(name: str) -> Any:
    # NaN, Infinity and -Infinity: Python's json reads them, JSON and dumps do not.
    raise FormatError(f"not canonical JSON: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise FormatError(f"not canonical JSON: {text} is out of range")
    return value


def as_object(value: Any, what: str) -> dict[str, Any]:
    """``value`` if it is a JSON object; a list of pairs would decode, but not round-trip."""
    if not isinstance(value, dict):
        raise FormatError(f"{what} must be a JSON object, not {type(value).__name__}")
    return dict(value)
