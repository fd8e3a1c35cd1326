"""What ``mlv ci`` found about a commit: reproduction, contracts, metrics, params, data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlv.model.runs import ACCEPTED

if TYPE_CHECKING:
    from mlv.lineage.values import ValueChange
    from mlv.repo.diff import Change
    from mlv.reproduce.verify import ReproductionReport
    from mlv.tables.checking import CheckReport
    from mlv.tables.repo_diff import TableChange

# How the reproduction went, as ``CiReport.reproduction_status`` names it.
NOT_REQUESTED = "not requested"
NOTHING_TO_REPRODUCE = "nothing to reproduce"
REPRODUCED = "reproduced"
DIFFERENT = "different"
FAILED = "failed"


@dataclass
class CiReport:
    """The commits compared and everything checked about the head.

    ``base`` is None for a first commit: every file counts as added, every metric
    as new. ``base_reason`` says how the base was chosen.
    """

    head: str
    base: str | None
    base_reason: str
    head_message: str = ""
    reproduction_status: str = NOT_REQUESTED
    reproduction: ReproductionReport | None = None
    reproduction_error: str = ""
    contracts: CheckReport | None = None
    metrics: list[ValueChange] = field(default_factory=list)  # every key of the head
    params: list[ValueChange] = field(default_factory=list)  # the keys that changed
    changes: list[Change] = field(default_factory=list)
    tables: list[TableChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def contracts_ok(self) -> bool:
        return self.contracts is None or self.contracts.ok

    @property
    def reproduction_ok(self) -> bool:
        return self.reproduction_status not in (DIFFERENT, FAILED)

    @property
    def ok(self) -> bool:
        """False when the head did not reproduce or a table breaks its contract."""
        return self.reproduction_ok and self.contracts_ok

    def problems(self) -> list[str]:
        """Why the report is not ok, one short phrase each; empty when it is."""
        found: list[str] = []
        if self.reproduction_status == FAILED:
            found.append("reproduction failed")
        elif self.reproduction is not None and self.reproduction_status == DIFFERENT:
            bad = sum(1 for o in self.reproduction.outputs if o.result not in ACCEPTED)
            found.append(f"{bad} {'output' if bad == 1 else 'outputs'} did not reproduce")
        if self.contracts is not None and not self.contracts.ok:
            count = len(self.contracts.failing())
            found.append(
                "1 table breaks its contract"
                if count == 1
                else f"{count} tables break their contracts"
            )
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "head": self.head,
            "base": self.base,
            "base_reason": self.base_reason,
            "problems": self.problems(),
            "reproduction": {
                "status": self.reproduction_status,
                "report": self.reproduction.to_json() if self.reproduction else None,
                "error": self.reproduction_error,
            },
            "contracts": self.contracts.to_json() if self.contracts is not None else None,
            "metrics": [c.to_json() for c in self.metrics],
            "params": [c.to_json() for c in self.params],
            "changes": [_change_json(c) for c in self.changes],
            "tables": [t.to_json() for t in self.tables],
            "warnings": self.warnings,
        }

    def to_markdown(self) -> str:
        """The report as GitHub-flavoured Markdown, for a pull-request comment."""
        from mlv.ci.markdown import render

        return render(self)


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "path": change.path,
        "status": change.status,
        "old_size": change.old.size if change.old else None,
        "new_size": change.new.size if change.new else None,
    }
