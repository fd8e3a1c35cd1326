"""What ``add`` and ``commit`` do for tables: check data contracts first, profile after.

``register`` joins them to a repository's extension points (``mlv.repo.extensions``):
``before_add`` and ``before_commit`` check contracts, ``after_add`` profiles, and
``entry_profiles`` names the recorded profile of each table a tree holds. Contracts
are checked only when ``mlv.yaml`` declares one, so a repository without contracts
pays nothing; profiling touches only tables, once per content.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from mlv.errors import MlvError
from mlv.repo.diff import REMOVED, diff_flat
from mlv.repo.staging import as_entry
from mlv.tables.config import load_table_configs
from mlv.tables.contracts import enforce
from mlv.tables.formats import FORMAT_OF_SUFFIX, is_table
from mlv.tables.profiles import record_profiles

if TYPE_CHECKING:
    from mlv.repo.extensions import AddEvent, CommitEvent
    from mlv.repo.repository import Repo
    from mlv.repo.results import AddResult, Progress
    from mlv.repo.staging import Staged
    from mlv.repo.trees import Entry

# Table files: their content is profiled on add, and tree entries name the profile.
PROFILED_SUFFIXES = tuple(FORMAT_OF_SUFFIX)


def register(repo: Repo) -> None:
    """Join the table checks and profiles to ``repo``'s ``add`` and ``commit``."""
    points = repo.extensions

    def on_before_add(event: AddEvent) -> list[str]:
        return before_add(repo, event.paths, strict=event.strict)

    def on_after_add(event: AddEvent) -> list[str]:
        assert event.result is not None
        return after_add(repo, event.result, event.progress)

    def on_before_commit(event: CommitEvent) -> list[str]:
        return before_commit(repo, strict=event.strict)

    points.before_add.register(on_before_add)
    points.after_add.register(on_after_add)
    points.before_commit.register(on_before_commit)
    points.entry_profiles.register(lambda flat: entry_profiles(repo, flat))


def before_add(repo: Repo, paths: list[str], *, strict: bool | None) -> list[str]:
    """Check the tables that ``add`` of ``paths`` would stage (new or changed) against
    their contracts: warnings, or ``ContractError`` when strict."""
    return enforce(repo, paths, strict=strict, when="add")


def after_add(repo: Repo, result: AddResult, progress: Progress | None = None) -> list[str]:
    """Profile the tables ``add`` staged with new content; warnings for unreadable ones.

    ``tables.profile = false`` in the config skips it: profiling a 10 M-row table
    costs more than storing it. ``mlv stats`` still profiles on demand.
    """
    if not repo.config.tables_profile:
        return []
    return record_profiles(repo, [*result.added, *result.modified], progress)


def before_commit(repo: Repo, *, strict: bool | None) -> list[str]:
    """Check the staged tables that changed since HEAD against their contracts."""
    if not _declares_contracts(repo):
        return []
    head = repo.refs.head().commit
    head_tree = repo.read_commit(head).tree if head else None
    if head_tree is not None and repo.staging.known_tree() == head_tree:
        return []
    staged = {p: as_entry(s) for p, s in repo.staging.load().items()}
    changes = diff_flat(repo.trees.flatten(head_tree), staged)
    tables = [c.path for c in changes if c.status != REMOVED and is_table(c.path)]
    return enforce(repo, tables, strict=strict, when="commit") if tables else []


def entry_profiles(repo: Repo, flat: Mapping[str, Entry | Staged]) -> dict[str, str]:
    """The recorded profile id of each table among ``flat``'s paths, by path.

    Only table paths are looked up, in one batched query.
    """
    tables = {p: e.id for p, e in flat.items() if p.lower().endswith(PROFILED_SUFFIXES)}
    if not tables:
        return {}
    found = repo.records.profiles_of(list(set(tables.values())))
    return {p: found[i] for p, i in tables.items() if i in found}


def _declares_contracts(repo: Repo) -> bool:
    try:
        configs = load_table_configs(repo.root)
    except MlvError:
        return True  # a malformed mlv.yaml: the contract check explains it
    return any(config.contract for config in configs)
