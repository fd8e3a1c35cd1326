"""Canonical JSON (docs/format.md): one encoding per value, so equal objects hash equal."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from mlv.errors import FormatError

# Integers are those a 64-bit signed or unsigned integer holds: what a reader in another
# language can take without a big-number type, and every value an Arrow integer has.
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
# The longest integer token in that range ("-9223372036854775808"), checked before
# int() so that a hostile object of 100,000 digits costs nothing to refuse.
_INT_DIGITS_MAX = 20

# A \u escape of a UTF-16 surrogate. In a pair it is one character; alone it decodes to
# a string that UTF-8 cannot encode, so the object could never be written again.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def dumps(value: Any) -> bytes:
    """The canonical bytes of a JSON value.

    Raises ``ValueError`` for a number canonical JSON cannot hold (NaN, an infinity,
    an integer out of range) or a string with a lone surrogate, and ``TypeError`` for
    a key that is not a string or a value that is not JSON.
    """
    _check_value(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _check_value(value: Any) -> None:
    """Refuse what ``json.dumps`` would write but could not be read back the same."""
    if isinstance(value, str | bool) or value is None:
        return
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise ValueError(f"integer {value} is out of the range of canonical JSON")
    elif isinstance(value, dict):
        for key, item in value.items():
            # json.dumps would write 1 as "1": the value would not read back equal.
            if not isinstance(key, str):
                raise TypeError(f"canonical JSON keys are strings, not {type(key).__name__}")
            _check_value(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_value(item)


def loads(data: bytes) -> Any:
    """Parse JSON, refusing what ``dumps`` never writes as a ``FormatError``.

    Refused: bytes that are not UTF-8 or not JSON, NaN and infinities, integers out of
    range, lone surrogates. Whether the bytes are also in canonical form (key order,
    white space, escapes, number spelling) is for the caller to check, by encoding the
    value again (``StoredObject.from_bytes`` does; ``explain`` says what differs).
    """
    try:
        value = json.loads(
            data.decode("utf-8"),
            parse_constant=_no_constant,
            parse_float=_finite_float,
            parse_int=_int64,
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


def _int64(text: str) -> int:
    value = int(text) if len(text) <= _INT_DIGITS_MAX else None
    if value is None or not INT_MIN <= value <= INT_MAX:
        shown = text if len(text) <= 40 else f"{text[:20]}… ({len(text)} digits)"
        raise FormatError(f"not canonical JSON: integer {shown} is out of range")
    return value


def explain(data: bytes, expected: bytes | None = None) -> str:
    """Why ``data``, which parses, is not canonical JSON or not ``expected``, the bytes
    its object encodes to."""
    value = loads(data)
    duplicate = _duplicate_key(data)
    if duplicate is not None:
        return f"key {duplicate!r} appears twice in one object"
    canonical = dumps(value)
    if canonical == data and expected is not None:
        wanted = loads(expected)
        if isinstance(value, dict) and isinstance(wanted, dict):
            unknown = sorted(set(value) - set(wanted))
            missing = sorted(set(wanted) - set(value))
            if unknown:
                return f"unknown field {unknown[0]!r}"
            if missing:
                return f"no field {missing[0]!r}"
        canonical = expected
    at = next(
        (i for i, (a, b) in enumerate(zip(data, canonical, strict=False)) if a != b),
        min(len(data), len(canonical)),
    )
    found = data[max(0, at - 12) : at + 12].decode("utf-8", "replace")
    wanted_text = canonical[max(0, at - 12) : at + 12].decode("utf-8", "replace")
    return f"at byte {at}, {found!r} where its canonical form has {wanted_text!r}"


def _duplicate_key(data: bytes) -> str | None:
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys) and not found:
            found.append(next(k for i, k in enumerate(keys) if k in keys[:i]))
        return dict(items)

    json.loads(data.decode("utf-8"), object_pairs_hook=pairs, parse_int=_int64)
    return found[0] if found else None
