"""CSV, TSV and JSON Lines as record batches whose types hold for the whole file.

CSV (and TSV) and JSON Lines carry no types, and pyarrow's streaming readers fix them
from the first block, then fail on a later value that does not fit. mlv reads such a
file twice instead, in blocks of whole lines (``TEXT_BLOCK_BYTES``): the first pass lets
pyarrow infer each block's types on its own and widens them into the file's; the
second decodes every block with those types, so each batch has the schema given up
front. The blocks at the file's start, up to ``TEXT_HELD_BYTES`` decoded, are kept from
the first pass where their types are the file's, so a small file is decoded once. Two
types widen to the first rule that applies:

- the same type stays;
- null (a block where the column holds only empty or NA-like values) yields to the other;
- int64 and double make double;
- timestamps in one time zone (or none) make the finer unit; a date and a timestamp
  without a time zone make the timestamp;
- two structs (JSON objects) make a struct of the fields of both, in the order first
  seen, each widened; two lists make a list of the widened items;
- binary (CSV text that is not UTF-8) wins over anything;
- anything else makes string. A CSV value keeps its text. A JSON value that is not a
  string becomes text: a number or boolean as pyarrow casts it (``1``, ``2.5``,
  ``true``), an object or list as compact JSON (``{"b":1}``).
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import pyarrow as pa

# CSV and JSON Lines are read in blocks of at most this many bytes, cut after a line end.
TEXT_BLOCK_BYTES = 16 * 1024 * 1024
# Blocks decoded at once while the caller reads: each holds a block's text and columns.
TEXT_DECODERS = 2
# Decoded blocks at the start of the file the first pass keeps for the second.
TEXT_HELD_BYTES = 64 * 1024 * 1024
# A JSON block pyarrow cannot type (a field of two kinds) is halved down to this size,
# then typed in Python.
JSON_PIECE_BYTES = 256 * 1024

_T = TypeVar("_T")
_R = TypeVar("_R")


def open_csv(path: Path, source: pa.NativeFile) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """CSV, or TSV by its suffix: each block parsed alone, its header from the first."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    delimiter = "\t" if Path(path).suffix.lower() == ".tsv" else ","

    def decode(block: bytes, first: bool, schema: pa.Schema | None) -> pa.Table:
        read = pcsv.ReadOptions(
            block_size=len(block) + 1,  # one block, so its types come from all its lines
            column_names=None if first else names,
        )
        types = {} if schema is None else dict(zip(schema.names, schema.types, strict=True))
        return pcsv.read_csv(
            pa.py_buffer(block),
            read_options=read,
            parse_options=pcsv.ParseOptions(delimiter=delimiter),
            convert_options=pcsv.ConvertOptions(column_types=types),
        )

    names: list[str] = []

    def infer(block: bytes, first: bool) -> tuple[pa.Schema, pa.Table]:
        table = decode(block, first, None)  # pyarrow types any CSV block: string at worst
        if first:
            names.extend(table.column_names)
        return table.schema, table

    return _read_twice(source, (b"\n", b"\r"), infer, decode, _wider_columns)


def open_jsonl(source: pa.NativeFile) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """JSON Lines, one object a line; a key missing from a line is a null there."""

    def decode(block: bytes, first: bool, schema: pa.Schema) -> pa.Table:
        try:
            return _read_json(block, schema)
        except ValueError:
            return _json_as_text(block, schema)

    def infer(block: bytes, first: bool) -> tuple[pa.Schema, pa.Table | None]:
        try:
            table = _read_json(block, None)
        except ValueError:
            return _json_schema(block), None
        return table.schema, table

    return _read_twice(source, (b"\n",), infer, decode, _wider_fields)


def _json_as_text(block: bytes, schema: pa.Schema) -> pa.Table:
    """A block pyarrow refuses to read with the file's ``schema``, as it puts no number,
    boolean, object or list in a string column. Read with its own types where it has
    numbers or booleans there, then cast; a piece with two kinds in one field, or an
    object or list where text is wanted, is halved down to ``JSON_PIECE_BYTES`` and its
    values made text in Python."""
    import pyarrow as pa

    try:
        readable = _readable(
            pa.struct(list(schema)), pa.struct(list(_read_json(block, None).schema))
        )
        if readable is not None:
            return _read_json(block, pa.schema(list(readable))).cast(schema)
    except (pa.ArrowException, ValueError):
        pass  # two kinds in one field: pyarrow reads no type for it
    cut = block.find(b"\n", len(block) // 2) + 1
    if len(block) <= JSON_PIECE_BYTES or cut in (0, len(block)):
        return _read_json(_as_json_text(block, schema), schema)
    halves = []
    for half in (block[:cut], block[cut:]):
        try:
            halves.append(_read_json(half, schema))
        except ValueError:
            halves.append(_json_as_text(half, schema))
    return pa.concat_tables(halves)


def _readable(wanted: pa.DataType, own: pa.DataType) -> pa.DataType | None:
    """The type to read values pyarrow typed ``own`` as, that casts to ``wanted``: their
    own where ``wanted`` is a string and they are numbers or booleans; None where they
    are objects or lists and so need Python."""
    import pyarrow as pa
    import pyarrow.types as t

    if t.is_string(wanted):
        if t.is_integer(own) or t.is_floating(own) or t.is_boolean(own):
            return own
        return None if t.is_struct(own) or t.is_list(own) else wanted
    if t.is_struct(wanted):
        owns = (
            {own.field(i).name: own.field(i).type for i in range(own.num_fields)}
            if t.is_struct(own)
            else {}
        )
        fields = []
        for field in (wanted.field(i) for i in range(wanted.num_fields)):
            type_ = _readable(field.type, owns.get(field.name, pa.null()))
            if type_ is None:
                return None
            fields.append(field.with_type(type_))
        return pa.struct(fields)
    if t.is_list(wanted) and t.is_list(own):
        item = _readable(wanted.value_type, own.value_type)
        return None if item is None else pa.list_(item)
    return wanted


def _json_schema(block: bytes) -> pa.Schema:
    """The widened types of a block of JSON lines that pyarrow refuses to type: one with a
    field of two kinds (a number here, text there). Its halves are typed by pyarrow where
    it can, down to pieces of ``JSON_PIECE_BYTES`` typed in Python."""
    import pyarrow as pa

    cut = block.find(b"\n", len(block) // 2) + 1
    if len(block) <= JSON_PIECE_BYTES or cut in (0, len(block)):
        return _python_json_schema(block)
    halves = []
    for half in (block[:cut], block[cut:]):
        try:
            halves.append(_read_json(half, None).schema)
        except ValueError:
            halves.append(_json_schema(half))
    return pa.schema(_union(list(halves[0]), list(halves[1])))


def _python_json_schema(block: bytes) -> pa.Schema:

    import pyarrow as pa

    row = pa.struct([])
    for line in block.split(b"\n"):
        if line.strip():
            value = json.loads(line)  # a line that is not JSON fails here, as it should
            if not isinstance(value, dict):
                raise ValueError(f"a line holds {type(value).__name__}, not a JSON object")
            row = _wider(row, _json_type(value))
    return pa.schema(list(row))


def _json_type(value: object) -> pa.DataType:
    """The type pyarrow gives a value parsed from JSON (text stays text, not timestamps)."""
    import pyarrow as pa

    if value is None:
        return pa.null()
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64() if -(2**63) <= value < 2**63 else pa.float64()
    if isinstance(value, float):
        return pa.float64()
    if isinstance(value, dict):
        return pa.struct([(str(key), _json_type(item)) for key, item in value.items()])
    if isinstance(value, list):
        item_type: pa.DataType = pa.null()
        for item in value:
            item_type = _wider(item_type, _json_type(item))
        return pa.list_(item_type)
    return pa.string()


def _read_json(block: bytes, schema: pa.Schema | None) -> pa.Table:
    import pyarrow as pa
    import pyarrow.json as pjson

    parse = pjson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
    return pjson.read_json(
        pa.BufferReader(block),
        read_options=pjson.ReadOptions(block_size=len(block) + 1),
        parse_options=parse if schema is not None else None,
    )


def _read_twice(
    source: pa.NativeFile,
    line_ends: tuple[bytes, ...],
    infer: Callable[[bytes, bool], tuple[pa.Schema, pa.Table | None]],
    decode: Callable[[bytes, bool, pa.Schema], pa.Table],
    widen: Callable[[pa.Schema, pa.Schema], pa.Schema],
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema of a text table, widened over all its blocks, and its batches.

    ``infer(block, first)`` types a block on its own, and gives it decoded with those
    types where it could; ``decode(block, first, schema)`` decodes it with the file's.
    ``first`` says it is the block that starts the file.
    """
    blocks = _blocks(source, line_ends)
    head = next(blocks, None)
    if head is None:
        raise ValueError("the file is empty")
    schema, first = infer(head, True)  # before the others: a CSV's names come from it
    # The leading blocks are kept as the first pass decoded them, up to
    # TEXT_HELD_BYTES: where their types are the file's they are not decoded again (a
    # file that small is decoded once).
    held: list[tuple[int, pa.Table]] = []  # (bytes of text, the block decoded)
    held_bytes = 0 if first is None else first.nbytes
    if first is not None:
        held.append((len(head), first))
    holding = bool(held)
    with ThreadPoolExecutor(TEXT_DECODERS) as pool:
        for size, (types, table) in _in_order(pool, _sized(infer), blocks):
            schema = widen(schema, types)
            held_bytes += 0 if table is None else table.nbytes
            holding = holding and held_bytes <= TEXT_HELD_BYTES
            if holding and table is not None:
                held.append((size, table))
            holding = holding and table is not None  # only a run from the file's start
    reused = list(itertools.takewhile(lambda kept: kept[1].schema.equals(schema), held))
    del first, held

    def batches() -> Iterator[pa.RecordBatch]:
        source.seek(sum(size for size, _ in reused))
        numbered = _numbered(_blocks(source, line_ends), starts_file=not reused)
        while reused:
            yield from reused.pop(0)[1].to_batches()
        pool = ThreadPoolExecutor(TEXT_DECODERS)
        try:
            for table in _in_order(pool, lambda item: decode(*item, schema), numbered):
                yield from table.to_batches()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    return schema, batches()


def _blocks(source: pa.NativeFile, line_ends: tuple[bytes, ...]) -> Iterator[bytes]:
    """The file's bytes in blocks of at most ``TEXT_BLOCK_BYTES``, each cut after its last
    line end (the last at the end of the file), so that each one parses alone.

    A line end inside a quoted CSV value can cut a block in two, as it does pyarrow's
    own reader (``newlines_in_values`` off).
    """
    rest = b""
    while chunk := source.read(TEXT_BLOCK_BYTES - len(rest)):
        data = rest + chunk
        cut = max(data.rfind(end) for end in line_ends) + 1
        if cut == 0:
            if len(data) >= TEXT_BLOCK_BYTES:
                raise ValueError(f"a line is longer than {TEXT_BLOCK_BYTES >> 20} MiB")
            rest = data
            continue
        rest = data[cut:]
        yield data[:cut]
    if rest:
        yield rest


def _numbered(blocks: Iterator[bytes], starts_file: bool) -> Iterator[tuple[bytes, bool]]:
    """Each block with whether it is the file's first (which holds a CSV's header)."""
    for i, block in enumerate(blocks):
        yield block, starts_file and i == 0


def _sized(
    infer: Callable[[bytes, bool], tuple[pa.Schema, pa.Table | None]],
) -> Callable[[bytes], tuple[int, tuple[pa.Schema, pa.Table | None]]]:
    """``infer`` for a block after the first, its result given with the block's size."""
    return lambda block: (len(block), infer(block, False))


def _in_order(
    pool: ThreadPoolExecutor, work: Callable[[_T], _R], items: Iterable[_T]
) -> Iterator[_R]:
    """``work(item)`` for each item in order, the next ones running on ``pool`` meanwhile
    (pyarrow's readers release the GIL); items are taken on the caller's thread."""
    pending: deque[Future[_R]] = deque()
    for item in items:
        pending.append(pool.submit(work, item))
        if len(pending) > TEXT_DECODERS:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _wider_columns(a: pa.Schema, b: pa.Schema) -> pa.Schema:
    """CSV columns, by position, each widened; columns of one name get one type, as
    pyarrow's ``column_types`` are given by name."""
    import pyarrow as pa

    fields = [f.with_type(_wider(f.type, g.type)) for f, g in zip(a, b, strict=True)]
    by_name: dict[str, pa.DataType] = {}
    for field in fields:
        by_name[field.name] = _wider(by_name.get(field.name, pa.null()), field.type)
    return pa.schema([field.with_type(by_name[field.name]) for field in fields])


def _wider_fields(a: pa.Schema, b: pa.Schema) -> pa.Schema:
    import pyarrow as pa

    return pa.schema(_union(list(a), list(b)))


def _union(a: list[pa.Field], b: list[pa.Field]) -> list[pa.Field]:
    """The fields of both, by name in the order first seen, each widened."""
    fields = {field.name: field for field in a}
    for field in b:
        known = fields.get(field.name)
        fields[field.name] = (
            field if known is None else known.with_type(_wider(known.type, field.type))
        )
    return list(fields.values())


_UNITS = ("s", "ms", "us", "ns")


def _wider(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type that holds the values of both (the rules of the module's docstring)."""
    import pyarrow as pa
    import pyarrow.types as t

    if a.equals(b) or t.is_null(b):
        return a
    if t.is_null(a):
        return b
    if {a, b} == {pa.int64(), pa.float64()}:
        return pa.float64()
    if t.is_timestamp(a) and t.is_timestamp(b) and a.tz == b.tz:
        return a if _UNITS.index(a.unit) > _UNITS.index(b.unit) else b
    for date, stamp in ((a, b), (b, a)):
        if t.is_date32(date) and t.is_timestamp(stamp) and stamp.tz is None:
            return stamp
    if t.is_struct(a) and t.is_struct(b):
        return pa.struct(_union(list(a), list(b)))
    if t.is_list(a) and t.is_list(b):
        return pa.list_(_wider(a.value_type, b.value_type))
    if t.is_binary(a) or t.is_binary(b):
        return pa.binary()
    return pa.string()


def _as_json_text(block: bytes, schema: pa.Schema) -> bytes:
    """The block's JSON lines, with each value that lands in a string column of ``schema``
    but is not a JSON string replaced by its JSON text."""

    import pyarrow as pa

    fit = _text_maker(pa.struct(list(schema))) or (lambda value: value)
    lines = (fit(json.loads(line)) for line in block.split(b"\n") if line.strip())
    return "\n".join(map(json.dumps, lines)).encode()


def _text_maker(type_: pa.DataType) -> Callable[[Any], Any] | None:
    """A function that makes what ``type_`` holds as a string text in a parsed JSON value
    (in place), or None where ``type_`` holds no string; made once a block, as asking
    pyarrow's types costs more than the value."""
    import pyarrow.types as t

    if t.is_string(type_):
        return _json_text
    if t.is_struct(type_):
        makers = [
            (field.name, maker)
            for field in (type_.field(i) for i in range(type_.num_fields))
            if (maker := _text_maker(field.type)) is not None
        ]
        if not makers:
            return None

        def fit_object(value: Any) -> Any:
            if isinstance(value, dict):
                for name, maker in makers:
                    if name in value:
                        value[name] = maker(value[name])
            return value

        return fit_object
    if t.is_list(type_):
        item_maker = _text_maker(type_.value_type)
        if item_maker is None:
            return None
        return lambda value: [item_maker(v) for v in value] if isinstance(value, list) else value
    return None


def _json_text(value: Any) -> Any:
    """A JSON value as text: a number or boolean as pyarrow casts it, as the blocks read
    by pyarrow have theirs; an object or list as compact JSON."""

    import pyarrow as pa

    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return pa.array([value]).cast(pa.string())[0].as_py()
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
