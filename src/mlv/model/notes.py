"""The ``notes`` object: one entry of a chain of records kept reachable from a ref."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mlv.errors import FormatError
from mlv.model.objects import StoredObject, _require_id


@dataclass(frozen=True)
class Notes(StoredObject):
    """Records added at one time, and the entries that came before.

    ``parents`` is a list so that two chains can one day be joined by an entry with
    two parents; ``records`` are the ids of the objects this entry adds, in order.
    """

    TYPE: ClassVar[str] = "notes"

    parents: tuple[str, ...]
    records: tuple[str, ...]

    def body(self) -> dict[str, Any]:
        return {"parents": list(self.parents), "records": list(self.records)}

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Notes:
        parents, records = body["parents"], body["records"]
        if not isinstance(parents, list) or not isinstance(records, list):
            raise FormatError("notes parents and records must be lists")
        return cls(parents=tuple(parents), records=tuple(records))

    def check(self) -> None:
        for parent in self.parents:
            _require_id(parent, "notes parent")
        for record in self.records:
            _require_id(record, "notes record")
        if len(set(self.parents)) != len(self.parents):
            raise FormatError("notes entry names one parent twice")
