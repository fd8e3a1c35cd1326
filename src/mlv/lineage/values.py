"""Metrics and parameters of a commit or the working tree: shown side by side, compared."""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlv.errors import MlvError
from mlv.repo.browsing import file_at
from mlv.repo.protocols import ObjectReader, RefReader, RevisionResolver, RunIndex, WorkingFiles

METRICS = "metrics"
PARAMS = "params"
WORKTREE = "workspace"  # how the working tree is named where a revision would be


@dataclass
class ValuesTable:
    """Values of several revisions, side by side: one row per (file, key)."""

    revs: list[str]
    rows: list[tuple[str, str, list[Any]]]  # (file, key, value per rev; None when absent)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "revs": self.revs,
            "rows": [{"file": f, "key": k, "values": v} for f, k, v in self.rows],
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class ValueChange:
    """One key's value in two revisions; ``None`` where the key is absent."""

    file: str
    key: str
    old: Any
    new: Any

    @property
    def change(self) -> float | None:
        """new - old, when both are numbers."""
        if _number(self.old) and _number(self.new):
            return self.new - self.old  # type: ignore[no-any-return]
        return None

    @property
    def relative(self) -> float | None:
        """(new - old) / |old|, when both are numbers and old is not zero."""
        change = self.change
        if change is None or not self.old:
            return None
        return change / abs(self.old)  # type: ignore[no-any-return]

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "key": self.key,
            "old": self.old,
            "new": self.new,
            "change": self.change,
            "relative": self.relative,
        }


@dataclass
class ValuesDiff:
    """The keys whose values differ between two revisions (all keys with ``all_keys``)."""

    a: str
    b: str
    changes: list[ValueChange]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "changes": [c.to_json() for c in self.changes],
            "warnings": self.warnings,
        }


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not _nan(value)


def _nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)


# -- reading and comparing -----------------------------------------------------------


class Values:
    """The metrics and parameters of commits and of the working tree, side by side.

    Runs, commits and files are read through ``objects``, revisions named by
    ``revisions``, HEAD found in ``refs``; the working tree (``worktree``) adds the
    runs waiting for a commit in ``records`` and its pipeline file.
    """

    def __init__(
        self,
        *,
        objects: ObjectReader,
        revisions: RevisionResolver,
        refs: RefReader,
        records: RunIndex,
        worktree: WorkingFiles,
        not_fetched: Callable[[str], bytes | None] | None = None,
    ) -> None:
        self.objects = objects
        # A partial clone's tracked files that were never fetched read as staged.
        self.not_fetched = not_fetched
        self.revisions = revisions
        self.refs = refs
        self.records = records
        self.worktree = worktree

    def declared_files(self, commit_id: str | None, what: str) -> tuple[list[str], list[str]]:
        """The metrics (or params) files of a commit's runs; for the working tree (None),
        those of HEAD's runs, of runs not committed yet and of the pipeline file.

        Returns the files and warnings about what could not be read.
        """
        from mlv.runs.commits import effective_runs

        warnings: list[str] = []
        runs = []
        head = commit_id or self.refs.head().commit
        if head is not None:
            runs += list(effective_runs(self.objects, head).values())
        if commit_id is None:
            for run_id, _ in self.records.pending():
                try:
                    runs.append(self.objects.read_run(run_id))
                except MlvError as exc:
                    warnings.append(str(exc))
        files: list[str] = []
        for run in reversed(runs):  # oldest first: files in the order they came about
            files += run.metrics if what == METRICS else run.params
        if commit_id is None:
            files += _pipeline_files(self.worktree.root, what, warnings)
        return list(dict.fromkeys(files)), warnings

    def read_values(
        self, commit_id: str | None, files: Sequence[str], *, expected: Sequence[str] = ()
    ) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """The values in ``files`` at a commit (None: the working tree), and warnings.

        A file that does not parse becomes a warning, never an error: one malformed file
        must not hide the others. A missing file is worth a warning only when ``expected``.
        """
        where = commit_id[:12] if commit_id else WORKTREE
        found: dict[str, dict[str, Any]] = {}
        warnings: list[str] = []
        for path in files:
            try:
                if commit_id is None:
                    full = self.worktree.root / path
                    data = full.read_bytes() if full.is_file() else None
                    if data is None and self.not_fetched is not None and not full.exists():
                        data = self.not_fetched(path)
                else:
                    tree = self.objects.read_commit(commit_id).tree
                    entry = self.objects.entry_at(tree, path)
                    data = self._committed(commit_id, path) if entry is not None else None
                if data is None:
                    if path in expected:
                        warnings.append(f"{path} is missing in {where}")
                    continue
                found[path] = parse_values(data, path)
            except (MlvError, OSError) as exc:
                warnings.append(f"{path} in {where}: {exc}")
        return found, warnings

    def _committed(self, commit_id: str, path: str) -> bytes:
        """A file's bytes in a commit, ``path`` named as the repository names it (never
        through a symlink in the working tree)."""
        rel = self.worktree.relpath(path)
        return b"".join(file_at(self.objects, self.revisions, commit_id, rel))

    def table(self, revs: Sequence[str | None], what: str = METRICS) -> ValuesTable:
        """The values of each revision (None: the working tree), one column per revision.

        Every column reads the files that any of the revisions declares, so that a file
        a later run added still lines up with the revisions before it.
        """
        revs = list(revs) or [None]
        commits = [self.revisions.resolve(rev) if rev is not None else None for rev in revs]
        declared: list[list[str]] = []
        warnings: list[str] = []
        for commit_id in commits:
            files, problems = self.declared_files(commit_id, what)
            declared.append(files)
            warnings += problems
        everything = list(dict.fromkeys(f for files in declared for f in files))
        columns = []
        for commit_id, files in zip(commits, declared, strict=True):
            values, problems = self.read_values(commit_id, everything, expected=files)
            columns.append(values)
            warnings += problems
        keys = list(dict.fromkeys((f, k) for c in columns for f, vs in c.items() for k in vs))
        keys.sort(key=lambda fk: everything.index(fk[0]))
        rows = [(f, k, [c.get(f, {}).get(k) for c in columns]) for f, k in keys]
        labels = [rev if rev is not None else WORKTREE for rev in revs]
        return ValuesTable(labels, rows, list(dict.fromkeys(warnings)))

    def diff(
        self,
        a: str | None = "HEAD",
        b: str | None = None,
        what: str = METRICS,
        *,
        all_keys: bool = False,
    ) -> ValuesDiff:
        """The values that differ from ``a`` to ``b`` (None: the working tree)."""
        found = self.table([a, b], what)
        changes = [
            ValueChange(f, k, old, new)
            for f, k, (old, new) in found.rows
            if all_keys or not _same(old, new)
        ]
        return ValuesDiff(found.revs[0], found.revs[1], changes, found.warnings)


def _pipeline_files(root: Path, what: str, warnings: list[str]) -> list[str]:
    from mlv.pipeline.spec import find_pipeline, load_pipeline

    if find_pipeline(root) is None:
        return []
    try:
        pipeline = load_pipeline(root)
    except MlvError as exc:
        warnings.append(f"pipeline file not read: {exc}")
        return []
    files: list[str] = []
    for stage in pipeline.stages.values():
        if what == METRICS:
            files += [out.path for out in stage.outs if out.metric]
        else:
            files += list(stage.params)
    return files


def parse_values(data: bytes, name: str) -> dict[str, Any]:
    """A metrics or params file's values under dotted keys, read by its extension."""
    from mlv.core.yamlio import load_yaml
    from mlv.runs.params import flatten

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MlvError(f"{name}: not UTF-8 text") from None
    doc: Any
    if name.endswith(".toml"):
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise MlvError(f"{name}: {exc}") from None
    elif name.endswith(".json"):
        try:
            doc = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise MlvError(f"{name}: line {exc.lineno}: {exc.msg}") from None
    else:
        doc = load_yaml(text, name)  # YAML is a superset of JSON: also the fallback
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise MlvError(f"{name}: the top level is a {type(doc).__name__}, not a mapping")
    return flatten(doc)


def _same(old: Any, new: Any) -> bool:
    if _nan(old) and _nan(new):
        return True
    if _number(old) and _number(new):
        return bool(old == new)  # 1 and 1.0 are the same value
    return type(old) is type(new) and old == new
