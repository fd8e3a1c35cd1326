"""Data contracts: what the tables named in ``mlv.yaml`` promise about their columns and rows.

A contract sits under a table's path (or glob) in the ``tables:`` section of the root
``mlv.yaml``::

    tables:
      data/train.parquet:
        key: [id]
        contract:
          columns:
            id:    {type: int64, not_null: true, unique: true}
            age:   {type: float, min: 0, max: 130, max_null_fraction: 0.01}
            label: {allowed: [cat, dog]}
            note:  {type: string, required: false}
            day:   date                     # a type alone: short for {type: date}
          unique: [[user, day]]             # keys: a list of columns, or one column's name
          rows: {min: 1000, max: 10000000}

Column rules:

- ``type``: an Arrow type name (``int64``, ``int32``, ``double``, ``float32``, ``string``,
  ``large_string``, ``bool``, ``date32``, ``timestamp[us]``, ``timestamp[us, tz=UTC]``,
  ``decimal128(10, 2)``, ...) or a family: ``int``/``integer`` (any width, signed or
  not), ``float`` (any width: name ``float32`` for exactly that), ``number`` (integer,
  floating or decimal), ``string``/``str``, ``bool``/``boolean``,
  ``timestamp``/``datetime`` (any unit or zone), ``date``, ``decimal``, ``binary``,
  ``list``. A dictionary-encoded column (a pandas category) is checked by its values;
  a column of nulls only meets every type.
- ``required`` (default ``true``): the column exists. With ``false`` the other rules
  apply only when it does.
- ``not_null``: no nulls. ``unique``: no value twice (nulls are never compared).
- ``min``, ``max``: every non-null value within the bound, inclusive. Numbers, or
  strings and dates for columns of those. NaN is outside every range.
- ``allowed``: every non-null value is one of these.
- ``max_null_fraction``: nulls / rows at most this, from 0 to 1.

Table rules: ``unique`` (a list of keys, each a column or a list of columns) and
``rows`` (``min`` and/or ``max`` rows, inclusive). A rule mlv does not know, or a
value of the wrong kind, is a ``PipelineError`` naming the table, column and rule.

Each broken rule is one ``Violation`` with a count: the rows that break a value rule
(the nulls for ``not_null``, with row numbers from 0 as examples; the rows that
repeat an earlier key for ``unique``), the nulls for ``max_null_fraction``, the row
count for ``rows``, and 1 for a rule the column breaks as a whole (``type``,
``required``, a bound of a kind the column cannot be compared with).

Tables are read one record batch at a time (only the columns a contract names), so
memory does not grow with the table, except for uniqueness: the key columns are kept
and sorted at the end, about 25 bytes a row for an int64 key (ten million rows: some
250 MB). Past the memory bound (``mlv.tables.spill.MEMORY_LIMIT``, 1 GiB, shared by
a contract's uniqueness checks; ``memory:`` in a table's mlv.yaml settings) the keys
are partitioned by a hash of the key into files and each partition is checked on
its own: the counts and examples are the same, and memory stays bounded.

This module parses a contract and checks one table file; ``mlv.tables.checking``
checks the tables of a repository (``mlv check``, and the gate of ``add`` and
``commit``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlv.errors import FormatError, PipelineError
from mlv.tables.config import CONFIG_FILE

COLUMN_RULES = (
    "type",
    "required",
    "not_null",
    "unique",
    "min",
    "max",
    "allowed",
    "max_null_fraction",
)
TABLE_RULES = ("columns", "unique", "rows")
ROWS_RULES = ("min", "max")


@dataclass(frozen=True)
class ColumnRules:
    name: str
    type: str | None = None
    required: bool = True
    not_null: bool = False
    unique: bool = False
    min: Any = None
    max: Any = None
    allowed: tuple[Any, ...] | None = None
    max_null_fraction: float | None = None


@dataclass(frozen=True)
class Contract:
    """A parsed contract; ``table`` is the path or glob it is declared under."""

    table: str
    columns: tuple[ColumnRules, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    rows_min: int | None = None
    rows_max: int | None = None

    def column(self, name: str) -> ColumnRules:
        return next(c for c in self.columns if c.name == name)

    def columns_read(self) -> list[str]:
        """The columns the rules look at: the only ones read from the table."""
        names = [c.name for c in self.columns]
        names += [name for key in self.unique for name in key]
        return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Violation:
    """One broken rule: the table, the column (None for a table rule), how many, examples.

    ``message`` is one line, e.g. ``age: max 130: 3 rows, e.g. 140, 151, 200``.
    """

    table: str
    column: str | None
    rule: str
    count: int
    examples: list[Any]
    message: str

    def to_json(self) -> dict[str, Any]:
        from mlv.tables.rules import plain

        return {
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "count": self.count,
            "examples": plain(self.examples),
            "message": self.message,
        }


# -- parsing ----------------------------------------------------------------------------


def parse_contract(doc: dict[str, Any], table: str) -> Contract:
    """A contract from its ``mlv.yaml`` mapping; ``PipelineError`` names what is wrong."""
    where = f"{CONFIG_FILE}: table '{table}'"
    if not isinstance(doc, dict):
        raise PipelineError(f"{where}: contract must be a mapping of rules")
    for rule in doc:
        if rule not in TABLE_RULES:
            raise PipelineError(
                f"{where}: unknown contract rule '{rule}'; allowed: {', '.join(TABLE_RULES)}"
            )
    columns = doc.get("columns") or {}
    if not isinstance(columns, dict):
        raise PipelineError(f"{where}: columns must map column names to rules")
    unique = doc.get("unique") or []
    if not isinstance(unique, list) or not all(_is_key(k) for k in unique):
        raise PipelineError(
            f"{where}: unique must be a list of keys, each a column name or a list of names"
        )
    rows = doc.get("rows") or {}
    if not isinstance(rows, dict):
        raise PipelineError(f"{where}: rows must be a mapping with min and/or max")
    for rule, value in rows.items():
        if rule not in ROWS_RULES:
            raise PipelineError(
                f"{where}: unknown rule 'rows.{rule}'; allowed: {', '.join(ROWS_RULES)}"
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PipelineError(f"{where}: rows.{rule} must be a whole number of rows")
    if rows.get("min") is not None and rows.get("max") is not None and rows["min"] > rows["max"]:
        raise PipelineError(f"{where}: rows.min is above rows.max")
    return Contract(
        table=table,
        columns=tuple(
            _parse_column(str(n), r, f"{where}, column '{n}'") for n, r in columns.items()
        ),
        unique=tuple((k,) if isinstance(k, str) else tuple(k) for k in unique),
        rows_min=rows.get("min"),
        rows_max=rows.get("max"),
    )


def _is_key(key: Any) -> bool:
    if isinstance(key, str):
        return True
    return isinstance(key, list) and bool(key) and all(isinstance(c, str) for c in key)


def _parse_column(name: str, rules: Any, where: str) -> ColumnRules:
    from mlv.tables.rules import known_type

    if rules is None:
        rules = {}
    elif isinstance(rules, str):
        rules = {"type": rules}
    if not isinstance(rules, dict):
        raise PipelineError(f"{where}: expected a type or a mapping of rules")
    for rule in rules:
        if rule not in COLUMN_RULES:
            raise PipelineError(
                f"{where}: unknown rule '{rule}'; allowed: {', '.join(COLUMN_RULES)}"
            )
    kind = rules.get("type")
    if kind is not None and (not isinstance(kind, str) or not known_type(kind)):
        raise PipelineError(
            f"{where}: unknown type {kind!r}; name an Arrow type (int64, double, string,"
            " timestamp[us], ...) or one of int, float, number, string, bool, timestamp, date"
        )
    for rule in ("required", "not_null", "unique"):
        if not isinstance(rules.get(rule, False), bool):
            raise PipelineError(f"{where}: {rule} must be true or false")
    for rule in ("min", "max"):
        if not _is_bound(rules.get(rule)):
            raise PipelineError(f"{where}: {rule} must be a number, a string or a date")
    low: Any = rules.get("min")
    high: Any = rules.get("max")
    if _is_number(low) and _is_number(high) and low > high:
        raise PipelineError(f"{where}: min is above max")
    allowed = rules.get("allowed")
    if allowed is not None and (
        not isinstance(allowed, list) or not allowed or not all(_is_bound(v) for v in allowed)
    ):
        raise PipelineError(f"{where}: allowed must be a non-empty list of values")
    fraction = rules.get("max_null_fraction")
    if fraction is not None and not (_is_number(fraction) and 0 <= fraction <= 1):
        raise PipelineError(f"{where}: max_null_fraction must be a number from 0 to 1")
    return ColumnRules(
        name=name,
        type=kind,
        required=rules.get("required", True),
        not_null=rules.get("not_null", False),
        unique=rules.get("unique", False),
        min=low,
        max=high,
        allowed=tuple(allowed) if allowed is not None else None,
        max_null_fraction=float(fraction) if fraction is not None else None,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_bound(value: Any) -> bool:
    from datetime import date

    return value is None or _is_number(value) or isinstance(value, str | date | bool)


# -- one table --------------------------------------------------------------------------


def check_table(
    path: Path,
    contract: Contract | dict[str, Any],
    *,
    table_name: str,
    memory: int | None = None,
    scratch: Path | None = None,
) -> list[Violation]:
    """Every violation of ``contract`` in the table file at ``path``, named ``table_name``.

    A file that cannot be read as a table is one violation (rule ``readable``).
    ``memory`` bounds what uniqueness checks hold (``spill.MEMORY_LIMIT`` by default);
    past it they spill to a folder made under ``scratch`` and removed after.
    """
    from mlv.tables.rules import evaluate

    parsed = contract if isinstance(contract, Contract) else parse_contract(contract, table_name)
    try:
        return evaluate(path, replace(parsed, table=table_name), memory=memory, scratch=scratch)
    except FormatError as exc:
        return [Violation(table_name, None, "readable", 1, [], f"not a readable table: {exc}")]
