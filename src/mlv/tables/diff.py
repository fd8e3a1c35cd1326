"""Row-level diff of two table files: schema changes, rows added, removed and changed, drift.

``diff_tables(old, new, key=("id",))`` works on any two tables mlv reads (Parquet,
CSV/TSV, Arrow IPC/Feather, JSON Lines), of the same format or not. With a key,
rows are matched on it: added, removed and changed rows, and which columns changed.
Without one (or when the key cannot serve: missing, not unique, null, of types that
do not compare), rows are compared as multisets: how many of each distinct row
each side holds. Problems with the key are explained in ``notes``, never raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlv.errors import InvalidArgumentError, UnhashableTypeError
from mlv.tables.drift import ColumnDrift, drift
from mlv.tables.formats import PARQUET, table_format
from mlv.tables.matching import duplicates, key_codes, match_keys, match_multisets, sort_codes
from mlv.tables.pyvalues import MINUS, json_value, short
from mlv.tables.row_diff import (
    CHANGED_COLUMNS,
    Matched,
    Part,
    Plan,
    Rows,
    Scan,
    Table,
    keyed_rows,
    multiset_rows,
    spools,
)
from mlv.tables.row_diff import scan_both as _scan_both
from mlv.tables.rowhash import hash_column, hash_rows
from mlv.tables.schema_diff import Column, SchemaDiff, compare_schemas, family
from mlv.tables.spill import MEMORY_LIMIT, Pairs, scratch_folder

if TYPE_CHECKING:
    import pyarrow as pa

WITHOUT_KEY = "rows compared without a key"


@dataclass
class TableDiff:
    """Everything that differs between two versions of a table.

    ``rows.changed_rows`` (also ``changed_rows``) holds, for a keyed diff, the key
    columns, then ``old.C`` and ``new.C`` for each column C that changed, then
    ``changed_columns``: every changed row up to ``row_diff.ROW_LIMIT`` (the counts
    are always exact). ``rows.added_rows`` and ``rows.removed_rows`` hold the rows
    only in the new or only in the old table, up to the same limit.
    """

    name: str
    old_format: str
    new_format: str
    old_rows: int
    new_rows: int
    schema: SchemaDiff
    rows: Rows
    drift: list[ColumnDrift]
    not_compared: dict[str, str] = field(default_factory=dict)  # column -> why
    notes: list[str] = field(default_factory=list)
    sample: int = 10
    # "added" or "removed" for a table on one side only (``table_on_one_side``), else "".
    whole: str = ""

    @property
    def changed_rows(self) -> pa.Table:
        import pyarrow as pa

        return self.rows.changed_rows if self.rows.changed_rows is not None else pa.table({})

    @property
    def rows_changed(self) -> bool:
        return bool(self.rows.added or self.rows.removed or self.rows.changed)

    @property
    def identical(self) -> bool:
        """Same columns, same rows, every column compared."""
        return not (self.schema.changed or self.rows_changed or self.not_compared)

    def summary(self) -> str:
        """One line: '<name>: 1,000 → 1,050 rows; +50 -0 ~10 changed (label); schema: …'."""
        if self.whole:
            count = self.new_rows if self.whole == "added" else self.old_rows
            columns = self.schema.added if self.whole == "added" else self.schema.removed
            return (
                f"{self.name}: table {self.whole}, {count:,} row{'s' if count != 1 else ''}, "
                f"{_column_list(columns)}"
            )
        rows = "row" if self.new_rows == 1 else "rows"
        counts = (
            f"{self.old_rows:,} {rows}"
            if self.old_rows == self.new_rows
            else f"{self.old_rows:,} → {self.new_rows:,} {rows}"
        )
        parts = [f"{self.name}: {counts}"]
        r = self.rows
        if r.mode == "key":
            text = f"+{r.added:,} {MINUS}{r.removed:,} ~{r.changed:,} changed"
            if r.changed_columns:
                names = list(r.changed_columns)
                text += f" ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})"
            parts.append(text if self.rows_changed else "no row changes")
        else:
            parts.append(
                f"+{r.added:,} {MINUS}{r.removed:,} rows (no key)"
                if self.rows_changed
                else "same rows (no key)"
            )
        if self.schema.changed:
            parts.append(f"schema: {self.schema.summary()}")
        if self.not_compared:
            parts.append(f"not compared: {', '.join(self.not_compared)}")
        return "; ".join(parts)

    def changed_sample(self) -> list[dict[str, Any]]:
        """The first changed rows: their key, and old and new value of each changed column."""
        table = self.rows.changed_rows
        if table is None or not table.num_rows:
            return []
        out = []
        for row in table.slice(0, self.sample).to_pylist():
            changes = {
                c: {"old": row[f"old.{c}"], "new": row[f"new.{c}"]} for c in row[CHANGED_COLUMNS]
            }
            out.append({"key": {k: row[k] for k in self.rows.key}, "changes": changes})
        return out

    def added_sample(self) -> list[dict[str, Any]]:
        """The first added rows: their key, or the whole row without a key."""
        return _sample(self.rows.added_rows, self.rows.key, self.sample)

    def removed_sample(self) -> list[dict[str, Any]]:
        return _sample(self.rows.removed_rows, self.rows.key, self.sample)

    def to_json(self) -> dict[str, Any]:
        r = self.rows
        return {
            "path": self.name,
            "old": {"format": self.old_format, "rows": self.old_rows},
            "new": {"format": self.new_format, "rows": self.new_rows},
            "identical": self.identical,
            "summary": self.summary(),
            "schema": self.schema.to_json(),
            "rows": {
                "mode": r.mode,
                "key": list(r.key),
                "added": r.added,
                "removed": r.removed,
                "changed": r.changed,
                "unchanged": r.unchanged,
                "changed_columns": r.changed_columns,
                "changed_sample": json_value(self.changed_sample()),
                "added_sample": json_value(self.added_sample()),
                "removed_sample": json_value(self.removed_sample()),
            },
            "not_compared": [{"name": n, "reason": why} for n, why in self.not_compared.items()],
            "drift": [d.to_json() for d in self.drift],
            "notes": self.notes,
            "table": self.whole or "modified",
        }


def diff_tables(
    old_path: Path,
    new_path: Path,
    *,
    key: Sequence[str] = (),
    sample: int = 10,
    name: str | None = None,
    memory: int | None = None,
    scratch: Path | None = None,
) -> TableDiff:
    """Compare two table files; ``key`` names the columns that identify a row.

    ``memory`` bounds the bytes the rows' keys and hashes may take (default
    ``spill.MEMORY_LIMIT``); past it they are partitioned into files in a folder made
    under ``scratch`` (default: the system's temporary folder) and removed after.

    Raises:
        FormatError: either file is not a readable table.
        InvalidArgumentError: ``sample`` is negative.
    """
    if sample < 0:
        raise InvalidArgumentError("sample must be 0 or more")
    old, new = Table.open(Path(old_path)), Table.open(Path(new_path))
    schema, compare_as = compare_schemas(old.schema, new.schema)
    not_compared = {
        r.name: f"type changed ({r.old} → {r.new}), values not compared"
        for r in schema.retyped
        if not r.compared
    }
    for column, kind in list(compare_as.items()):
        problem = _unhashable(old.schema.field(column).type, new.schema.field(column).type, kind)
        if problem:
            not_compared[column] = problem
            del compare_as[column]
    notes: list[str] = []
    key_types = _usable_key(tuple(key), old.schema, new.schema, compare_as, notes)
    plan = Plan(
        key=key_types,
        compared={c: t for c, t in compare_as.items() if c not in key_types},
        stats=list(schema.common),
    )
    with scratch_folder(scratch) as folder:
        kept = spools(plan, old, new, folder, memory or MEMORY_LIMIT)
        old_scan, new_scan = _scan_both(old, new, plan, kept)
        pairs = Pairs(folder, (memory or MEMORY_LIMIT) // 4)
        rows = _rows(old, new, plan, old_scan, new_scan, notes, pairs)
    return TableDiff(
        name=name or Path(new_path).name,
        old_format=table_format(old_path) or "",
        new_format=table_format(new_path) or "",
        old_rows=old_scan.rows,
        new_rows=new_scan.rows,
        schema=schema,
        rows=rows,
        drift=drift(schema.common, old_scan.stats, new_scan.stats),
        not_compared=not_compared,
        notes=notes,
        sample=sample,
    )


def table_on_one_side(
    path: Path, whole: str, *, sample: int = 10, name: str | None = None
) -> TableDiff:
    """The diff of a table that was ``"added"`` (only in the new revision) or
    ``"removed"``: all its rows and columns are on that side. Rows are counted (a
    Parquet footer holds the count) and the first ``sample`` kept."""
    import pyarrow as pa

    if whole not in ("added", "removed"):
        raise InvalidArgumentError(f"a table on one side is added or removed, not {whole!r}")
    if sample < 0:
        raise InvalidArgumentError("sample must be 0 or more")
    table = Table.open(Path(path))
    count, first = _count_rows(table, sample)
    columns = [Column(f.name, str(f.type)) for f in table.schema]
    kept = pa.Table.from_batches(first, schema=table.schema) if first else None
    added = whole == "added"
    rows = Rows(
        "multiset",
        (),
        added=count if added else 0,
        removed=0 if added else count,
        changed=0,
        unchanged=0,
        added_rows=kept if added else None,
        removed_rows=None if added else kept,
    )
    kind = table_format(path) or ""
    return TableDiff(
        name=name or Path(path).name,
        old_format="" if added else kind,
        new_format=kind if added else "",
        old_rows=0 if added else count,
        new_rows=count if added else 0,
        schema=SchemaDiff(added=columns) if added else SchemaDiff(removed=columns),
        rows=rows,
        drift=[],
        sample=sample,
        whole=whole,
    )


def _count_rows(table: Table, sample: int) -> tuple[int, list[pa.RecordBatch]]:
    """How many rows ``table`` holds, and batches of its first ``sample`` rows."""
    if table_format(table.path) == PARQUET:
        import pyarrow.parquet as pq

        with pq.ParquetFile(table.path) as parquet:
            count = parquet.metadata.num_rows
            batches = parquet.iter_batches(batch_size=max(sample, 1)) if sample else iter(())
            return count, [next(batches)] if count and sample else []
    count, first, kept = 0, [], 0
    for batch in table.take_batches():
        count += batch.num_rows
        if kept < sample and batch.num_rows:
            first.append(batch.slice(0, sample - kept))
            kept += first[-1].num_rows
    return count, first


def _column_list(columns: list[Column]) -> str:
    names = [c.name for c in columns]
    shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
    label = "column" if len(names) == 1 else "columns"
    return f"{len(names)} {label}" + (f" ({shown})" if names else "")


def _rows(
    old: Table, new: Table, plan: Plan, o: Scan, n: Scan, notes: list[str], pairs: Pairs
) -> Rows:
    if plan.key:
        problem, matched = _match_on_key(plan, o, n, pairs)
        if matched is not None:
            return keyed_rows(old, new, plan, matched)
        notes.append(f"{problem}; {WITHOUT_KEY}")
    matched = Matched.empty(pairs)
    for old_part, new_part in _parts(plan, o, n):
        old_hashes, new_hashes = _with_key(old_part, plan), _with_key(new_part, plan)
        matched.add_multiset(match_multisets(old_hashes, new_hashes, old_part.rows, new_part.rows))
    return multiset_rows(old, new, matched)


def _parts(plan: Plan, o: Scan, n: Scan) -> Any:
    """The partitions of both tables in pairs: rows with equal keys are in the same pair."""
    for old_part, new_part in zip(o.spool.parts(), n.spool.parts(), strict=True):
        yield Part.of(old_part), Part.of(new_part)


@dataclass
class _Repeats:
    """Keys held by more than one row of a table, counted over the partitions."""

    values: int = 0
    example_row: int = -1
    example: list[Any] = field(default_factory=list)

    def add(self, part: Part, codes: Any) -> None:
        dup = duplicates(codes)
        if dup is None:
            return
        self.values += dup.values
        row = dup.example_row if part.rows is None else int(part.rows[dup.example_row])
        if self.example_row < 0 or row < self.example_row:
            self.example_row = row
            self.example = [k[dup.example_row].as_py() for k in part.keys]


def _match_on_key(plan: Plan, o: Scan, n: Scan, pairs: Pairs) -> tuple[str | None, Matched | None]:
    """The rows paired on the key, partition by partition, or why the key cannot pair them.

    A key is unique only if it is in every partition, so all are read before a
    repeat is reported; matching stops at the first repeat.
    """
    problem = _key_values_problem(plan, o, n)
    if problem is not None:
        return problem, None
    matched = Matched.empty(pairs)
    repeats = {"old": _Repeats(), "new": _Repeats()}
    kinds = list(plan.key.values())
    for old_part, new_part in _parts(plan, o, n):
        old_codes, new_codes = key_codes(old_part.keys, new_part.keys, kinds)
        old_sorted = sort_codes(old_codes)
        repeats["old"].add(old_part, old_sorted)
        repeats["new"].add(new_part, sort_codes(new_codes))
        if not (repeats["old"].values or repeats["new"].values):
            matched.add_keyed(match_keys(old_sorted, new_codes, len(old_part)), old_part, new_part)
    problem = _not_unique(plan, repeats["old"], "old") or _not_unique(plan, repeats["new"], "new")
    if problem is not None:
        return problem, None
    return None, matched


def _with_key(part: Part, plan: Plan) -> Any:
    """Row hashes that take the key columns in too: without a key, a row is all its values."""
    if not plan.key:
        return part.hashes
    keys = [
        hash_column(values, kind) for values, kind in zip(part.keys, plan.key.values(), strict=True)
    ]
    return hash_rows([part.hashes, *keys], len(part))


def _usable_key(
    key: tuple[str, ...],
    old: pa.Schema,
    new: pa.Schema,
    compare_as: dict[str, pa.DataType],
    notes: list[str],
) -> dict[str, pa.DataType]:
    """The key columns and their comparison types, or {} with a note saying why not."""
    if not key:
        return {}
    problems = []
    for column in key:
        missing = [side for side, s in (("old", old), ("new", new)) if column not in s.names]
        if missing:
            where = " and ".join(missing)
            problems.append(f"key column {column} is missing from the {where} table")
        elif column not in compare_as:
            a, b = old.field(column).type, new.field(column).type
            problems.append(
                f"key column {column} is {a} in the old table and {b} in the new: not comparable"
                if a != b
                else f"key column {column} has type {a}, which cannot be a key"
            )
        elif family(compare_as[column]) == "nested":
            problems.append(
                f"key column {column} has type {compare_as[column]}, which cannot be a key"
            )
    if len(set(key)) != len(key):
        problems.append(f"key {', '.join(key)} names a column twice")
    if problems:
        notes.append(f"{'; '.join(problems)}; {WITHOUT_KEY}")
        return {}
    return {column: compare_as[column] for column in key}


def _key_values_problem(plan: Plan, o: Scan, n: Scan) -> str | None:
    for column in plan.key:
        for side, found in (("old", o), ("new", n)):
            nulls = found.nulls[column]
            if nulls:
                values = "value" if nulls == 1 else "values"
                return f"key column {column} has {nulls:,} null {values} in the {side} table"
    return None


def _not_unique(plan: Plan, repeats: _Repeats, side: str) -> str | None:
    if not repeats.values:
        return None
    values = repeats.example
    example = (
        short(values[0]) if len(values) == 1 else "(" + ", ".join(short(v) for v in values) + ")"
    )
    label = ", ".join(plan.key)
    plural = "s" if repeats.values != 1 else ""
    return (
        f"key {label} is not unique in the {side} table: "
        f"{repeats.values:,} duplicated value{plural}, e.g. {example}"
    )


def _unhashable(old: pa.DataType, new: pa.DataType, kind: pa.DataType) -> str | None:
    """Why a column's values cannot be compared (tried on empty arrays), or None."""
    import pyarrow as pa

    try:
        for side in (old, new):
            hash_column(pa.array([], side), kind)
    except UnhashableTypeError as exc:
        return f"values not compared: {exc}"
    return None


def _sample(table: pa.Table | None, key: tuple[str, ...], count: int) -> list[dict[str, Any]]:
    if table is None or not table.num_rows:
        return []
    if key:
        table = table.select(list(key))
    return table.slice(0, count).to_pylist()
