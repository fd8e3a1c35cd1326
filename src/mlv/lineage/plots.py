"""The plots a run wrote: the outputs its stage declares under ``plots:``, read as series.

A plot file is JSON, CSV or TSV, as DVC reads them: CSV and TSV with a header row;
JSON as a list of objects (``[{"step": 1, "loss": 0.4}, ...]``), an object holding one
such list (``{"train": [...]}``), or an object of equal-length lists. The x axis is
the column named ``step``, ``epoch``, ``x`` or ``iteration`` when there is one, else
the first column when it is numeric, else the row number; every other numeric column
is a series. Files are read from the store by the id the run recorded, so a plot is
the one that run wrote whatever the working tree holds now.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlv.errors import MlvError
from mlv.model.objects import Commit
from mlv.model.runs import Run
from mlv.pipeline.spec import parse_pipeline
from mlv.repo.protocols import ObjectReader

# A plot larger than this is not drawn: a page shows a curve, not a data set.
MAX_PLOT_BYTES = 16 << 20
# Points per series a page gets; longer series are thinned evenly (ends kept).
MAX_POINTS = 2000
X_NAMES = ("step", "epoch", "x", "iteration", "iter")
PLOT_SUFFIXES = (".json", ".csv", ".tsv")


@dataclass
class Series:
    name: str
    x: list[float]
    y: list[float | None]


@dataclass
class PlotFile:
    """One plot file of one run: its x axis and series, or why it cannot be drawn."""

    path: str
    x_name: str
    series: list[Series] = field(default_factory=list)
    problem: str = ""


def declared_plots(objects: ObjectReader, commit: Commit | None, run: Run, root: Path) -> list[str]:
    """The outputs of ``run`` its stage declares under ``plots:``, in the pipeline file
    of ``commit``, or of the working tree at ``root`` for a run not committed yet
    (``root`` is also where the file's vars and params are read from).

    A run outside a pipeline, or whose pipeline file is gone, declares none.
    """
    if not run.pipeline:
        return []
    try:
        if commit is None:
            text = (root / run.pipeline).read_text(encoding="utf-8")
        else:
            entry = objects.entry_at(commit.tree, run.pipeline)
            if entry is None or entry.kind != "file":
                return []
            text = b"".join(objects.iter_content(entry.id)).decode("utf-8")
        pipeline = parse_pipeline(text, run.pipeline, root)
    except (MlvError, OSError, UnicodeDecodeError):
        return []
    stage = pipeline.stages.get(run.name)
    if stage is None:
        return []
    return [out.path for out in stage.outs if out.plot and out.path in run.outs]


def read_plot(objects: ObjectReader, run: Run, path: str) -> PlotFile:
    """The series of the plot file ``path`` as ``run`` wrote it."""
    artifact = run.outs.get(path)
    if artifact is None or artifact.kind != "file":
        return PlotFile(path, "", problem="not a file this run wrote")
    if not path.lower().endswith(PLOT_SUFFIXES):
        return PlotFile(path, "", problem="only JSON, CSV and TSV plots are drawn")
    if artifact.size > MAX_PLOT_BYTES:
        return PlotFile(path, "", problem=f"{artifact.size} bytes is too large to draw")
    try:
        data = b"".join(objects.iter_content(artifact.id))
    except MlvError as error:
        return PlotFile(path, "", problem=str(error))
    return parse_plot(path, data)


def parse_plot(path: str, data: bytes) -> PlotFile:
    """A plot file's content as series (see the module's docstring)."""
    try:
        text = data.decode("utf-8-sig")
        columns = _json_columns(text) if path.lower().endswith(".json") else _delimited(path, text)
    except (UnicodeDecodeError, ValueError) as error:
        return PlotFile(path, "", problem=f"cannot read it: {error}")
    if not columns:
        return PlotFile(path, "", problem="no rows")
    return _series(path, columns)


def _json_columns(text: str) -> dict[str, list[Any]]:
    doc = json.loads(text)
    if isinstance(doc, dict):
        lists = [v for v in doc.values() if isinstance(v, list)]
        if len(lists) == 1 and all(isinstance(r, dict) for r in lists[0]):
            doc = lists[0]
        elif lists and all(isinstance(v, list) for v in doc.values()):
            return {str(k): list(v) for k, v in doc.items()}
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise ValueError("expected a list of objects, one per point")
    names: dict[str, None] = {}
    for row in doc:
        names.update(dict.fromkeys(str(k) for k in row))
    return {name: [row.get(name) for row in doc] for name in names}


def _delimited(path: str, text: str) -> dict[str, list[Any]]:
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    return {
        name: [row[i] if i < len(row) else None for row in body] for i, name in enumerate(header)
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _numeric(values: Sequence[Any]) -> bool:
    present = [v for v in values if v not in (None, "")]
    return bool(present) and all(_number(v) is not None for v in present)


def _series(path: str, columns: dict[str, list[Any]]) -> PlotFile:
    names = list(columns)
    x_name = next((n for n in names if n.lower() in X_NAMES and _numeric(columns[n])), "")
    if not x_name and len(names) > 1 and _numeric(columns[names[0]]):
        x_name = names[0]
    length = max(len(v) for v in columns.values())
    xs = [_number(v) for v in columns[x_name]] if x_name else [float(i) for i in range(length)]
    keep = _thinned(length)
    found = PlotFile(path, x_name or "row")
    for name in names:
        if name == x_name or not _numeric(columns[name]):
            continue
        ys = [_number(v) for v in columns[name]]
        points = [(xs[i], ys[i]) for i in keep if xs[i] is not None]
        found.series.append(
            Series(name, [float(x) for x, _ in points if x is not None], [y for _, y in points])
        )
    if not found.series:
        found.problem = "no numeric column to draw"
    return found


def _thinned(length: int) -> list[int]:
    if length <= MAX_POINTS:
        return list(range(length))
    step = (length - 1) / (MAX_POINTS - 1)
    return sorted({round(i * step) for i in range(MAX_POINTS)})
