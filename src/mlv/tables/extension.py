"""What ``add`` and ``commit`` do for tables: check data contracts first, profile after.

``register`` joins them to a repository's extension points (``mlv.repo.extensions``):
``before_add`` and ``before_commit`` check contracts, ``after_add`` profiles, and
``commit_objects`` gives the commit the profile map of the tables it holds first.
Contracts are checked only when ``mlv.yaml`` declares one, so a repository without
contracts pays nothing; profiling touches only tables, once per content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlv.errors import MlvError
from mlv.model.objects import KIND_FILE
from mlv.model.tables import ProfileMap
from mlv.repo.diff import REMOVED, diff_flat, iter_tree_changes
from mlv.repo.staging import as_entry
from mlv.store.pack import KIND_META
from mlv.tables.checking import enforce
from mlv.tables.config import load_table_configs
from mlv.tables.formats import FORMAT_OF_SUFFIX, is_table
from mlv.tables.profiles import readable_profiles, record_profiles

if TYPE_CHECKING:
    from mlv.repo.extensions import AddEvent, CommitEvent
    from mlv.repo.repository import Repo
    from mlv.repo.results import AddResult, Progress

# Table files: their content is profiled on add, and the commit names the profile.
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
    points.commit_objects.register(lambda event: commit_profiles(repo, event))


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


def commit_profiles(repo: Repo, event: CommitEvent) -> list[str]:
    """Store the profile map of the tables the commit holds that its first parent did
    not (``Commit.profiles``), and name it in the commit.

    Only what changed since the first parent is looked at: the walk skips every folder
    the two trees share. A table from another parent of a merge was named by that
    parent's history already; naming it again does no harm.
    """
    assert event.tree is not None
    first = repo.read_commit(event.parents[0]).tree if event.parents else None
    contents = {
        change.new.id
        for change in iter_tree_changes(repo.trees, first, event.tree)
        if change.new is not None
        and change.new.kind == KIND_FILE  # a symlink named t.csv is no table
        and change.path.lower().endswith(PROFILED_SUFFIXES)
    }
    if not contents:
        return []
    found = readable_profiles(repo, repo.records.profiles_of(sorted(contents)))
    if found:
        profile_map = ProfileMap(found)
        event.profiles = repo.store.put_meta(profile_map.to_bytes(), KIND_META)
    return []


def _declares_contracts(repo: Repo) -> bool:
    try:
        configs = load_table_configs(repo.root)
    except MlvError:
        return True  # a malformed mlv.yaml: the contract check explains it
    return any(config.contract for config in configs)
