"""A profile's statistic as text, the same in the terminal and on the page."""

from __future__ import annotations

from typing import Any


def statistic_text(value: Any, width: int) -> str:
    """``value`` (a min, max or mean) as text of at most ``width`` characters: floats to
    six significant digits, booleans as true/false, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
