"""Parsing ``--since`` / ``--until``: ISO dates and times, and ``N units ago``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from mlv.errors import InvalidArgumentError

_AGO = re.compile(r"(\d+)\s*(second|minute|hour|day|week|month|year)s?\s*(ago)?", re.I)
_UNIT_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
    "year": 365 * 86400,
}


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """A point in time: ``2026-11-20``, ``2026-11-20 14:00``, ``3 days ago``, ``yesterday``."""
    now = now or datetime.now().astimezone()
    value = text.strip().lower()
    if value == "now":
        return now
    if value in ("today", "yesterday"):
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=1) if value == "yesterday" else day
    match = _AGO.fullmatch(value)
    if match:
        return now - timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgumentError(
            f"cannot read {text!r} as a time: use e.g. 2026-11-20, '2026-11-20 14:00' "
            "or '3 days ago'"
        ) from None
    return moment if moment.tzinfo else moment.astimezone()
