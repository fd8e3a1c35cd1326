"""lineage, history, metrics, params: where content came from, its versions, its results."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import typer

from mlv.cli.commands.common import JSON_OPTION, open_repo, user_paths
from mlv.cli.output import echo, human_size, print_json, print_markup, styled, warn

if TYPE_CHECKING:
    from mlv.lineage.values import ValuesDiff


def _target(text: str) -> tuple[str, str]:
    """``PATH@REV`` as (path made absolute from here, rev); REV defaults to HEAD.

    A file whose own name holds an ``@`` is taken whole when it exists here.
    """
    from mlv.repo.revisions import split_at

    path, sep, rev = split_at(text)
    if not sep or not path or not rev or os.path.lexists(text):
        path, rev = text, "HEAD"
    return user_paths([path])[0], rev


def _paint(text: str, style: str) -> str:
    return styled(text, style or "none")


def _when(seconds: int, tz_offset: int) -> str:
    from mlv.lineage.render import when

    return when(seconds, tz_offset)


def lineage(
    target: str = typer.Argument(
        ...,
        help="PATH or PATH@REV (REV defaults to HEAD; PATH@main@{2026-11-24} is PATH "
        "as main held it at the end of that day).",
    ),
    downstream: bool = typer.Option(
        False, "--downstream", help="Show what read this content and what they wrote."
    ),
    all_history: bool = typer.Option(
        False, "--all", help="Search the history of every branch and tag, not only REV's."
    ),
    depth: int = typer.Option(None, "--depth", help="Go at most N runs deep."),
    fmt: str = typer.Option(
        "text", "--format", "-f", help="text (a tree), dot (Graphviz), mermaid or json."
    ),
    json: bool = typer.Option(False, "--json", help="Same as --format json."),
) -> None:
    """Show where a file or folder came from: the runs, data, code and parameters behind it.

    Upstream (the default) goes from the content at PATH@REV to the run that
    produced it, that run's inputs, the runs that produced those, and so on down to
    the sources that no recorded run produced. --downstream goes the other way: the
    runs that read this content and what they wrote; with --all, across every branch
    and tag ("which models were trained on this data set?").

    Example: mlv lineage models/model.pkl      mlv lineage data/raw.csv@v1 --downstream --all
    """
    from mlv.errors import InvalidArgumentError
    from mlv.lineage.render import check_format, render

    if json:
        if fmt not in ("text", "json"):
            raise InvalidArgumentError(f"--json and --format {fmt} ask for two formats: pick one")
        fmt = "json"
    check_format(fmt)
    path, rev = _target(target)
    with open_repo() as repo:
        found = repo.lineage(path, rev, downstream=downstream, all_history=all_history, depth=depth)
    if fmt == "text":
        print_markup(render(found, fmt, _paint))
    else:
        echo(render(found, fmt))


def history(
    target: str = typer.Argument(
        ...,
        help="PATH or PATH@REV (REV defaults to HEAD; PATH@main@{2026-11-24} is PATH "
        "as main held it at the end of that day).",
    ),
    json: bool = JSON_OPTION,
) -> None:
    """List every version of a file or folder, newest first, with the run that produced it.

    Only commits where the content changed, appeared or disappeared are shown: the
    commit, its date and author, the content's id and size, and the run that wrote
    that content (or "added" when no recorded run did).

    Example: mlv history models/model.pkl
    """
    path, rev = _target(target)
    with open_repo() as repo:
        versions = repo.history(path, rev)
    if json:
        print_json([v.to_json() for v in versions])
        return
    lines = []
    for v in versions:
        c = v.commit
        lines.append(
            styled(c.id[:12], "yellow")
            + _paint(f"  {_when(c.time, c.tz_offset)}  {c.author}  {c.summary}", "")
        )
        if v.id is None:
            lines.append("    " + styled("removed", "red"))
            continue
        kind = "folder, " if v.kind == "dir" else ""
        made = (
            "run " + styled(v.run.name, "bold cyan") + _paint(f" {v.run_id[:12]}: {v.run.cmd}", "")
            if v.run is not None and v.run_id is not None
            else styled("added", "green")
        )
        lines.append(f"    {v.id[:12]}  {kind}{human_size(v.size or 0)}  {made}")
    print_markup("\n".join(lines))


# -- metrics and params --------------------------------------------------------------

metrics_app = typer.Typer(
    name="metrics", no_args_is_help=True, rich_markup_mode=None, add_completion=False
)
params_app = typer.Typer(
    name="params", no_args_is_help=True, rich_markup_mode=None, add_completion=False
)


@metrics_app.callback()
def metrics() -> None:
    """Show and compare the metrics that recorded runs wrote.

    A revision's metrics files are those its runs declared (mlv run -M FILE, or
    metrics: in the pipeline file); the working tree's are read from disk.

    Example: mlv metrics show HEAD~1 HEAD      mlv metrics diff main
    """


@params_app.callback()
def params() -> None:
    """Compare the parameters that recorded runs read.

    Example: mlv params diff HEAD~1 HEAD
    """


def _text(value: Any) -> str:
    import json

    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value)


def _columns(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(styled(h.ljust(w), "bold") for h, w in zip(header, widths, strict=True))]
    for row in rows:
        lines.append("  ".join(_escape(c.ljust(w)) for c, w in zip(row, widths, strict=True)))
    return "\n".join(line.rstrip() for line in lines)


def _escape(text: str) -> str:
    return _paint(text, "") if text else text


def _warn_all(warnings: list[str]) -> None:
    for message in warnings:
        warn(message)


@metrics_app.command("show")
def metrics_show(
    revs: list[str] = typer.Argument(None, help="Revisions to show (default: the working tree)."),
    json: bool = JSON_OPTION,
) -> None:
    """Show the metrics of each revision side by side: one row per file and key.

    Example: mlv metrics show HEAD~2 HEAD~1 HEAD
    """
    with open_repo() as repo:
        found = repo.metrics(list(revs) if revs else [None])
    _warn_all(found.warnings)
    if json:
        print_json(found.to_json())
        return
    if not found.rows:
        print_markup("no metrics: record a run with -M FILE (mlv run -M metrics.json -- …)")
        return
    rows = [[f, k, *(_text(v) for v in values)] for f, k, values in found.rows]
    print_markup(_columns(rows, ["file", "key", *found.revs]))


def _change(old: Any, delta: float | None, relative: float | None) -> str:
    if delta is None:
        return "added" if old is None else ""
    if delta == 0:
        return ""
    text = f"{delta:+.6g}"
    return text + (f" ({relative:+.1%})" if relative is not None else "")


def _show_diff(found: ValuesDiff, what: str, json: bool) -> None:
    _warn_all(found.warnings)
    if json:
        print_json(found.to_json())
        return
    if not found.changes:
        print_markup(_paint(f"no {what} changed between {found.a} and {found.b}", ""))
        return
    rows = [
        [c.file, c.key, _text(c.old), _text(c.new), _change(c.old, c.change, c.relative)]
        for c in found.changes
    ]
    print_markup(_columns(rows, ["file", "key", found.a, found.b, "change"]))


def _two(revs: list[str] | None) -> tuple[str, str | None]:
    revs = list(revs or [])
    if len(revs) > 2:
        from mlv.errors import InvalidArgumentError

        raise InvalidArgumentError("give at most two revisions: A (default HEAD) and B")
    return (revs[0] if revs else "HEAD"), (revs[1] if len(revs) > 1 else None)


@metrics_app.command("diff")
def metrics_diff(
    revs: list[str] = typer.Argument(
        None, help="A and B: none = HEAD vs the working tree; A = A vs the working tree."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Compare metrics between two revisions: old, new, and the change for numbers.

    Example: mlv metrics diff HEAD~1 HEAD
    """
    a, b = _two(revs)
    with open_repo() as repo:
        found = repo.metrics_diff(a, b)
    _show_diff(found, "metrics", json)


@params_app.command("diff")
def params_diff(
    revs: list[str] = typer.Argument(
        None, help="A and B: none = HEAD vs the working tree; A = A vs the working tree."
    ),
    all_keys: bool = typer.Option(False, "--all", help="Show unchanged keys too."),
    json: bool = JSON_OPTION,
) -> None:
    """Compare the parameters the runs read between two revisions: every key of their
    params files, flattened to dotted names.

    Example: mlv params diff HEAD~1 HEAD --all
    """
    a, b = _two(revs)
    with open_repo() as repo:
        found = repo.params_diff(a, b, all_keys=all_keys)
    _show_diff(found, "parameters", json)


def register(app: typer.Typer) -> None:
    for command in (lineage, history):
        app.command()(command)
    app.add_typer(metrics_app)
    app.add_typer(params_app)
