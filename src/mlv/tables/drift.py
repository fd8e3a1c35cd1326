"""Statistics drift: how each column's null count, mean, min and max moved between two tables.

The statistics are those a profile holds, from the same accumulator
(``tables.statistics``) fed the same batches, so ``mlv diff`` and ``mlv stats`` never
disagree about a column. They are gathered during the row diff's one pass over each
table, so drift costs no extra read of either file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlv.model.tables import ColumnProfile
from mlv.tables.pyvalues import same_value

STATS = ("nulls", "mean", "min", "max")


@dataclass(frozen=True)
class ColumnDrift:
    """One column's statistics in the old and the new table, as their profiles give them."""

    name: str
    old: ColumnProfile
    new: ColumnProfile

    @property
    def moved(self) -> list[str]:
        """The statistics that differ, in STATS order."""
        return [s for s in STATS if not same_value(getattr(self.old, s), getattr(self.new, s))]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        for stat in STATS:
            out[stat] = {"old": getattr(self.old, stat), "new": getattr(self.new, stat)}
        return out


def drift(
    columns: list[str], old: dict[str, ColumnProfile], new: dict[str, ColumnProfile]
) -> list[ColumnDrift]:
    """Every common column's statistics, old and new, in ``columns`` order."""
    return [ColumnDrift(name, old[name], new[name]) for name in columns]
