"""``mlv remote test``: can this remote be listed, written, read and deleted, and does it
refuse a second create of the same key?

The last matters most: a ref on a remote changes only by compare-and-swap, and a
server that takes a second create-if-absent (or a replace from a stale token) as a
plain write would let two pushers each think they won. The probe writes only under
``tmp/`` and removes what it wrote.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from mlv.errors import RemoteError
from mlv.remote.storage import Storage

PROBE_PREFIX = "tmp/probe-"
# Enough to see that listing works, not so many that a large bucket takes long.
LIST_SAMPLE = 100


@dataclass(frozen=True)
class ProbeStep:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"step": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class ProbeReport:
    remote: str
    url: str
    steps: list[ProbeStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def conditional_writes(self) -> bool | None:
        """Whether the server refused both a second create and a stale replace; None when
        the probe could not get as far as trying (it could not write, say)."""
        tried = [s for s in self.steps if s.name in ("create-if-absent", "replace-if-match")]
        if len(tried) < 2:
            return None if all(s.ok for s in tried) else False
        return all(s.ok for s in tried)

    def to_json(self) -> dict[str, object]:
        return {
            "remote": self.remote,
            "url": self.url,
            "ok": self.ok,
            "conditional_writes": self.conditional_writes,
            "steps": [step.to_json() for step in self.steps],
        }


def probe(storage: Storage, name: str) -> ProbeReport:
    """Try each operation a remote must support, in order; a step that cannot run
    because an earlier one failed is not tried. A remote that cannot even be listed
    raises ``RemoteError``: nothing else is worth trying."""
    report = ProbeReport(name, storage.url)
    try:
        sample = list(itertools.islice(storage.list(""), LIST_SAMPLE))
    except RemoteError as exc:
        # The storage's message names the URL and the cause already.
        raise RemoteError(f"remote {name!r}: {exc}") from None
    shown = f"{len(sample)}{'+' if len(sample) == LIST_SAMPLE else ''} key(s) there"
    report.steps.append(ProbeStep("list", True, shown))
    key = PROBE_PREFIX + os.urandom(8).hex()
    # Four different contents: a token may be a hash of the content (an ETag is one),
    # and a replace by the same bytes would leave a stale token current.
    first, second, third, fourth = (f"mlv probe {n}\n".encode() for n in range(1, 5))

    def step(what: str, check: Callable[[], str]) -> bool:
        try:
            detail = check()
        except (RemoteError, _Failed) as exc:
            report.steps.append(ProbeStep(what, False, str(exc)))
            return False
        report.steps.append(ProbeStep(what, True, detail))
        return True

    def write() -> str:
        if storage.create(key, first) is None:
            raise _Failed(f"{key} already existed; run the test again")
        return f"created {key}"

    def read() -> str:
        if storage.get(key) != first:
            raise _Failed(f"{key} did not read back as written")
        return "read back what was written"

    def create_again() -> str:
        if storage.create(key, second) is not None or storage.get(key) != first:
            raise _Failed(
                "a second create of the same key was taken as a plain write: the server "
                "does not enforce If-None-Match, so concurrent pushes could lose commits"
            )
        return "a second create of the same key was refused"

    def replace() -> str:
        current = storage.get_with_token(key)
        if current is None:
            raise _Failed(f"{key} is gone")
        stale = current[1]
        if storage.replace(key, third, stale) is None or storage.get(key) != third:
            raise _Failed("a replace from the current version was refused")
        if storage.replace(key, fourth, stale) is not None or storage.get(key) != third:
            raise _Failed(
                "a replace from a stale version was taken: the server does not enforce "
                "If-Match, so concurrent pushes could lose commits"
            )
        return "a replace from the current version worked, one from a stale version was refused"

    def delete() -> str:
        storage.delete(key)
        if storage.get(key) is not None:
            raise _Failed(f"{key} is still there after delete")
        return f"deleted {key}"

    written = False
    try:
        written = step("write", write)
        if written and step("read", read):
            step("create-if-absent", create_again)
            step("replace-if-match", replace)
    finally:
        # Interrupted (Ctrl-C) or not, the probe goes: only a kill leaves it under tmp/.
        if written:
            step("delete", delete)
    return report


class _Failed(Exception):
    """A probe step that ran and found the remote wanting (not an error of ours)."""
