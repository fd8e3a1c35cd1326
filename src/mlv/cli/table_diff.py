"""Rendering row-level table diffs for ``mlv diff``: a summary line, or the full report."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

from mlv.cli.output import styled
from mlv.errors import InvalidArgumentError
from mlv.tables.pyvalues import MINUS, short

if TYPE_CHECKING:
    from mlv.tables.diff import TableDiff
    from mlv.tables.drift import ColumnDrift
    from mlv.tables.repo_diff import TableChange

INDENT = "  "


def plain(text: str) -> str:
    """Text that rich must not read as markup (values may hold brackets) on a terminal."""
    if not sys.stdout.isatty():
        return text
    from rich.markup import escape

    return escape(text)


def parse_key(text: str | None) -> list[str] | None:
    """``--key id`` or ``--key user,day``; None when the option was not given."""
    if text is None:
        return None
    columns = [c.strip() for c in text.split(",")]
    if not all(columns):
        raise InvalidArgumentError(f"--key {text!r}: give column names separated by commas")
    return columns


def with_tables(changes: list[dict[str, Any]], tables: list[TableChange]) -> list[dict[str, Any]]:
    """``mlv diff --json``: each modified table's change gets ``table`` and ``table_note``."""
    by_path = {t.path: t for t in tables}
    for change in changes:
        found = by_path.get(change["path"])
        if found is not None:
            change["table"] = found.diff.to_json() if found.diff else None
            change["table_note"] = found.note
    return changes


def table_lines(tables: list[TableChange]) -> list[str]:
    """A summary line per table; the full report for the tables named after '--'."""
    lines: list[str] = []
    for found in tables:
        if found.diff is None:
            lines.append(plain(f"{found.path}: {found.note}"))
        elif found.named:
            lines.extend(["", *report_lines(found.diff)])
        else:
            lines.append(plain(found.diff.summary()))
    return ["", *lines] if lines and lines[0] else lines


def report_lines(diff: TableDiff) -> list[str]:
    """Everything about one table: schema, rows, changed values, statistics drift."""
    return [styled(diff.summary(), "bold"), *(plain(line) for line in _report_body(diff))]


def _report_body(diff: TableDiff) -> list[str]:
    lines = []
    if diff.old_format != diff.new_format and not diff.whole:
        lines.append(f"{INDENT}format: {diff.old_format} → {diff.new_format}")
    lines.extend(_schema_lines(diff))
    lines.extend(_row_lines(diff))
    drifted = [d for d in diff.drift if d.moved]
    if drifted:
        lines.append(f"{INDENT}statistics drift:")
        header = ["column", "nulls", "mean", "min", "max"]
        lines.extend(_grid(header, [_drift_row(d) for d in drifted], INDENT * 2))
    for column, why in diff.not_compared.items():
        lines.append(f"{INDENT}not compared: {column}: {why}")
    for note in diff.notes:
        lines.append(f"{INDENT}note: {note}")
    return lines


def _schema_lines(diff: TableDiff) -> list[str]:
    s = diff.schema
    items = [f"+ {c.name} ({c.type})" for c in s.added]
    items += [f"{MINUS} {c.name} ({c.type})" for c in s.removed]
    items += [f"~ {r}" for r in s.retyped]
    if s.reordered:
        items.append("columns reordered")
    if not items:
        return []
    return [f"{INDENT}schema:", *(INDENT * 2 + item for item in items)]


def _row_lines(diff: TableDiff) -> list[str]:
    r = diff.rows
    if diff.whole:
        sample = diff.added_sample() if diff.whole == "added" else diff.removed_sample()
        if not sample:
            return []
        headers = list(sample[0])
        lines = [f"{INDENT}first rows:"]
        lines.extend(
            _grid(headers, [[short(row[h]) for h in headers] for row in sample], INDENT * 2)
        )
        return lines
    if r.mode == "multiset":
        lines = [
            f"{INDENT}rows (no key, as multisets): {r.added:,} only in new, "
            f"{r.removed:,} only in old"
        ]
        for label, sample in (("new", diff.added_sample()), ("old", diff.removed_sample())):
            if sample:
                lines.append(f"{INDENT}first rows only in {label}:")
                headers = list(sample[0])
                rows = [[short(row[h]) for h in headers] for row in sample]
                lines.extend(_grid(headers, rows, INDENT * 2))
        return lines
    lines = [
        f"{INDENT}rows matched on {', '.join(r.key)}: {r.added:,} added, {r.removed:,} removed, "
        f"{r.changed:,} changed, {r.unchanged:,} unchanged"
    ]
    if r.changed_columns:
        counts = ", ".join(f"{c} {n:,}" for c, n in r.changed_columns.items())
        lines.append(f"{INDENT}changed columns: {counts}")
        rows = [
            [
                *(short(v) for v in item["key"].values()),
                column,
                short(values["old"]),
                "→",
                short(values["new"]),
            ]
            for item in diff.changed_sample()
            for column, values in item["changes"].items()
        ]
        lines.append(f"{INDENT}first changed rows:")
        lines.extend(_grid([*r.key, "column", "old", "", "new"], rows, INDENT * 2))
    for label, sample in (("added", diff.added_sample()), ("removed", diff.removed_sample())):
        if sample:
            keys = ", ".join(_key_text(row) for row in sample)
            more = ", …" if len(sample) < getattr(r, label) else ""
            lines.append(f"{INDENT}first {label} keys: {keys}{more}")
    return lines


def _key_text(row: dict[str, Any]) -> str:
    values = [short(v) for v in row.values()]
    return values[0] if len(values) == 1 else "(" + ", ".join(values) + ")"


def _drift_row(d: ColumnDrift) -> list[str]:
    cells = [d.name]
    for stat in ("nulls", "mean", "min", "max"):
        old, new = getattr(d.old, stat), getattr(d.new, stat)
        if stat not in d.moved:
            cells.append(_stat(old))
            continue
        digits = _digits_apart(old, new)
        cells.append(f"{_stat(old, digits)} → {_stat(new, digits)}")
    return cells


def _digits_apart(old: Any, new: Any) -> int:
    """Enough significant digits (6 or more) for two different floats not to print alike."""
    if not (isinstance(old, float) and isinstance(new, float)):
        return 6
    for digits in range(6, 18):
        if f"{old:.{digits}g}" != f"{new:.{digits}g}":
            return digits
    return 17


def _stat(value: Any, digits: int = 6) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.{digits}g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    # 32: a timestamp in ISO 8601 with microseconds, as profiles give it, fits whole.
    return short(value, 32) if value is not None else "-"


def _grid(headers: list[str], rows: list[list[str]], indent: str) -> list[str]:
    """Rows under headers, columns aligned, as plain lines."""
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    out = []
    for row in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        out.append(indent + "  ".join(cells).rstrip())
    return out
