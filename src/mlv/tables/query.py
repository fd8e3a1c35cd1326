"""``mlv query``: SQL over the tables of any revision, run by DuckDB.

A query names a table at a revision in either of two ways:

- ``FROM 'data/train.parquet@v1'``: a string literal after FROM or JOIN, the path
  then ``@`` then the revision;
- ``FROM mlv('data/train.parquet', 'HEAD~3')``: anywhere a table may stand (the
  revision defaults to HEAD).

Each one becomes a view over ``mlv://COMMIT/PATH`` (``mlv.filesystem``), read
by DuckDB's own readers through ranged reads: a one-column aggregate over a
Parquet table reads its footer and that column's chunks, not the file. Plain
paths (``FROM 'data/train.parquet'``) are DuckDB's, read from the working tree.

The CLI and ``Repo.query`` both run ``open_query``; DuckDB is imported here only.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlv.errors import InvalidArgumentError, MlvError
from mlv.filesystem.spec import PROTOCOL, Readable, VersionedFileSystem
from mlv.repo.browsing import regular_file_entry
from mlv.repo.contentfile import ReadStats
from mlv.repo.layout import QUERY_SCRATCH_PREFIX
from mlv.tables.formats import ARROW, CSV, FORMAT_OF_SUFFIX, JSONL, PARQUET, table_format

if TYPE_CHECKING:
    import pyarrow as pa

    from mlv.repo.base import WorkTree

BATCH_ROWS = 64 * 1024
_TABLE_AT = re.compile(
    r"^(?P<path>.+?(?:" + "|".join(re.escape(s) for s in FORMAT_OF_SUFFIX) + r"))@(?P<rev>.+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TableRef:
    """A table the query names: the view DuckDB sees, and what it reads."""

    view: str
    path: str
    rev: str
    commit: str
    table_format: str


@dataclass
class QueryRun:
    """A running query: its result as record batches, and what it read.

    Close it (or use it as a context manager) to end the DuckDB session.
    """

    tables: list[TableRef]
    stats: ReadStats
    columns: list[str] = field(default_factory=list)
    _batches: Any = None
    _connection: Any = None
    _scratch: Path | None = None

    def batches(self) -> Iterator[pa.RecordBatch]:
        if self._batches is None:
            return
        try:
            yield from self._batches
        except Exception as exc:
            raise _engine_error(exc, self.stats) from None

    def schema(self) -> pa.Schema:
        import pyarrow as pa

        if self._batches is None:
            return pa.schema([])
        return self._batches.schema  # type: ignore[no-any-return]

    def read_all(self) -> pa.Table:
        import pyarrow as pa

        return pa.Table.from_batches(list(self.batches()), schema=self.schema())

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> QueryRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_query(
    sql: str,
    *,
    repository: Readable,
    worktree: WorkTree,
    scratch: Path,
    memory_limit: str | None = None,
) -> QueryRun:
    """Run ``sql`` and return its result, to be read as batches.

    ``scratch`` is where DuckDB may spill (a folder made and removed here). Errors are
    one line: bad SQL, an unknown path or revision, and a path that is not a table are
    ``InvalidArgumentError`` or ``NotFoundError``.
    """
    import duckdb

    if not sql.strip():
        raise InvalidArgumentError("the query is empty: give a SQL statement")
    rewritten, wanted = _references(sql)
    _refuse_clashes([view for view, _, _ in wanted])
    tables = [_resolve(view, text, rev, repository, worktree) for view, text, rev in wanted]
    fs = VersionedFileSystem(repository=repository, skip_instance_cache=True)
    scratch.mkdir(parents=True, exist_ok=True)
    spill = Path(tempfile.mkdtemp(prefix=QUERY_SCRATCH_PREFIX, dir=scratch))
    connection = duckdb.connect(config=_config(spill, memory_limit))
    run = QueryRun(tables, fs.stats, _connection=connection, _scratch=spill)
    try:
        connection.register_filesystem(fs)
        for table in tables:
            _create_view(connection, fs, table)
        relation = connection.sql(rewritten)
        if relation is not None:
            run.columns = list(relation.columns)
            # DuckDB 1.x names it fetch_record_batch; 2.x, to_arrow_reader.
            reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch
            run._batches = reader(BATCH_ROWS)
    except Exception as exc:
        run.close()
        if isinstance(exc, MlvError):
            raise
        raise _engine_error(exc, fs.stats) from None
    return run


def _config(spill: Path, memory_limit: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {"temp_directory": str(spill)}
    if memory_limit:
        config["memory_limit"] = memory_limit
    return config


# -- finding the tables a query names ----------------------------------------------


@dataclass
class _Token:
    kind: str  # "string", "word", "punct", "other"
    text: str
    start: int
    end: int
    value: str = ""


def _tokens(sql: str) -> list[_Token]:
    """SQL's tokens, enough to tell strings, words and brackets apart: comments and
    quoted identifiers are skipped, so a quote inside them is no string."""
    found: list[_Token] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch.isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch in "'\"":
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # a doubled quote
                        j += 2
                        continue
                    break
                j += 1
            text = sql[i : j + 1]
            kind = "string" if ch == "'" else "other"
            found.append(_Token(kind, text, i, j + 1, text[1:-1].replace(ch * 2, ch)))
            i = j + 1
        elif ch.isalnum() or ch == "_":
            j = i
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            found.append(_Token("word", sql[i:j], i, j))
            i = j
        else:
            found.append(_Token("punct" if ch in "(),;" else "other", ch, i, i + 1))
            i += 1
    return found


def _references(sql: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The query with its ``mlv(...)`` calls made view names, and the tables it names:
    (view, path, revision) each."""
    tokens = _tokens(sql)
    wanted: dict[str, tuple[str, str, str]] = {}
    edits: list[tuple[int, int, str]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        call = _mlv_call(tokens, i)
        if call is not None:
            args, end = call
            path, rev = _split_call(args)
            view = f"{path}@{rev}"
            wanted.setdefault(view, (view, path, rev))
            edits.append((token.start, tokens[end].end, _quote_identifier(view)))
            i = end + 1
            continue
        if token.kind == "string" and i > 0 and tokens[i - 1].text.upper() in ("FROM", "JOIN"):
            match = _TABLE_AT.match(token.value)
            if match:
                view = token.value
                wanted.setdefault(view, (view, match["path"], match["rev"]))
        i += 1
    for start, end, text in reversed(edits):
        sql = sql[:start] + text + sql[end:]
    return sql, list(wanted.values())


def _mlv_call(tokens: list[_Token], i: int) -> tuple[list[str], int] | None:
    """The string arguments of ``mlv('…'[, '…'])`` starting at token ``i``, and the
    index of its closing bracket; None when no such call starts there."""
    if tokens[i].kind != "word" or tokens[i].text.lower() != "mlv":
        return None
    if i + 1 >= len(tokens) or tokens[i + 1].text != "(":
        return None
    if i > 0 and tokens[i - 1].text == ".":  # some_schema.mlv(…) is not ours
        return None
    args: list[str] = []
    j = i + 2
    while j < len(tokens):
        token = tokens[j]
        if token.kind != "string":
            raise InvalidArgumentError(
                "mlv(...) takes a path and a revision as string literals: "
                "mlv('data/train.parquet', 'v1')"
            )
        args.append(token.value)
        following = tokens[j + 1].text if j + 1 < len(tokens) else ""
        if following == ")":
            return args, j + 1
        if following != ",":
            break
        j += 2
    raise InvalidArgumentError(
        "mlv(...) takes a path and a revision as string literals: mlv('data/train.parquet', 'v1')"
    )


def _split_call(args: list[str]) -> tuple[str, str]:
    if len(args) == 2:
        return args[0], args[1]
    if len(args) == 1:
        match = _TABLE_AT.match(args[0])
        return (match["path"], match["rev"]) if match else (args[0], "HEAD")
    raise InvalidArgumentError(
        f"mlv(...) takes a path and a revision, got {len(args)} arguments: "
        "mlv('data/train.parquet', 'v1')"
    )


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _resolve(view: str, path: str, rev: str, repository: Readable, worktree: WorkTree) -> TableRef:
    rel = worktree.relpath(path)
    kind = table_format(rel)
    if kind is None:
        raise InvalidArgumentError(
            f"{rel} is not a table: mlv query reads Parquet, CSV/TSV, Arrow/Feather and "
            "JSON Lines files (by their suffix)"
        )
    commit = repository.revisions.resolve(rev)
    regular_file_entry(repository.objects, repository.revisions, rev, rel)
    return TableRef(view, rel, rev, commit, kind)


def _refuse_clashes(views: list[str]) -> None:
    # DuckDB's names ignore case: two references that differ only in case would be one.
    seen: dict[str, str] = {}
    for view in views:
        other = seen.setdefault(view.lower(), view)
        if other != view:
            raise InvalidArgumentError(
                f"'{other}' and '{view}' differ only in case, which SQL names ignore; "
                "name the table one way"
            )


def _create_view(connection: Any, fs: VersionedFileSystem, table: TableRef) -> None:
    # Encoded, so that DuckDB takes no '*', '?' or '[' in a name for a pattern.
    where = f"{table.commit}/{quote(table.path, safe='/')}"
    url = f"{PROTOCOL}://{where}"
    name = _quote_identifier(table.view)
    if table.table_format == ARROW:
        import pyarrow.dataset as ds

        dataset = ds.dataset(where, format="ipc", filesystem=fs)
        connection.register(table.view, dataset)
        return
    if table.table_format == PARQUET:
        source = f"read_parquet({_quote_string(url)})"
    elif table.table_format == CSV:
        tab = ", delim = '\\t'" if table.path.lower().endswith(".tsv") else ""
        source = f"read_csv({_quote_string(url)}{tab})"
    elif table.table_format == JSONL:
        source = f"read_json({_quote_string(url)}, format = 'newline_delimited')"
    else:  # pragma: no cover - FORMAT_OF_SUFFIX names only the formats above
        raise InvalidArgumentError(f"{table.path}: no reader for {table.table_format}")
    connection.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM {source}")


def _engine_error(exc: BaseException, stats: ReadStats) -> MlvError:
    """DuckDB's error as one line; ours, raised inside a read, as it was."""
    if isinstance(exc, MlvError):
        return exc
    if isinstance(stats.error, MlvError):
        return stats.error
    if stats.error is not None:  # the filesystem's: not found, read-only, a folder
        return InvalidArgumentError(f"the query failed: {stats.error}")
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return InvalidArgumentError(f"the query failed: {type(exc).__name__}")
    # A Python error DuckDB passes on comes as a traceback: its last line says what.
    said = lines[-1] if any("Traceback" in line for line in lines) else lines[0]
    return InvalidArgumentError(f"the query failed: {said.strip()}")
