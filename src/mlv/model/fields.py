"""Strict checks of the fields of stored objects: one JSON type each, no coercion.

Python's ``True == 1`` and ``1.0 == 1`` would let a wrong type through an equality
test, and ``int("5")`` would turn a string into a size: these look at the type.
"""

from __future__ import annotations

from typing import Any

from mlv.core.hashing import is_object_id
from mlv.errors import FormatError
from mlv.model.canonical import INT_MAX, INT_MIN

# The largest size an entry may claim: what SQLite's INTEGER and every file system hold.
MAX_SIZE = 2**63 - 1


def require_id(value: object, what: str) -> str:
    """``value`` if it is an object id: 64 lowercase hex digits."""
    if not isinstance(value, str) or not is_object_id(value):
        raise FormatError(f"{what} is not an object id: {value!r}")
    return value


def require_int(value: object, what: str, low: int = INT_MIN, high: int = INT_MAX) -> int:
    """``value`` if it is an integer (not a boolean, not a float) in ``[low, high]``."""
    if type(value) is not int:
        raise FormatError(f"{what} must be an integer, not {_json_type(value)}")
    if not low <= value <= high:
        raise FormatError(f"{what} is {value}, outside {low}..{high}")
    return value


def require_size(value: object, what: str) -> int:
    return require_int(value, what, 0, MAX_SIZE)


def require_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise FormatError(f"{what} must be a string, not {_json_type(value)}")
    return value


def require_list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise FormatError(f"{what} must be an array, not {_json_type(value)}")
    return list(value)


def require_ids(value: object, what: str) -> tuple[str, ...]:
    return tuple(require_id(item, what) for item in require_list(value, what))


def require_object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(f"{what} must be a JSON object, not {_json_type(value)}")
    return value


def require_str_map(value: object, what: str) -> dict[str, str]:
    """A JSON object of strings (keys are strings in any JSON object)."""
    for key, item in require_object(value, what).items():
        require_str(item, f"{what} {key!r}")
    return dict(require_object(value, what))


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return f"a number with a fraction or exponent ({value!r})"
    if isinstance(value, str):
        return f"a string ({value[:20]!r})"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
