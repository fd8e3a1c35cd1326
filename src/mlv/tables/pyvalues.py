"""Values read from tables, made safe for JSON and short enough to print."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from typing import Any

MAX_TEXT = 100
# Summaries print counts as "+5 \u22120": a true minus sign reads as a count, not a dash.
MINUS = "\u2212"


def json_value(value: Any, max_text: int | None = MAX_TEXT) -> Any:
    """A value JSON can hold: NaN and infinities as strings, times in ISO 8601, bytes in base64.

    Text and bytes are cut to ``max_text`` (None: kept whole, as query results are).
    """
    if value is None or isinstance(value, bool | int | str):
        return value[:max_text] if isinstance(value, str) else value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value[:max_text]).decode("ascii")
    if isinstance(value, dict):
        return {str(k): json_value(v, max_text) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v, max_text) for v in value]
    return str(value)[:max_text]


def short(value: Any, width: int = 40) -> str:
    """A value as one short line of text: strings quoted, nulls as 'null'."""
    if value is None:
        return "null"
    if isinstance(value, float | str):
        text = repr(value)
    elif isinstance(value, dt.datetime | dt.date | dt.time):
        text = value.isoformat()
    else:
        text = str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


def same_value(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. an aware and a naive datetime
        return False
