"""One remote, opened for transfer: its storage, its marker, and what we know of it."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from mlv.errors import RemoteError
from mlv.remote.config import RemoteSpec
from mlv.remote.connect import open_remote
from mlv.remote.layout import MARKER, check_marker, marker_bytes
from mlv.remote.remoteindex import RemoteIndex
from mlv.remote.storage import Storage
from mlv.repo.files import atomic_write
from mlv.repo.layout import Layout

PACKS_DB = "packs.db"
PROBE_FILE = "probe.json"


@dataclass
class Remote:
    """A remote being pushed to or fetched from."""

    name: str
    storage: Storage
    state: Path
    index: RemoteIndex

    @property
    def url(self) -> str:
        return self.storage.url

    def close(self) -> None:
        self.index.close()

    def conditional_writes(self) -> bool | None:
        """What ``mlv remote test`` last found: True, False, or None when never run."""
        try:
            doc = json.loads((self.state / PROBE_FILE).read_text())
            value = doc["conditional_writes"]
            return value if isinstance(value, bool) else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def check_marker(self, *, create: bool) -> bool:
        """Whether the remote is an mlv remote (True) or empty (False); a folder that
        holds other things is refused. ``create``: make an empty one an mlv remote."""
        found = self.storage.get(MARKER)
        if found is not None:
            check_marker(found, self.url)
            return True
        if any(True for _ in self.storage.list("")):
            raise RemoteError(
                f"remote {self.url} is not an mlv remote: it holds files but no {MARKER}; "
                "check the URL, or point the remote at an empty folder or prefix"
            )
        if not create:
            return False
        if self.storage.create(MARKER, marker_bytes()) is None:
            # Another first push made it meanwhile: check that it is one.
            check_marker(self.storage.get(MARKER) or b"", self.url)
        return True


def open_session(layout: Layout, spec: RemoteSpec) -> Remote:
    state = layout.remote_state(spec.name)
    storage = open_remote(layout, spec)
    return Remote(spec.name, storage, state, RemoteIndex(state / PACKS_DB))


def save_probe(layout: Layout, name: str, conditional_writes: bool | None) -> None:
    """Remember what ``mlv remote test`` found, for pushes to choose how to swap refs."""
    state = layout.remote_state(name)
    state.mkdir(parents=True, exist_ok=True)
    doc = {"conditional_writes": conditional_writes, "tested": int(time.time())}
    atomic_write(state / PROBE_FILE, (json.dumps(doc) + "\n").encode())


def rename_state(layout: Layout, old: str, new: str) -> None:
    source, target = layout.remote_state(old), layout.remote_state(new)
    if source.exists() and not target.exists():
        source.rename(target)


def forget_state(layout: Layout, name: str) -> None:
    shutil.rmtree(layout.remote_state(name), ignore_errors=True)
