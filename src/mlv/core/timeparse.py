"""Reading a point in time as people write it: ISO dates and times, ``3 days ago``,
``yesterday``, weekday names."""

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
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# More digits than any real count: refused rather than overflowing timedelta.
_MAX_AGO_DIGITS = 6


def parse_when(text: str, now: datetime | None = None, *, day_end: bool = False) -> datetime:
    """A point in time: ``2026-11-20``, ``2026-11-20 14:00``, ``3 days ago``, ``yesterday``,
    ``today``, ``tuesday`` / ``last tuesday`` (the most recent Tuesday before today).

    A value that names a whole day (a bare date, ``today``, ``yesterday``, a weekday) is
    the start of that day, or with ``day_end`` its last instant: "what was current on
    2026-11-24" means at the end of it. A time without a zone is local time.

    Raises:
        InvalidArgumentError: the text is not a time this reads.
    """
    now = now or datetime.now().astimezone()
    value = " ".join(text.strip().lower().split())
    if value == "now":
        return now
    day = _named_day(value, now)
    if day is not None:
        return _edge(day, day_end)
    match = _AGO.fullmatch(value)
    if match and len(match.group(1)) <= _MAX_AGO_DIGITS:
        return now - timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgumentError(
            f"cannot read {text!r} as a time: use e.g. 2026-11-20, '2026-11-20 14:00' "
            "or '3 days ago'"
        ) from None
    moment = moment if moment.tzinfo else moment.astimezone()
    if _is_bare_date(text.strip()):
        return _edge(moment, day_end)
    return moment


def _named_day(value: str, now: datetime) -> datetime | None:
    """Midnight starting the day that ``value`` names, or None when it names none."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value == "today":
        return start
    if value == "yesterday":
        return start - timedelta(days=1)
    name = value.removeprefix("last ")
    if name in _WEEKDAYS:
        back = (now.weekday() - _WEEKDAYS.index(name)) % 7 or 7
        return start - timedelta(days=back)
    return None


def _is_bare_date(text: str) -> bool:
    return re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", text) is not None


def _edge(day: datetime, day_end: bool) -> datetime:
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    return start + timedelta(days=1, microseconds=-1) if day_end else start
