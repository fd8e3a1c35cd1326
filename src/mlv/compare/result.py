"""The outcome of comparing one output, its ranking, and the wording shared by every family."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mlv.model.runs import CLOSE, DIFFERENT, EQUIVALENT, IDENTICAL, MISSING

# Worst wins when one output is made of several files; a missing file never reaches the
# ranking because a folder reports it as removed.
_RANK = {IDENTICAL: 0, EQUIVALENT: 1, CLOSE: 2, DIFFERENT: 3, MISSING: 4}

# How many items a one-line summary names before it says "and N more".
SHOWN = 4


@dataclass(frozen=True)
class Comparison:
    """How a rebuilt output compares with the recorded one.

    Attributes:
        result: identical, equivalent, close, different or missing.
        detail: one human line; empty when identical.
        max_rel_diff: the largest relative difference among numeric values that moved.
        values_moved: how many values differ at all.
    """

    result: str
    detail: str = ""
    max_rel_diff: float | None = None
    values_moved: int | None = None

    def to_json(self) -> dict[str, Any]:
        rel: float | str | None = self.max_rel_diff
        # Canonical JSON refuses non-finite floats.
        if self.max_rel_diff is not None and not math.isfinite(self.max_rel_diff):
            rel = "inf"
        return {
            "result": self.result,
            "detail": self.detail,
            "max_rel_diff": rel,
            "values_moved": self.values_moved,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Comparison:
        rel = doc.get("max_rel_diff")
        moved = doc.get("values_moved")
        return cls(
            str(doc["result"]),
            str(doc.get("detail", "")),
            None if rel is None else float(rel),
            None if moved is None else int(moved),
        )


def rank(result: str) -> int:
    return _RANK[result]


def worst(results: Iterable[str]) -> str:
    return max(results, key=rank, default=IDENTICAL)


def fmt_rel(value: float) -> str:
    return "inf" if not math.isfinite(value) else f"{value:.2g}"


def fmt_count(n: int) -> str:
    return f"{n:,}"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word if n == 1 else word + 's'}"


def differ(n: int) -> str:
    return "differs" if n == 1 else "differ"


def capped(items: Sequence[str], shown: int = SHOWN, sep: str = ", ") -> str:
    """Join the first few items and say how many more there are."""
    head = sep.join(items[:shown])
    rest = len(items) - shown
    return f"{head} and {rest:,} more" if rest > 0 else head


def max_or_none(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def rel_diff(recorded: float, rebuilt: float) -> float:
    """|rebuilt - recorded| / |recorded|; inf when recorded is 0 or the difference is NaN."""
    diff = abs(rebuilt - recorded)
    if diff == 0:
        return 0.0
    scale = abs(recorded)
    rel = diff / scale if scale else math.inf
    return rel if not math.isnan(rel) else math.inf


def within(recorded: float, rebuilt: float, rtol: float, atol: float) -> bool:
    return abs(rebuilt - recorded) <= atol + rtol * abs(recorded)


def settled(moved: int, max_rel: float | None, same: str, where: str = "") -> Comparison:
    """The outcome once every moved value is known to be within tolerance.

    Equivalent when nothing moved at all; close otherwise. ``where`` follows the count
    of values, e.g. "in 'score'".
    """
    if moved == 0:
        return Comparison(EQUIVALENT, same, values_moved=0)
    rel = max_rel if max_rel is not None else 0.0
    place = f" {where}" if where else ""
    return Comparison(
        CLOSE,
        f"{plural(moved, 'value')}{place} moved within tolerance "
        f"(largest relative difference {fmt_rel(rel)})",
        max_rel_diff=rel,
        values_moved=moved,
    )
