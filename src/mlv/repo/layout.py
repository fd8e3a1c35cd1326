"""Names of the files and folders inside ``.mlv`` (see docs/format.md, "Repository layout")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MLV_DIR = ".mlv"
CONFIG_FILE = "config.toml"
HEAD_FILE = "HEAD"
REFS_DIR = "refs"
LOGS_DIR = "logs"
PACKS_DIR = "packs"
INDEX_DB = "index.db"
WRITE_LOCK_FILE = "lock"
TMP_DIR = "tmp"
# A query's spill folder in TMP_DIR: removed when it ends, by gc when it was killed.
QUERY_SCRATCH_PREFIX = "query-"
# A table diff's or uniqueness check's partitions on disk (``mlv.tables.spill``).
SPILL_SCRATCH_PREFIX = "mlv-spill-"
# What this repository knows of each remote: caches, rebuilt from the remote when lost.
REMOTES_STATE_DIR = "remotes"
# In a partial clone: the name of the remote that missing content is read from.
PARTIAL_FILE = "partial"
IGNORE_FILE = ".mlvignore"
# The format this mlv writes (docs/format.md, "Versions and changes"), and the older
# ones ``mlv migrate`` converts to it.
REPOSITORY_FORMAT = 2
MIGRATES_FROM = (1,)
DEFAULT_BRANCH = "main"


@dataclass(frozen=True)
class Layout:
    """Paths of one repository, from its working tree root."""

    root: Path

    @property
    def mlv(self) -> Path:
        return self.root / MLV_DIR

    @property
    def config(self) -> Path:
        return self.mlv / CONFIG_FILE

    @property
    def head(self) -> Path:
        return self.mlv / HEAD_FILE

    @property
    def refs(self) -> Path:
        return self.mlv / REFS_DIR

    @property
    def logs(self) -> Path:
        return self.mlv / LOGS_DIR

    @property
    def packs(self) -> Path:
        return self.mlv / PACKS_DIR

    @property
    def index_db(self) -> Path:
        return self.mlv / INDEX_DB

    @property
    def lock(self) -> Path:
        return self.mlv / WRITE_LOCK_FILE

    def remote_state(self, name: str) -> Path:
        """The folder of what this repository knows of remote ``name`` (caches)."""
        return self.mlv / REMOTES_STATE_DIR / name

    @property
    def tmp(self) -> Path:
        """Scratch space of writes in progress (checkouts); what is there may be removed."""
        return self.mlv / TMP_DIR


def find_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that holds ``.mlv``."""
    current = start.resolve()
    for candidate in (current, *current.parents):
        if (candidate / MLV_DIR / HEAD_FILE).is_file():
            return candidate
    return None
