"""The experiments table: every recorded run of a history, one row each, to filter, sort
and page (``mlv runs`` and the runs page of ``mlv ui``)."""

from __future__ import annotations

import csv
import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Protocol

from mlv.errors import InvalidArgumentError, MlvError
from mlv.model.runs import CLOSE, DIFFERENT, EQUIVALENT, IDENTICAL, MISSING, Reproduction
from mlv.repo.protocols import ObjectReader, RefReader, RevisionResolver

META = "meta"
PARAM = "param"
METRIC = "metric"
PARAMS_PREFIX = "params."
METRICS_PREFIX = "metrics."

# The columns every run has, in the order they are shown.
META_COLUMNS = ("run", "when", "who", "stage", "commit", "branch", "duration", "status")
ID_COLUMNS = frozenset({"run", "commit"})  # "=" and "!=" take an id prefix here

# A run recorded in the working tree and not committed yet: no commit, and this branch.
UNCOMMITTED = ""
UNCOMMITTED_BRANCH = "(not committed)"

# A run's status: how its latest verified reproduction compared its outputs.
FAILED = "failed"  # the reproduction stopped before this run's outputs were compared
NOT_YET = "not yet"  # never reproduced
# Worst first: a run is as reproduced as its least reproduced output.
_OUTCOMES = (DIFFERENT, CLOSE, EQUIVALENT, IDENTICAL)

OPERATORS = ("!=", "<=", ">=", "=", "<", ">", "~")
_FILTER = re.compile(r"\s*(?P<column>[^\s=!<>~]+)\s*(?P<op>==|!=|<=|>=|=|<|>|~)\s*(?P<value>.*)")
_SHOWN_CHOICES = 8  # known columns named in an error about an unknown one
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ReproductionIndex(Protocol):
    """Finds the verified reproductions of a commit, the runs recorded in the working
    tree and not committed yet, and keeps the table's rows between processes
    (``repo.records``)."""

    def reproductions_of(self, commit_id: str) -> list[str]: ...

    def pending(self) -> list[tuple[str, dict[str, str]]]: ...

    def run_rows(self, run_ids: Sequence[str], version: int) -> dict[str, str]: ...

    def add_run_rows(self, rows: Iterable[tuple[str, str]], version: int) -> bool: ...


# How a run's row is made from the run (``_run_values``): rows kept in index.db by
# another way of making them are made again. Raise it whenever ``_run_values`` changes.
ROW_VERSION = 1


# -- the query ---------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """``COLUMN OP VALUE``: compared as numbers when both sides are numbers, else as text;
    a number is never above or below text (``metrics.loss < 1`` skips a ``"nan"``).

    A run without a value in ``column`` matches no filter on it. ``~`` is "contains",
    ignoring case; on ``run`` and ``commit``, ``=`` and ``!=`` compare an id prefix; on
    ``when``, the value may be a time (``when >= 2026-11-01``, read by ``parse_when``).
    """

    column: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.column} {self.op} {self.value}"

    def matches(self, found: Any) -> bool:
        if found is None:
            return False
        if self.op == "~":
            return self.value.lower() in cell_text(found).lower()
        if self.column in ID_COLUMNS and self.op in ("=", "!="):
            prefix = bool(self.value) and str(found).startswith(self.value.lower())
            return prefix == (self.op == "=")
        wanted = _as_number(self.value)
        left: Any
        right: Any
        if wanted is not None and _is_number(found):
            left, right = found, wanted
        elif wanted is not None and self.op not in ("=", "!="):
            return False  # text (or NaN written as text) is neither above nor below a number
        else:
            left, right = cell_text(found), self.value
        if self.op == "=":
            return bool(left == right)
        if self.op == "!=":
            return bool(left != right)
        if self.op == "<":
            return bool(left < right)
        if self.op == "<=":
            return bool(left <= right)
        if self.op == ">":
            return bool(left > right)
        return bool(left >= right)


def parse_filter(text: str) -> Filter:
    """A filter written as ``metrics.acc > 0.9``, ``stage = train``, ``who ~ ada``.

    Operators: ``= != < <= > >=`` and ``~`` (contains); ``==`` is ``=``. The value may be
    quoted (``'not yet'``).

    Raises:
        InvalidArgumentError: the text is not COLUMN OP VALUE.
    """
    match = _FILTER.fullmatch(text)
    if match is None:
        raise InvalidArgumentError(
            f"cannot read the filter {text!r}: write COLUMN OP VALUE, e.g. 'metrics.acc > 0.9', "
            f"with OP one of {' '.join(OPERATORS)}"
        )
    value = match["value"].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    elif not value:
        raise InvalidArgumentError(
            f"the filter {text!r} has no value after {match['op']}: e.g. 'metrics.acc > 0.9'"
        )
    op = "=" if match["op"] == "==" else match["op"]
    return Filter(match["column"], op, value)


def parse_when_option(value: datetime | str | None, *, day_end: bool) -> datetime | None:
    """``since``/``until`` given as a time or as text (``parse_when``)."""
    if value is None or isinstance(value, datetime):
        return value
    from mlv.core.timeparse import parse_when

    return parse_when(value, day_end=day_end)


@dataclass(frozen=True)
class RunQuery:
    """Which runs, which columns, in which order, which page.

    ``rev``: whose history (without ``all_refs``, which takes every branch and tag).
    ``since``/``until``: when the run started, a time or text such as ``3 days ago``
    (a day named as ``until`` means its end). ``where``: filters, as text or
    ``Filter``. ``sort``: column names, each ``-NAME`` for descending; missing values
    last either way; the default is newest first. ``columns``: names, or prefixes
    such as ``params.``; the default is every column some matching run has a value
    in. ``only_changed`` drops the columns whose value is the same in every matching
    run. ``limit`` (None: all) and ``offset`` page the rows.
    """

    rev: str = "HEAD"
    all_refs: bool = False
    stage: str | None = None
    since: datetime | str | None = None
    until: datetime | str | None = None
    where: Sequence[Filter | str] = ()
    sort: Sequence[str] = ()
    columns: Sequence[str] = ()
    only_changed: bool = False
    limit: int | None = None
    offset: int = 0


# -- the result ---------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of the table: ``meta`` (run, when, who, …), ``param`` or ``metric``."""

    name: str
    kind: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind}


@dataclass
class RunRow:
    """One run: its id, the commit that carries it ("" for a run recorded in the working
    tree and not committed yet), the refs whose history holds that commit, and its value
    in each column (absent when it has none).

    ``when`` is seconds since the epoch (UTC), ``duration`` seconds, ``who`` the user
    that recorded the run; params and metrics are as the run recorded them.
    """

    run_id: str
    commit_id: str
    refs: list[str]
    values: dict[str, Any]

    def to_json(self, columns: Sequence[Column] | None = None) -> dict[str, Any]:
        values = self.values
        if columns is not None:
            values = {c.name: values[c.name] for c in columns if c.name in values}
        return {"run": self.run_id, "commit": self.commit_id, "refs": self.refs, "values": values}


@dataclass
class RunTable:
    """The rows of one page, the columns shown, and what a column picker offers.

    ``total`` counts the matching runs before paging; ``available`` is every column
    of the history searched, whichever runs match.
    """

    columns: list[Column]
    rows: list[RunRow]
    total: int
    available: list[Column]
    offset: int = 0
    limit: int | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [c.to_json() for c in self.columns],
            "rows": [r.to_json(self.columns) for r in self.rows],
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "available": [c.to_json() for c in self.available],
            "warnings": self.warnings,
        }

    def write_csv(self, out: IO[str]) -> None:
        """The rows as CSV under a header of column names; times in ISO 8601 (UTC)."""
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([c.name for c in self.columns])
        for row in self.rows:
            writer.writerow([_csv_cell(c.name, row.values.get(c.name)) for c in self.columns])


def cell_text(value: Any) -> str:
    """A value as text: strings as they are, numbers as Python writes them, the rest as JSON."""
    if isinstance(value, str):
        return value
    if _is_number(value):
        return repr(value)
    return json.dumps(value, sort_keys=True)


def _csv_cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "when":
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = cell_text(value)
    # Text a spreadsheet would run as a formula (a name, a param value: anyone's
    # input) is written with a leading quote, as OWASP advises; numbers as they are.
    if not _is_number(value) and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return None if math.isnan(number) else number


# -- reading the history --------------------------------------------------------------


@dataclass
class _Found:
    """A run as read from its JSON, with the commit that brought it into the history."""

    run_id: str
    commit_id: str
    position: int  # in the commit's list of runs: newest first
    values: dict[str, Any]
    outs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _CommitFields:
    parents: tuple[str, ...]
    runs: tuple[str, ...]
    time: int


# Objects are named by their content, so what one read of a commit or a run gave holds
# for every later query in this process, from whichever repository: a web page asked
# for its next page, or another sort, reads no object twice. Bounded, and dropped
# whole when full (a process that browses more than this pays the reads again).
_CACHE_LIMIT = 250_000
_commit_cache: dict[str, _CommitFields] = {}
_run_cache: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {}


def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def clear_cache() -> None:
    """Forget the commits and runs read so far (for measuring cold queries)."""
    _commit_cache.clear()
    _run_cache.clear()


class _History:
    """The commits reachable from the starts and the runs they carry, each object read
    once, from its JSON (a commit and a run are read for a few fields: building typed
    objects for ten thousand runs would cost more than reading them)."""

    def __init__(
        self,
        objects: ObjectReader,
        starts: Mapping[str, str],
        kept: ReproductionIndex | None = None,
    ) -> None:
        self.objects = objects
        self.kept = kept  # where rows are kept between processes (index.db)
        self.commits: dict[str, _CommitFields] = {}
        self.refs_of: dict[str, list[str]] = {}
        self.warnings: list[str] = []
        self._metrics: dict[str, dict[str, Any]] = {}  # artifact id -> values it holds
        for name, commit_id in starts.items():
            for reached in self._walk(commit_id):
                self.refs_of.setdefault(reached, []).append(name)

    def _walk(self, start: str) -> set[str]:
        """Every commit reachable from ``start`` (each read once across all starts)."""
        seen: set[str] = set()
        stack = [start]
        while stack:
            commit_id = stack.pop()
            if commit_id in seen:
                continue
            seen.add(commit_id)
            commit = self.commits.get(commit_id)
            if commit is None:
                commit = self.commits[commit_id] = self._read_commit(commit_id)
            stack.extend(p for p in commit.parents if p not in seen)
        return seen

    def time_of(self, commit_id: str) -> float:
        # Runs not committed yet are newer than every commit.
        return self.commits[commit_id].time if commit_id else math.inf

    def _read_commit(self, commit_id: str) -> _CommitFields:
        from mlv.errors import NotFoundError, ObjectMissingError

        found = _commit_cache.get(commit_id)
        if found is not None:
            return found
        try:
            doc = json.loads(self.objects.get(commit_id))
            if doc.get("type") != "commit":
                raise MlvError(f"object {commit_id} is not a commit; run 'mlv fsck'")
            found = _CommitFields(tuple(doc["parents"]), tuple(doc["runs"]), int(doc["time"]))
        except ObjectMissingError:
            raise NotFoundError(f"no commit {commit_id} in this repository") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MlvError(f"commit {commit_id} cannot be read ({exc}); run 'mlv fsck'") from None
        _remember(_commit_cache, commit_id, found)
        return found

    def runs(self) -> list[_Found]:
        """Every run the commits carry, each at the oldest commit that carries it."""
        carried: dict[str, tuple[int, str, int]] = {}
        for commit_id, commit in self.commits.items():
            for position, run_id in enumerate(commit.runs):
                at = (commit.time, commit_id, position)
                if run_id not in carried or at < carried[run_id]:
                    carried[run_id] = at
        unread = [r for r in carried if r not in _run_cache]
        made = self._kept_rows(unread)
        if len(unread) - len(made) > 1:
            self.objects.prefetch([r for r in unread if r not in made])
        found = []
        for run_id, (_, commit_id, position) in carried.items():
            run = self._read_run(run_id, commit_id, position)
            if run is not None:
                found.append(run)
        self._keep_rows([r for r in unread if r not in made])
        return found

    def _kept_rows(self, run_ids: Sequence[str]) -> set[str]:
        """Fill the cache from the rows index.db keeps; the ids found there."""
        if self.kept is None or not run_ids:
            return set()
        found = set()
        for run_id, text in self.kept.run_rows(run_ids, ROW_VERSION).items():
            try:
                values, outs = json.loads(text)
            except (ValueError, TypeError):
                continue  # a damaged row: read the run instead
            _remember(_run_cache, run_id, (values, tuple(outs)))
            found.add(run_id)
        return found

    def _keep_rows(self, run_ids: Sequence[str]) -> None:
        """Keep the rows just made from run objects, so that the next process reads them
        in one query. A row that would not come back the same from JSON is not kept."""
        if self.kept is None:
            return
        rows = []
        for run_id in run_ids:
            cached = _run_cache.get(run_id)
            if cached is None:
                continue
            try:
                text = json.dumps([cached[0], list(cached[1])], allow_nan=False)
            except (TypeError, ValueError):
                continue
            if json.loads(text) == [cached[0], list(cached[1])]:
                rows.append((run_id, text))
        self.kept.add_run_rows(rows, ROW_VERSION)

    def uncommitted(self, pending: Sequence[str], known: set[str]) -> list[_Found]:
        """The runs recorded in the working tree since the last commit (newest first),
        but for those a commit already carries."""
        found = []
        for position, run_id in enumerate(r for r in pending if r not in known):
            run = self._read_run(run_id, UNCOMMITTED, position)
            if run is not None:
                found.append(run)
        return found

    def _read_run(self, run_id: str, commit_id: str, position: int) -> _Found | None:
        cached = _run_cache.get(run_id)
        if cached is None:
            try:
                doc = json.loads(self.objects.get(run_id))
                cached = (_run_values(doc, self._metrics_file), tuple(doc["outs"]))
            except (MlvError, ValueError, KeyError, TypeError, AttributeError) as exc:
                # A missing or damaged run is fsck's to report, not a reason to stop.
                where = f"of commit {commit_id[:12]}" if commit_id else "not committed yet"
                self.warnings.append(f"run {run_id[:12]} {where}: {exc}")
                return None
            _remember(_run_cache, run_id, cached)
        values, outs = cached
        return _Found(run_id, commit_id, position, dict(values), outs)

    def _metrics_file(self, path: str, artifact: Mapping[str, Any]) -> dict[str, Any]:
        """The values a metrics output holds, read from the store: for a run that
        recorded none (a file it could not parse then). Read once per content."""
        from mlv.lineage.values import parse_values
        from mlv.model.runs import ARTIFACT_FILE
        from mlv.runs.params import PARAMS_SUFFIXES

        object_id = artifact["id"]
        found = self._metrics.get(object_id)
        if found is None:
            found = {}
            if artifact["kind"] == ARTIFACT_FILE and path.lower().endswith(PARAMS_SUFFIXES):
                try:
                    found = parse_values(b"".join(self.objects.iter_content(object_id)), path)
                except MlvError as exc:
                    self.warnings.append(f"metrics file {path} ({object_id[:12]}): {exc}")
            self._metrics[object_id] = found
        return found


def _run_values(  # a change here needs a new ROW_VERSION
    doc: dict[str, Any], read_metrics: Callable[[str, Mapping[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """A run's meta, param and metric values, from the run's JSON; ``read_metrics`` reads
    a metrics output whose values the run did not record."""
    values: dict[str, Any] = {
        "when": int(doc["started"]),
        "who": doc["user"],
        "stage": doc["name"],
        "duration": doc["duration_ms"] / 1000,
    }
    for path, use in doc["params"].items():
        recorded = use["values"]
        # A key may name a whole section of the file: its leaves become columns.
        if any(isinstance(v, dict) and v for v in recorded.values()):
            from mlv.runs.params import flatten

            recorded = flatten(recorded)
        _put(values, PARAMS_PREFIX, path, recorded)
    for path, recorded in doc["metrics"].items():
        if not recorded:
            recorded = read_metrics(path, doc["outs"][path])
        _put(values, METRICS_PREFIX, path, recorded)
    return values


def _put(values: dict[str, Any], prefix: str, path: str, found: Mapping[str, Any]) -> None:
    """Keys under ``prefix``; a key two files of one run both hold is named by the second
    file as well (``metrics.eval.json:acc``), so that neither value is lost."""
    for key, value in found.items():
        name = prefix + key
        if name in values:
            name = f"{prefix}{path}:{key}"
        values[name] = value


def _reproduced(
    objects: ObjectReader, index: ReproductionIndex, commit_ids: Iterable[str]
) -> tuple[dict[str, Reproduction], list[str]]:
    """Run id -> the latest verified reproduction that re-executed it, of any commit
    of the history (a reproduction of a later commit re-executes older runs too)."""
    found: dict[str, Reproduction] = {}
    warnings: list[str] = []
    for commit_id in commit_ids:
        for reproduction_id in index.reproductions_of(commit_id):
            try:
                doc = objects.read_reproduction(reproduction_id)
            except MlvError as exc:
                warnings.append(f"reproduction {reproduction_id[:12]}: {exc}")
                continue
            for run_id in doc.runs:
                if run_id not in found or doc.time >= found[run_id].time:
                    found[run_id] = doc
    return found, warnings


def _status(doc: Reproduction | None, outs: Sequence[str]) -> str:
    """How a reproduction compared one run's outputs: the worst of their results."""
    if doc is None:
        return NOT_YET
    results = [doc.results[p].get("result") for p in outs if p in doc.results]
    if not results:
        return FAILED if doc.verdict == FAILED else NOT_YET
    if MISSING in results:
        return DIFFERENT
    for outcome in _OUTCOMES:
        if outcome in results:
            return outcome
    return DIFFERENT  # a result this mlv does not know is no reproduction


# -- answering a query ---------------------------------------------------------------


def runs_table(
    query: RunQuery,
    *,
    objects: ObjectReader,
    revisions: RevisionResolver,
    refs: RefReader,
    reproductions: ReproductionIndex,
) -> RunTable:
    """The runs of a history as ``query`` asks for them.

    Every object is read once: the commits, then the runs they carry (from their JSON),
    then the reproductions of those commits. Filters, sort keys and column names are
    checked against the columns the history holds.

    Raises:
        InvalidArgumentError: a filter, sort key or column names no column, or a
            paging value is negative.
        NotFoundError: ``query.rev`` names no commit.
    """
    if query.limit is not None and query.limit < 0:
        raise InvalidArgumentError(f"limit {query.limit} is negative: give 0 or more")
    if query.offset < 0:
        raise InvalidArgumentError(f"offset {query.offset} is negative: give 0 or more")
    filters = [_in_seconds(f if isinstance(f, Filter) else parse_filter(f)) for f in query.where]
    since = parse_when_option(query.since, day_end=False)
    until = parse_when_option(query.until, day_end=True)

    history = _History(objects, _starts(query, revisions, refs), reproductions)
    latest, warnings = _reproduced(objects, reproductions, history.commits)
    found = history.runs()
    if query.all_refs or query.rev == "HEAD":
        pending = [run_id for run_id, _ in reproductions.pending()]
        found += history.uncommitted(pending, {f.run_id for f in found})
    # Newest first; runs of one second by their commits, newest first, then in the
    # order their commit lists them (newest first too).
    found.sort(key=lambda r: (-r.values["when"], -history.time_of(r.commit_id), r.position))
    rows = []
    for run in found:
        names = history.refs_of.get(run.commit_id, [])
        values = run.values
        values["run"] = run.run_id
        if run.commit_id:
            values["commit"] = run.commit_id
        values["branch"] = names[0] if names else ("" if run.commit_id else UNCOMMITTED_BRANCH)
        values["status"] = _status(latest.get(run.run_id), run.outs)
        rows.append(RunRow(run.run_id, run.commit_id, names, values))

    available = _available(rows)
    known = {c.name for c in available}
    for f in filters:
        _check_known(f.column, known, f"in the filter '{f}'")
    keys = [(key[1:], True) if key.startswith("-") else (key, False) for key in query.sort]
    for name, _ in keys:
        _check_known(name, known, "to sort by")

    matching = [
        r
        for r in rows
        if (query.stage is None or r.values["stage"] == query.stage)
        and (since is None or r.values["when"] >= since.timestamp())
        and (until is None or r.values["when"] <= until.timestamp())
        and all(f.matches(r.values.get(f.column)) for f in filters)
    ]
    for name, descending in reversed(keys):
        matching = _sorted(matching, name, descending)

    if query.columns:
        columns = _chosen(query.columns, available)
    else:
        used = {name for r in matching for name in r.values}
        columns = [c for c in available if c.kind == META or c.name in used]
    if query.only_changed and len(matching) > 1:
        columns = [c for c in columns if _changes(matching, c.name)]
    end = None if query.limit is None else query.offset + query.limit
    return RunTable(
        columns=columns,
        rows=matching[query.offset : end],
        total=len(matching),
        available=available,
        offset=query.offset,
        limit=query.limit,
        warnings=warnings + history.warnings,
    )


def _in_seconds(found: Filter) -> Filter:
    """A filter on ``when`` written with a time (``when >= 2026-11-01``), in seconds: a
    day named after ``<=`` or ``>`` means its end, as ``until`` does."""
    if found.column != "when" or found.op == "~" or _as_number(found.value) is not None:
        return found
    from mlv.core.timeparse import parse_when

    moment = parse_when(found.value, day_end=found.op in ("<=", ">"))
    return Filter(found.column, found.op, str(int(moment.timestamp())))


def _starts(query: RunQuery, revisions: RevisionResolver, refs: RefReader) -> dict[str, str]:
    """Ref name -> commit, where the history starts: ``query.rev`` alone, or every branch
    (the current one first) and tag, and a detached HEAD."""
    from mlv.repo.refnames import HEADS, TAGS

    head = refs.head()
    if not query.all_refs:
        if query.rev == "HEAD":
            if head.commit is None:
                return {}  # no commit yet: no runs
            return {head.branch or "HEAD": head.commit}
        return {query.rev: revisions.resolve(query.rev)}
    branches = refs.list(HEADS, skip_damaged=True)
    starts: dict[str, str] = {}
    if head.branch in branches:
        starts[head.branch] = branches[head.branch]
    starts.update(sorted(branches.items()))
    for name, commit_id in sorted(refs.list(TAGS, skip_damaged=True).items()):
        starts.setdefault(name, commit_id)
    if head.commit is not None and head.branch is None:
        starts.setdefault("HEAD", head.commit)
    return starts


def _available(rows: Sequence[RunRow]) -> list[Column]:
    """Every column: the meta columns, then params and metrics by name."""
    names: set[str] = set()
    for row in rows:
        names.update(row.values)
    columns = [Column(name, META) for name in META_COLUMNS]
    columns += [Column(n, PARAM) for n in sorted(n for n in names if n.startswith(PARAMS_PREFIX))]
    columns += [Column(n, METRIC) for n in sorted(n for n in names if n.startswith(METRICS_PREFIX))]
    return columns


def _check_known(name: str, known: set[str], what: str) -> None:
    if name in known:
        return
    close = difflib.get_close_matches(name, sorted(known), n=3)
    hint = (
        f"did you mean {_either(close)}?"
        if close
        else "known columns: "
        + ", ".join(sorted(known)[:_SHOWN_CHOICES])
        + (", …" if len(known) > _SHOWN_CHOICES else "")
    )
    raise InvalidArgumentError(f"no column {name!r} {what}: {hint}")


def _either(names: Sequence[str]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _chosen(names: Sequence[str], available: Sequence[Column]) -> list[Column]:
    """The columns named, in the order named; a prefix (``params.``, ``params.train``)
    stands for every column under it."""
    chosen: dict[str, Column] = {}
    for name in names:
        exact = [c for c in available if c.name == name]
        prefix = name if name.endswith(".") else name + "."
        found = exact or [c for c in available if c.name.startswith(prefix)]
        if not found:
            _check_known(name, {c.name for c in available}, "to show")
        chosen.update((c.name, c) for c in found)
    return list(chosen.values())


def _sorted(rows: list[RunRow], name: str, descending: bool) -> list[RunRow]:
    """``rows`` sorted by one column, stably; rows without a value last either way.

    Numbers sort before text, numbers by value and text as text, so that a column
    holding both still has an order.
    """

    def key(row: RunRow) -> tuple[int, float, str]:
        value = row.values[name]
        if _is_number(value) and not (isinstance(value, float) and math.isnan(value)):
            return (0, value, "")
        return (1, 0.0, cell_text(value))

    present = [r for r in rows if r.values.get(name) is not None]
    missing = [r for r in rows if r.values.get(name) is None]
    return sorted(present, key=key, reverse=descending) + missing


def _changes(rows: Sequence[RunRow], name: str) -> bool:
    """Whether the column holds more than one value (absent counts as a value)."""
    first = rows[0].values.get(name)
    return any(not _same(first, r.values.get(name)) for r in rows)


def _same(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b
