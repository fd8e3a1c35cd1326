"""log, show, diff."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta, timezone

import typer

from mlv.cli.commands.common import JSON_OPTION, PATH_OPTION, open_repo, user_paths
from mlv.cli.output import human_size, print_json, print_markup, quote_path, styled


def _date(time: int, tz_offset: int) -> str:
    zone = timezone(timedelta(minutes=tz_offset))
    moment = datetime.fromtimestamp(time, UTC).astimezone(zone)
    sign = "+" if tz_offset >= 0 else "-"
    hours, minutes = divmod(abs(tz_offset), 60)
    return moment.strftime("%a %b %d %H:%M:%S %Y ") + f"{sign}{hours:02d}{minutes:02d}"


def _decoration(refs: list[str]) -> str:
    return f" ({', '.join(refs)})" if refs else ""


def log(
    revs: list[str] = typer.Argument(
        None,
        help="Revisions to start from (default HEAD); main@{2026-11-24} is the commit "
        "current on main at the end of that day, by first-parent history.",
    ),
    graph: bool = typer.Option(False, "--graph", help="Draw the commit graph."),
    oneline: bool = typer.Option(False, "--oneline", help="One line per commit."),
    max_count: int = typer.Option(None, "--max-count", "-n", help="Show at most N commits."),
    since: str = typer.Option(None, "--since", help="Only commits after this time."),
    until: str = typer.Option(None, "--until", help="Only commits before this time."),
    author: str = typer.Option(None, "--author", help="Only commits whose author matches."),
    all_refs: bool = typer.Option(False, "--all", help="Start from every branch and tag."),
    paths: list[str] = PATH_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Show the commit history, newest first.

    Times accept 2026-11-20, '2026-11-20 14:00' or '3 days ago'. Paths after
    '--' keep only the commits that changed them.

    Example: mlv log --graph --oneline --since '1 week ago' -- data/
    """
    from mlv.core.timeparse import parse_when

    with open_repo() as repo:
        entries = repo.log(
            revs or None,
            max_count=max_count,
            since=parse_when(since) if since else None,
            until=parse_when(until) if until else None,
            author=author,
            paths=user_paths(paths) if paths else None,
            all_refs=all_refs,
        )
    if json:
        print_json([e.to_json() for e in entries])
        return
    drawer = None
    if graph:
        from mlv.cli.graph import GraphDrawer

        filtered = bool(paths or since or until or author)
        drawer = GraphDrawer(shown={e.id for e in entries} if filtered else None)
    out = []
    for n, entry in enumerate(entries):
        c = entry.commit
        deco = styled(_decoration(entry.refs), "bold cyan") if entry.refs else ""
        if oneline:
            text = [f"{styled(entry.id[:12], 'yellow')}{deco} {c.summary}"]
        else:
            text = [
                f"{styled('commit ' + entry.id, 'yellow')}{deco}",
                *(["Merge: " + " ".join(p[:12] for p in c.parents)] if len(c.parents) > 1 else []),
                f"Author: {c.author}",
                f"Date:   {_date(c.time, c.tz_offset)}",
                "",
                *("    " + line for line in c.message.rstrip("\n").splitlines()),
            ]
            if drawer is None and n > 0:
                out.append("")
        if drawer is not None:
            rows = drawer.next_commit(entry.id, entry.commit.parents, gap=not oneline and n > 0)
            out.extend(rows.lines(text))
        else:
            out.extend(text)
    if out:
        print_markup("\n".join(out))


def show(
    rev: str = typer.Argument(
        "HEAD",
        help="A revision (HEAD~1, v1, main@{2026-11-24}), or REV:PATH to print a file's content.",
    ),
    schema: bool = typer.Option(
        False, "--schema", help="With REV:PATH of a table: its columns and row count instead."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Show a commit (who, when, message, files changed), or a file's content with REV:PATH.

    Example: mlv show HEAD~1      mlv show v1:data/labels.csv > labels.csv
    """
    from mlv.repo.revisions import split_at

    commit_rev, colon, path = split_at(rev, ":")
    if schema and not colon:
        from mlv.errors import InvalidArgumentError

        raise InvalidArgumentError("--schema needs a table as REV:PATH, e.g. HEAD:data/x.csv")
    with open_repo() as repo:
        if colon and schema:
            from mlv.cli.commands.stats import show_schema

            profile = repo.profile(path, commit_rev or "HEAD", complete=False)
            show_schema(profile, path, commit_rev, json)
            return
        if colon:
            stream = repo.open_file(commit_rev or "HEAD", path)
            out = sys.stdout.buffer
            try:
                for block in stream:
                    out.write(block)
                out.flush()
            except BrokenPipeError:
                # The reader (e.g. `head`) has what it wanted: not an error.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        details = repo.show(rev)
        codes = _code_lines(repo, details) if not json else {}
    if json:
        print_json(details.to_json())
        return
    entry, c = details.entry, details.entry.commit
    lines = [
        styled(f"commit {entry.id}", "yellow") + styled(_decoration(entry.refs), "bold cyan"),
        *(["Merge: " + " ".join(p[:12] for p in c.parents)] if len(c.parents) > 1 else []),
        f"Author: {c.author}",
        f"Date:   {_date(c.time, c.tz_offset)}",
        "",
        *("    " + line for line in c.message.rstrip("\n").splitlines()),
        "",
    ]
    lines.extend(_change_lines(details.changes))
    lines.extend(_run_lines(details, codes))
    print_markup("\n".join(lines))


def _code_lines(repo, details) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The code version of the commit (key "") and of each run (by run id), in words."""
    from mlv.gitcode.describe import code_line

    found = {"": code_line(repo.objects, details.entry.commit.code)}
    found.update({item.id: code_line(repo.objects, item.run.code) for item in details.runs})
    return found


def _run_lines(details, codes: dict[str, str]) -> list[str]:  # type: ignore[no-untyped-def]
    """The runs behind the commit's outputs, and its reproductions, for ``show``."""
    lines: list[str] = []
    if codes.get(""):
        lines += ["", "Code: " + codes[""]]
    for item in details.runs:
        run = item.run
        when = datetime.fromtimestamp(run.started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        where = "" if item.recorded_here else "  (recorded in an earlier commit)"
        lines += [
            "",
            styled(f"run {run.name} {item.id[:12]}", "bold") + where,
            f"    command:  {run.cmd}" + (f"   (in {run.wdir})" if run.wdir else ""),
            f"    by:       {run.user} on {run.host}, {when}, {run.duration_ms / 1000:.1f} s",
        ]
        if run.deps:
            lines.append("    inputs:   " + _artifact_list(run.deps))
        values = [f"{k}={v}" for use in run.params.values() for k, v in sorted(use.values.items())]
        if values:
            lines.append("    params:   " + ", ".join(values))
        lines.append("    outputs:  " + _artifact_list(run.outs))
        if codes.get(item.id):
            lines.append("    code:     " + codes[item.id])
        metrics = [f"{k}={v}" for m in run.metrics.values() for k, v in sorted(m.items())]
        if metrics:
            lines.append("    metrics:  " + ", ".join(metrics))
        if item.env is not None:
            env = item.env
            python = f"{env.implementation} {env.python}" if env.python else "no python"
            lines.append(
                f"    env:      {python}, {env.platform}, {len(env.packages)} packages "
                f"({run.env[:12]})"
            )
    if details.reproductions:
        lines += ["", "Reproductions:"]
        for rep_id, rep in details.reproductions:
            when = datetime.fromtimestamp(rep.time, UTC).strftime("%Y-%m-%d %H:%M UTC")
            counts: dict[str, int] = {}
            for result in rep.results.values():
                counts[result["result"]] = counts.get(result["result"], 0) + 1
            summary = ", ".join(f"{n} {r}" for r, n in counts.items())
            colour = "green" if rep.verdict == "reproduced" else "red"
            lines.append(
                f"    {when} by {rep.user} on {rep.host}: "
                + styled(rep.verdict, colour)
                + (f" ({summary})" if summary else "")
                + f"  {rep_id[:12]}"
            )
    return lines


def _artifact_list(artifacts) -> str:  # type: ignore[no-untyped-def]
    return ", ".join(f"{p} {a.id[:8]}" for p, a in sorted(artifacts.items()))


def _change_lines(changes) -> list[str]:  # type: ignore[no-untyped-def]
    lines = []
    marks = {"added": ("A", "green"), "removed": ("D", "red"), "modified": ("M", "yellow")}
    shown = {ch.path: quote_path(ch.path) for ch in changes}
    width = max((len(p) for p in shown.values()), default=0)
    for ch in changes:
        mark, colour = marks[ch.status]
        if ch.status == "modified":
            assert ch.old and ch.new
            delta = ch.new.size - ch.old.size
            sign = "+" if delta >= 0 else "-"
            size = (
                f"{human_size(ch.old.size)} -> {human_size(ch.new.size)}"
                f" ({sign}{human_size(abs(delta))})"
            )
        else:
            entry = ch.new or ch.old
            assert entry is not None
            size = human_size(entry.size)
        lines.append(styled(f"{mark}  {shown[ch.path]:<{width}}", colour) + f"  {size}")
    counts = {s: sum(1 for ch in changes if ch.status == s) for s in marks}
    if changes:
        lines.append(
            f"{len(changes)} file(s) changed: {counts['added']} added, "
            f"{counts['modified']} modified, {counts['removed']} removed"
        )
    else:
        lines.append("no file changes")
    return lines


def diff(
    revs: list[str] = typer.Argument(
        None, help="Up to two revisions: none = HEAD vs working tree; A = A vs working tree."
    ),
    paths: list[str] = PATH_OPTION,
    key: str = typer.Option(
        None, "--key", help="Row key for table diffs: COL or COL,COL (default: mlv.yaml's)."
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Show files added, removed and modified between two revisions or the working tree.

    Modified tables (Parquet, CSV, Arrow, JSON Lines) are compared row by row: a
    summary line each, and the whole report (schema, rows added, removed and
    changed, first changed values, statistics drift) for tables named after '--'.
    An added or removed table gets its rows and columns. Two tables named, one
    removed and one added (a CSV that became Parquet), are compared as one.

    Any two tables at any revisions: mlv diff REV:PATH REV:PATH (a side without
    REV: is the working tree's file).

    Example: mlv diff main~3 main -- data/      mlv diff v1 --key id -- data/train.parquet

    Example: mlv diff v1:data/train.csv HEAD:data/features.parquet --key id
    """
    revs = revs or []
    if any(":" in rev for rev in revs):
        _diff_two_tables(revs, paths, key, json)
        return
    if len(revs) > 2:
        from mlv.errors import InvalidArgumentError

        raise InvalidArgumentError(
            "diff takes at most two revisions; put paths after '--' (mlv diff A B -- PATH)"
        )
    from mlv.cli.table_diff import parse_key, table_lines, with_tables

    a, b = (revs[0] if revs else None), (revs[1] if len(revs) > 1 else None)
    with open_repo() as repo:
        changes = repo.diff(a, b, user_paths(paths) if paths else None)
        tables = repo.table_changes(changes, a, b, key=parse_key(key), named=user_paths(paths))
    if json:
        from mlv.repo.results import change_to_json

        print_json(with_tables([change_to_json(c) for c in changes], tables))
        return
    print_markup("\n".join(_change_lines(changes) + table_lines(tables)))


def _diff_two_tables(revs: list[str], paths: list[str] | None, key: str | None, json: bool) -> None:
    """``mlv diff A:old.parquet B:new.parquet``: one table against another, anywhere."""
    from mlv.cli.table_diff import parse_key, report_lines
    from mlv.errors import InvalidArgumentError

    if len(revs) != 2 or paths:
        raise InvalidArgumentError(
            "to compare two tables give both as REV:PATH (or a working-tree PATH): "
            "mlv diff v1:data/old.parquet HEAD:data/new.parquet"
        )
    (a, old), (b, new) = (_rev_and_path(r) for r in revs)
    if a is None:
        raise InvalidArgumentError(
            f"{old}: the first table is at a revision (REV:PATH); the second may be a "
            "working-tree path"
        )
    with open_repo() as repo:
        # REV:PATH names the path from the root, as in 'mlv show'; a working-tree path is
        # relative to the current folder.
        new_rel = new if b is not None else repo.relpath(user_paths([new])[0])
        found = repo.diff_table(new_rel, a, b, key=parse_key(key), old_path=old)
    found.name = f"{a}:{old} → {f'{b}:{new}' if b is not None else new}"
    if json:
        print_json(found.to_json())
        return
    print_markup("\n".join(report_lines(found)))


def _rev_and_path(text: str) -> tuple[str | None, str]:
    """``REV:PATH`` as (REV or HEAD, PATH); a plain path as (None, path), and so is one
    written from a folder (``./a:b.csv``, ``/abs/a:b.csv``) whatever colons it holds."""
    from mlv.repo.revisions import split_at

    rev, colon, path = split_at(text, ":")
    if not colon or text.startswith(("./", "../", "/")):
        return None, text
    if not path:
        from mlv.errors import InvalidArgumentError

        raise InvalidArgumentError(f"{text}: name a table after the colon (REV:PATH)")
    return rev or "HEAD", path


def register(app: typer.Typer) -> None:
    for command in (log, show, diff):
        app.command()(command)
