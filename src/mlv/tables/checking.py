"""Tables of a repository against their contracts: ``mlv check``, and the gate of ``add``
and ``commit``.

The contracts are those of the working tree's ``mlv.yaml`` (``mlv.tables.contracts``
parses and evaluates them); the tables' bytes come from the working tree, a commit or
the staging area (``mlv.tables.sources``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlv.errors import ContractError, PipelineError
from mlv.repo.layout import MLV_DIR, TMP_DIR
from mlv.tables.config import config_for, load_table_configs
from mlv.tables.contracts import Violation, check_table, parse_contract
from mlv.tables.formats import is_table
from mlv.tables.sources import RevisionTables, StagedTables, WorktreeTables

if TYPE_CHECKING:
    from pathlib import Path

    from mlv.repo.protocols import ObjectReader, RevisionResolver, StageReader, WorkingFiles


@dataclass
class CheckReport:
    """What ``mlv check`` found: the tables checked and every violation, table by table."""

    rev: str | None
    tables_checked: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    # Paths that were named but hold no table that a contract covers.
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def failing(self) -> list[str]:
        """The tables with at least one violation, in the order checked."""
        return list(dict.fromkeys(v.table for v in self.violations))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rev": self.rev,
            "tables_checked": self.tables_checked,
            "tables_failing": self.failing(),
            "skipped": self.skipped,
            "violations": [v.to_json() for v in self.violations],
        }


def check_tables(
    paths: Sequence[str] | None,
    rev: str | None,
    *,
    root: Path,
    objects: ObjectReader,
    revisions: RevisionResolver,
) -> CheckReport:
    """Check tables against their contracts: ``paths`` (repository paths: files or folders),
    or every table a contract names; in the working tree under ``root``, or at ``rev``
    (named by ``revisions``, read from ``objects``).

    The contracts are always the working tree's ``mlv.yaml``: with ``rev``, the question
    is whether that version of the data meets them.
    """
    configs = [c for c in load_table_configs(root) if c.contract]
    contracts = {c.pattern: parse_contract(c.contract, c.pattern) for c in configs}
    report = CheckReport(rev)
    source = RevisionTables(objects, revisions, rev) if rev is not None else WorktreeTables(root)
    if paths is None:
        named = {"": [p for c in configs for p in source.matching(c.pattern)]}
    else:
        named = {rel: source.under(rel) for rel in paths}
    for rel, candidates in named.items():
        checked = 0
        for path in candidates:
            config = config_for(configs, path)
            if config is None or not is_table(path):
                continue
            checked += 1
            if path in report.tables_checked:
                continue
            with source.file(path) as local:
                found = check_table(
                    local,
                    contracts[config.pattern],
                    table_name=path,
                    memory=config.memory,
                    scratch=_scratch(root),
                )
            report.tables_checked.append(path)
            report.violations.extend(found)
        if paths is not None and not checked:
            report.skipped.append(rel)
    return report


def enforce(
    paths: list[str],
    *,
    strict: bool | None,
    when: str,
    tables_strict: bool,
    worktree: WorkingFiles,
    stage: StageReader,
    objects: ObjectReader,
) -> list[str]:
    """Check the tables among ``paths`` that have a contract, for ``add`` or ``commit``.

    ``when="add"``: the working-tree files, except those whose stat matches the
    staging area ``stage`` (their content is staged already and was checked when it
    was added). ``when="commit"``: the staged content of ``paths`` (from ``objects``
    where the working file no longer holds it). Returns one warning line per table
    that breaks its contract (or whose contract cannot be read). With ``strict``
    True, or None and ``tables_strict`` (``tables.strict`` in ``.mlv/config.toml``),
    a broken contract raises ``ContractError`` (exit 1) instead.
    """
    from_config = strict is None and tables_strict
    refuse = bool(strict) or from_config
    root = worktree.root
    try:
        configs = [c for c in load_table_configs(root) if c.contract]
    except PipelineError as exc:
        if refuse:
            raise
        return [f"{exc}; contracts not checked"]
    if not configs or not paths:
        return []
    rels = [worktree.relpath(p) for p in paths]
    source: StagedTables | WorktreeTables = (
        StagedTables(rels, root=root, stage=stage, objects=objects)
        if when == "commit"
        else WorktreeTables(root, stage)
    )
    warnings: list[str] = []
    broken: dict[str, int] = {}
    for path in dict.fromkeys(p for rel in rels for p in source.under(rel)):
        config = config_for(configs, path)
        if config is None or not is_table(path):
            continue
        try:
            contract = parse_contract(config.contract, config.pattern)
        except PipelineError as exc:
            if refuse:
                raise
            warnings.append(f"{exc}; {path} not checked")
            continue
        with source.file(path) as local:
            found = check_table(
                local, contract, table_name=path, memory=config.memory, scratch=_scratch(root)
            )
        if found:
            broken[path] = len(found)
            shown = "; ".join(v.message for v in found[:2])
            more = f"; and {len(found) - 2} more" if len(found) > 2 else ""
            warnings.append(f"{path} breaks its contract: {shown}{more} (mlv check for all)")
    if broken and refuse:
        count = sum(broken.values())
        undo = (
            "set tables.strict = false in .mlv/config.toml"
            if from_config
            else f"{when} without --strict"
        )
        raise ContractError(
            f"{count} contract {'violation' if count == 1 else 'violations'} in "
            f"{', '.join(broken)}: run 'mlv check' for the list; or {undo}"
        )
    return warnings


def _scratch(root: Path) -> Path:
    """Where a check's spilled keys go: beside the store, on the repository's disk."""
    folder = root / MLV_DIR / TMP_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder
