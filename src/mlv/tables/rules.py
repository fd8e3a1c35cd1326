"""Evaluating a parsed data contract over a table, one record batch at a time."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlv.tables.formats import open_batches

if TYPE_CHECKING:
    import pyarrow as pa

    from mlv.tables.contracts import ColumnRules, Contract, Violation
    from mlv.tables.spill import Spool

# Examples kept per violation: enough to recognise the problem, few enough to print.
EXAMPLES = 5


def evaluate(
    path: Path, contract: Contract, *, memory: int | None = None, scratch: Path | None = None
) -> list[Violation]:
    """Every violation of ``contract`` in the table at ``path``; raises ``FormatError``.

    ``memory`` bounds the keys that uniqueness checks hold (``spill.MEMORY_LIMIT`` by
    default, shared by the checks); past it they spill to a folder under ``scratch``.
    """
    from mlv.tables.spill import MEMORY_LIMIT, scratch_folder

    with scratch_folder(scratch) as folder:
        uniques = len(contract.unique) + sum(rules.unique for rules in contract.columns)
        room = _Room(folder, (memory or MEMORY_LIMIT) // max(uniques, 1), path)
        return _evaluate(path, contract, room)


def _evaluate(path: Path, contract: Contract, room: _Room) -> list[Violation]:
    schema, batches = open_batches(path, columns=contract.columns_read())
    found: list[Violation] = []
    checks: list[_Check] = []
    for rules in contract.columns:
        index = schema.get_field_index(rules.name)
        if index < 0:
            if rules.required:
                found.append(_whole_column(contract, rules.name, "required", "no such column"))
            continue
        dtype = _value_type(schema.field(index).type)
        if rules.type is not None and not type_matches(rules.type, dtype):
            # The value rules assume the declared type: they are not tried on another.
            found.append(
                _whole_column(contract, rules.name, "type", f"the column is {dtype}", [str(dtype)])
            )
            continue
        checks.extend(_column_checks(contract, rules, dtype, found, room))
    for key in contract.unique:
        missing = [c for c in key if schema.get_field_index(c) < 0]
        if missing:
            found.append(
                _whole_column(contract, _label(key), "unique", f"no column {missing[0]!r}")
            )
        else:
            checks.append(_Unique(contract, key, room))
    rows = 0
    for batch in batches:
        for check in checks:
            check.update(batch, rows)
        rows += batch.num_rows
    for check in checks:
        found.extend(check.finish(rows))
    found.extend(_row_count(contract, rows))
    return found


# -- types ------------------------------------------------------------------------------


def _families() -> dict[str, Callable[[pa.DataType], bool]]:
    import pyarrow as pa

    t = pa.types

    def number(d: pa.DataType) -> bool:
        return bool(t.is_integer(d) or t.is_floating(d) or t.is_decimal(d))

    def string(d: pa.DataType) -> bool:
        return bool(t.is_string(d) or t.is_large_string(d) or t.is_string_view(d))

    def binary(d: pa.DataType) -> bool:
        return bool(t.is_binary(d) or t.is_large_binary(d) or t.is_fixed_size_binary(d))

    def listing(d: pa.DataType) -> bool:
        return bool(t.is_list(d) or t.is_large_list(d) or t.is_fixed_size_list(d))

    return {
        "int": t.is_integer,
        "integer": t.is_integer,
        "float": t.is_floating,
        "number": number,
        "string": string,
        "str": string,
        "bool": t.is_boolean,
        "boolean": t.is_boolean,
        "timestamp": t.is_timestamp,
        "datetime": t.is_timestamp,
        "date": t.is_date,
        "decimal": t.is_decimal,
        "binary": binary,
        "list": listing,
    }


def known_type(name: str) -> bool:
    """Whether ``name`` is a type family or an Arrow type name."""
    import pyarrow as pa

    if name in _families():
        return True
    try:
        pa.type_for_alias(name)
        return True
    except ValueError:
        # Types with parameters: compared by their text, e.g. "timestamp[us, tz=UTC]".
        return _normal(name).startswith(
            ("timestamp[", "time32[", "time64[", "duration[", "decimal", "list<", "struct<")
        )


def type_matches(name: str, dtype: pa.DataType) -> bool:
    """Whether a column of ``dtype`` has the type a contract names."""
    import pyarrow as pa

    if pa.types.is_null(dtype):
        return True  # a column of nulls only (CSV infers it) has no values of a wrong type
    family = _families().get(name)
    if family is not None:
        return bool(family(dtype))
    try:
        return bool(dtype == pa.type_for_alias(name))
    except ValueError:
        return _normal(name) == _normal(str(dtype))


def _normal(type_text: str) -> str:
    return "".join(type_text.split()).lower()


def _value_type(dtype: pa.DataType) -> pa.DataType:
    """A dictionary-encoded column (a pandas category) is checked by its values."""
    import pyarrow as pa

    return dtype.value_type if pa.types.is_dictionary(dtype) else dtype


def _column(batch: pa.RecordBatch, name: str) -> pa.Array:
    import pyarrow as pa

    values = batch.column(name)
    return values.dictionary_decode() if pa.types.is_dictionary(values.type) else values


# -- checks -----------------------------------------------------------------------------


class _Check:
    """One rule on one column (or key), fed every batch, then asked for its violations."""

    def update(self, batch: pa.RecordBatch, offset: int) -> None:
        raise NotImplementedError

    def finish(self, rows: int) -> list[Violation]:
        raise NotImplementedError


class _Masked(_Check):
    """Rows that a per-batch mask marks as breaking the rule, with the first values seen."""

    def __init__(
        self,
        contract: Contract,
        column: str,
        rule: str,
        mask: Callable[[pa.Array], pa.Array],
        describe: str,
        as_rows: bool = False,
    ):
        self.contract, self.column, self.rule, self.mask = contract, column, rule, mask
        self.describe = describe
        self.as_rows = as_rows  # examples are row numbers (the values are null)
        self.count = 0
        self.examples: list[Any] = []

    def update(self, batch: pa.RecordBatch, offset: int) -> None:
        import pyarrow.compute as pc

        values = _column(batch, self.column)
        bad = self.mask(values).fill_null(False)
        hits = pc.sum(bad).as_py() or 0
        if not hits:
            return
        self.count += hits
        if len(self.examples) < EXAMPLES:
            if self.as_rows:
                rows = pc.indices_nonzero(bad).slice(0, EXAMPLES).to_pylist()
                self.examples.extend(offset + r for r in rows)
            else:
                for value in pc.unique(values.filter(bad)).slice(0, EXAMPLES).to_pylist():
                    if value not in self.examples:
                        self.examples.append(value)
            del self.examples[EXAMPLES:]

    def finish(self, rows: int) -> list[Violation]:
        if not self.count:
            return []
        what = f"{self.count} {_plural(self.count, 'null' if self.as_rows else 'row')}"
        shown = _shown(self.examples, rows=self.as_rows)
        return [
            _violation(
                self.contract,
                self.column,
                self.rule,
                self.count,
                self.examples,
                f"{self.describe}: {what}, e.g. {shown}",
            )
        ]


class _NullFraction(_Check):
    def __init__(self, contract: Contract, column: str, limit: float):
        self.contract, self.column, self.limit = contract, column, limit
        self.nulls = 0

    def update(self, batch: pa.RecordBatch, offset: int) -> None:
        self.nulls += batch.column(self.column).null_count

    def finish(self, rows: int) -> list[Violation]:
        if not rows or self.nulls / rows <= self.limit:
            return []
        share = f"{100 * self.nulls / rows:.3g}%"
        message = (
            f"max_null_fraction {self.limit:g}: {self.nulls} "
            f"{_plural(self.nulls, 'null')} in {rows} {_plural(rows, 'row')} ({share})"
        )
        return [
            _violation(self.contract, self.column, "max_null_fraction", self.nulls, [], message)
        ]


@dataclass
class _Room:
    """What a uniqueness check may hold in memory, and where it spills the rest."""

    folder: Callable[[], Path]
    memory: int  # bytes, for each uniqueness check
    path: Path  # the table: its size says how many partitions a spill needs


class _Unique(_Check):
    """Rows whose key (one column or several) an earlier row already had; nulls never clash.

    The key columns are kept (as Arrow arrays: 8 bytes a row for an int64 key) and
    sorted once at the end, which needs about three times that: some 250 MB for ten
    million int64 keys. A hash grouping needs twice as much again and is slower. The
    sort compares values as they are, so NaN never repeats another NaN.

    Past the memory bound the keys spill (``mlv.tables.spill``): partitioned by a
    hash of the key, so that equal keys share a partition, each partition is sorted
    on its own and the counts added up: exact, and the examples are the same.
    """

    def __init__(self, contract: Contract, key: tuple[str, ...], room: _Room):
        self.contract, self.key, self.room = contract, key, room
        self.keys: Spool | None = None

    def update(self, batch: pa.RecordBatch, offset: int) -> None:
        import pyarrow as pa

        columns = [_column(batch, c) for c in self.key]
        keys = pa.Table.from_arrays(columns, names=list(self.key))
        if any(column.null_count for column in columns):
            keys = keys.drop_null()
        if self.keys is None:
            self.keys = self._spool(keys.schema)
        self.keys.add(keys)

    def _spool(self, schema: pa.Schema) -> Spool:
        from mlv.tables.spill import Spool, estimate_rows, partition_count

        hashable = _hashable(schema)
        partitions = partition_count(
            estimate_rows(self.room.path), 8 * len(self.key), self.room.memory
        )
        # Arrow's sort needs about six times the keys' bytes (indices, a sorted copy,
        # the comparisons), twice what a spool counts on. A key pyarrow can sort but
        # mlv cannot hash stays in memory, as it always did.
        limit = self.room.memory // 2 if hashable else 1 << 62
        return Spool("unique", schema, self.room.folder, partitions, limit, _key_hashes, join=True)

    def finish(self, rows: int) -> list[Violation]:
        if self.keys is None:
            return []
        extra = 0
        earliest: list[tuple[int, Any]] = []
        for keys, _, numbers in self.keys.parts(keep=False):
            count, firsts = _repeats(keys, self.key)
            extra += count
            if not count:
                continue
            sample = keys.take(firsts.slice(0, EXAMPLES))
            if len(self.key) == 1:
                values: list[Any] = sample.column(0).to_pylist()
            else:
                values = [list(row.values()) for row in sample.to_pylist()]
            at = firsts.slice(0, EXAMPLES).to_pylist()
            where = at if numbers is None else [int(numbers[i]) for i in at]
            earliest = sorted([*earliest, *zip(where, values, strict=True)])[:EXAMPLES]
        self.keys = None
        if not extra:
            return []
        examples = [value for _, value in earliest]
        message = f"unique: {extra} duplicate {_plural(extra, 'row')}, e.g. {_shown(examples)}"
        return [_violation(self.contract, _label(self.key), "unique", extra, examples, message)]


def _repeats(keys: pa.Table, key: tuple[str, ...]) -> tuple[int, pa.Array]:
    """How many rows repeat an earlier key, and the first repeat of each repeated key
    (row positions, ascending)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = keys.num_rows
    if n < 2:
        return 0, pa.array([], pa.uint64())
    if any(column.num_chunks > 1 for column in keys.columns):
        keys = keys.combine_chunks()  # Arrow sorts one chunk faster than many
    # A stable sort: within a run of equal keys, the first index is the first row.
    order = pc.sort_indices(keys, sort_keys=[(c, "ascending") for c in keys.column_names])
    ordered = keys.take(order)
    same: pa.Array | None = None
    for name in keys.column_names:
        column = ordered[name].combine_chunks()
        equal = pc.equal(column.slice(1), column.slice(0, n - 1))
        same = equal if same is None else pc.and_(same, equal)
    assert same is not None
    extra = pc.sum(same).as_py() or 0
    if not extra:
        return 0, pa.array([], pa.uint64())
    previous = pa.concat_arrays([pa.array([False]), same.slice(0, n - 2)])
    starts = pc.and_(same, pc.invert(previous))  # the first repeat in each run
    firsts = order.slice(0, n - 1).filter(starts)
    return extra, firsts.take(pc.array_sort_indices(firsts))


def _key_hashes(keys: pa.Table, _: Any) -> Any:
    """The 64-bit hash of each row's key: equal keys (NaN and -0.0 included) hash equal."""
    from mlv.tables.rowhash import hash_column, hash_rows

    columns = [hash_column(column, column.type) for column in keys.columns]
    return hash_rows(columns, keys.num_rows)


def _hashable(schema: pa.Schema) -> bool:
    import pyarrow as pa

    from mlv.errors import UnhashableTypeError
    from mlv.tables.rowhash import hash_column

    try:
        for field in schema:
            hash_column(pa.array([], field.type), field.type)
    except UnhashableTypeError:
        return False
    return True


def _column_checks(
    contract: Contract,
    rules: ColumnRules,
    dtype: pa.DataType,
    found: list[Violation],
    room: _Room,
) -> list[_Check]:
    """The streaming checks for one column's rules; a rule that cannot apply to the
    column's type goes straight to ``found``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    name = rules.name
    checks: list[_Check] = []
    if rules.not_null:
        checks.append(_Masked(contract, name, "not_null", pc.is_null, "not_null", as_rows=True))
    if rules.max_null_fraction is not None:
        checks.append(_NullFraction(contract, name, rules.max_null_fraction))
    if pa.types.is_null(dtype):
        return checks  # only nulls: no value can repeat or fall outside a range or a list
    if rules.unique:
        checks.append(_Unique(contract, (name,), room))
    for rule, bound, outside in (
        ("min", rules.min, pc.greater_equal),
        ("max", rules.max, pc.less_equal),
    ):
        if bound is None:
            continue
        scalar = _bound(bound, dtype)
        if scalar is None:
            found.append(_cannot(contract, name, rule, bound, dtype))
            continue

        def beyond(values: pa.Array, scalar: Any = scalar, within: Any = outside) -> pa.Array:
            # NaN compares false with everything: it is outside every range.
            return pc.invert(within(values, scalar))

        checks.append(_Masked(contract, name, rule, beyond, f"{rule} {_show(bound)}"))
    if rules.allowed is not None:
        allowed = _value_set(rules.allowed, dtype)
        if allowed is None:
            found.append(_cannot(contract, name, "allowed", list(rules.allowed), dtype))
        else:

            def unlisted(values: pa.Array, allowed: Any = allowed) -> pa.Array:
                return pc.and_(pc.invert(pc.is_in(values, value_set=allowed)), values.is_valid())

            listed = ", ".join(_show(v) for v in rules.allowed[:5])
            more = ", …" if len(rules.allowed) > 5 else ""
            describe = f"allowed [{listed}{more}]"
            checks.append(_Masked(contract, name, "allowed", unlisted, describe))
    return checks


def _bound(value: Any, dtype: pa.DataType) -> Any:
    """``value`` as a scalar to compare a ``dtype`` column with, or None when the two
    are not of a kind: a number bounds numbers only (never text, where "100" < "20")."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = pa.types
    try:
        if t.is_timestamp(dtype) or t.is_date(dtype):
            # A time without a zone, on a column with one, is taken as UTC.
            when = datetime.fromisoformat(value) if isinstance(value, str) else value
            if not isinstance(when, date):
                return None
            scalar = pa.scalar(when).cast(dtype)
        elif t.is_integer(dtype) or t.is_floating(dtype) or t.is_decimal(dtype):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            scalar = pa.scalar(value)
        elif isinstance(value, int | float | date):
            return None
        else:
            scalar = pa.scalar(value)
        pc.less(pa.array([], type=dtype), scalar)
    except (pa.ArrowException, ValueError, TypeError):
        return None
    return scalar


def _value_set(allowed: tuple[Any, ...], dtype: pa.DataType) -> pa.Array | None:
    import pyarrow as pa

    try:
        return pa.array(list(allowed)).cast(dtype)
    except (pa.ArrowException, ValueError, TypeError):
        return None


def _row_count(contract: Contract, rows: int) -> list[Violation]:
    found = []
    if contract.rows_min is not None and rows < contract.rows_min:
        found.append(("min", contract.rows_min, "fewer"))
    if contract.rows_max is not None and rows > contract.rows_max:
        found.append(("max", contract.rows_max, "more"))
    return [
        _violation(
            contract,
            None,
            "rows",
            rows,
            [],
            f"rows: {side} {limit}: the table has {rows} {_plural(rows, 'row')}",
        )
        for side, limit, _ in found
    ]


# -- violations and how they read ------------------------------------------------------


def _violation(
    contract: Contract,
    column: str | None,
    rule: str,
    count: int,
    examples: list[Any],
    message: str,
) -> Violation:
    from mlv.tables.contracts import Violation

    text = f"{column}: {message}" if column is not None else message
    return Violation(contract.table, column, rule, count, examples, text)


def _whole_column(
    contract: Contract, column: str, rule: str, problem: str, examples: list[Any] | None = None
) -> Violation:
    """A rule broken by the column as a whole (its type, its absence): a count of 1."""
    label = f"type {contract.column(column).type}" if rule == "type" else rule
    return _violation(contract, column, rule, 1, examples or [], f"{label}: {problem}")


def _cannot(
    contract: Contract, column: str, rule: str, value: Any, dtype: pa.DataType
) -> Violation:
    return _violation(
        contract, column, rule, 1, [], f"{rule} {_show(value)}: cannot apply to a {dtype} column"
    )


def _label(key: tuple[str, ...]) -> str:
    return key[0] if len(key) == 1 else "(" + ", ".join(key) + ")"


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _shown(values: list[Any], rows: bool = False, limit: int = 3) -> str:
    text = ", ".join(_show(v) for v in values[:limit])
    return f"{_plural(len(values), 'row')} {text}" if rows else text


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def plain(value: Any) -> Any:
    """An example value as JSON can carry it: numbers, strings, booleans, null, lists."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
