"""``mlv ci``'s report as GitHub-flavoured Markdown: short enough for a pull-request comment."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from mlv.ci.report import (
    DIFFERENT,
    FAILED,
    NOT_REQUESTED,
    NOTHING_TO_REPRODUCE,
)
from mlv.model.runs import ACCEPTED
from mlv.repo.diff import ADDED, REMOVED
from mlv.tables.pyvalues import MINUS
from mlv.version import __version__

if TYPE_CHECKING:
    from mlv.ci.report import CiReport
    from mlv.lineage.values import ValueChange
    from mlv.repo.diff import Change

PASS = "✅"
FAIL = "❌"
# Longer lists end in "… and N more": a comment must stay readable.
MAX_ROWS = 20
MAX_VIOLATIONS = 10
MAX_VALUE_CHARS = 40


def render(report: CiReport) -> str:
    """The whole report: a title line, one section per check, the commits compared."""
    parts = [
        _title(report),
        _reproduction(report),
        _contracts(report),
        _metrics(report),
        _params(report),
        _data(report),
        _footer(report),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def _title(report: CiReport) -> str:
    if report.ok:
        return f"## {PASS} mlv ci: `{report.head[:12]}` passed"
    return f"## {FAIL} mlv ci: `{report.head[:12]}` failed: {'; '.join(report.problems())}"


def _reproduction(report: CiReport) -> str:
    lines = ["### Reproduction"]
    status = report.reproduction_status
    if status == NOT_REQUESTED:
        lines.append("Not run (run `mlv ci --reproduce` to re-execute the runs).")
        return "\n".join(lines)
    if status == NOTHING_TO_REPRODUCE:
        lines.append("Nothing to reproduce: the head holds no output of a recorded run.")
        return "\n".join(lines)
    if status == FAILED:
        lines.append(f"{FAIL} A command failed: {_cell(report.reproduction_error)}")
        return "\n".join(lines)
    result = report.reproduction
    assert result is not None
    verdict = f"{PASS} reproduced" if status != DIFFERENT else f"{FAIL} different"
    lines.append(
        f"{verdict}: {len(result.outputs)} {_plural(len(result.outputs), 'output')} "
        f"of {len(result.runs)} {_plural(len(result.runs), 'run')}."
    )
    rows = [
        [
            _code(o.path),
            _cell(o.run),
            f"{PASS if o.result in ACCEPTED else FAIL} {o.result}",
            _cell(o.detail),
        ]
        for o in result.outputs
    ]
    lines += ["", *_table(["Output", "Run", "Result", "Detail"], rows)]
    if result.drift:
        drift = ", ".join(
            f"{name} {before} → {after}" for name, (before, after) in sorted(result.drift.items())
        )
        lines += ["", f"Environment drift (recorded → now): {_cell(drift)}"]
    lines += [f"- {_cell(note)}" for note in result.notes]
    return "\n".join(lines)


def _contracts(report: CiReport) -> str:
    checked = report.contracts
    if checked is None:
        return ""
    lines = ["### Data contracts"]
    failing = checked.failing()
    if not failing:
        count = len(checked.tables_checked)
        lines.append(
            f"{PASS} {count} {_plural(count, 'table')} "
            f"{'meets its contract' if count == 1 else 'meet their contracts'}."
        )
        return "\n".join(lines)
    lines.append(
        f"{FAIL} {len(failing)} of {len(checked.tables_checked)} "
        f"{_plural(len(checked.tables_checked), 'table')} "
        f"{'breaks its contract' if len(failing) == 1 else 'break their contracts'}:"
    )
    shown = checked.violations[:MAX_VIOLATIONS]
    lines += [f"- {_code(v.table)}: {_cell(v.message)}" for v in shown]
    lines += _more(len(checked.violations) - len(shown), "violation")
    return "\n".join(lines)


def _metrics(report: CiReport) -> str:
    if not report.metrics:
        return ""
    rows = [
        [_code(c.file), _code(c.key), _value(c.old), _value(c.new), _delta(c)]
        for c in report.metrics[:MAX_ROWS]
    ]
    lines = ["### Metrics", *_table(["File", "Key", "Base", "Head", "Change"], rows)]
    lines += _more(len(report.metrics) - len(rows), "metric")
    return "\n".join(lines)


def _params(report: CiReport) -> str:
    lines = ["### Parameters"]
    if not report.params:
        lines.append("No changes.")
        return "\n".join(lines)
    rows = [
        [_code(c.file), _code(c.key), _value(c.old), _value(c.new)]
        for c in report.params[:MAX_ROWS]
    ]
    lines += _table(["File", "Key", "Base", "Head"], rows)
    lines += _more(len(report.params) - len(rows), "parameter")
    return "\n".join(lines)


def _data(report: CiReport) -> str:
    lines = ["### Data changed"]
    changes = report.changes
    if not changes:
        lines.append("No changes.")
        return "\n".join(lines)
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.status] = counts.get(change.status, 0) + 1
    total = sum(c.size_delta for c in changes)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    lines.append(
        f"{len(changes)} {_plural(len(changes), 'file')}: {summary} ({_signed_size(total)})."
    )
    rows = [[_code(c.path), c.status, _sizes(c)] for c in changes[:MAX_ROWS]]
    lines += ["", *_table(["Path", "Change", "Size"], rows)]
    lines += _more(len(changes) - len(rows), "file")
    tables = []
    for found in report.tables:
        text = found.diff.summary() if found.diff is not None else f"{found.path}: {found.note}"
        tables.append(f"- {_cell(text)}")
    if tables:
        lines += ["", "Tables:", *tables]
    return "\n".join(lines)


def _footer(report: CiReport) -> str:
    head = f"`{report.head[:12]}`"
    title = report.head_message.strip().splitlines()[0] if report.head_message.strip() else ""
    if title:
        head += f" ({_cell(title[:72])})"
    if report.base is None:
        compared = f"Head {head}; no base: {report.base_reason}, everything counts as new."
    else:
        compared = f"Compared `{report.base[:12]}` ({report.base_reason}) → {head}."
    lines = [f"<sub>{compared} mlv {__version__}.</sub>"]
    lines += [f"<sub>warning: {_cell(w)}</sub>" for w in report.warnings[:MAX_VIOLATIONS]]
    return "\n".join(lines)


# -- cells ------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _cell(text: str) -> str:
    """Text that keeps a table row and a list item on one line."""
    flat = " ".join(str(text).split())
    return flat.replace("|", "\\|").replace("<", "&lt;")


def _code(text: str) -> str:
    # A backtick inside would end the code span early: show such a name as text.
    return _cell(text) if "`" in text else f"`{_cell(text)}`"


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return _cell(text)


def _delta(change: ValueChange) -> str:
    if change.old is None:
        return "new" if change.new is not None else ""
    if change.new is None:
        return "removed"
    delta = change.change
    if delta is None:
        return "changed" if change.old != change.new else ""
    if delta == 0:
        return "—"
    text = f"{delta:+.4g}"
    relative = change.relative
    if relative is not None:
        text += f" ({relative:+.1%})"
    return text


def _sizes(change: Change) -> str:
    if change.status == ADDED and change.new is not None:
        return _size(change.new.size)
    if change.status == REMOVED and change.old is not None:
        return _size(change.old.size)
    old = change.old.size if change.old else 0
    new = change.new.size if change.new else 0
    return _size(new) if old == new else f"{_size(old)} → {_size(new)}"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _signed_size(n: int) -> str:
    return ("+" if n >= 0 else MINUS) + _size(abs(n))


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


def _more(count: int, word: str) -> list[str]:
    return [f"… and {count} more {_plural(count, word)}"] if count > 0 else []
