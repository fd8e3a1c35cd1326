"""Renderings shared by the typer commands and the start-up fast path (no typer here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlv.cli.context import open_repo
from mlv.cli.output import print_json, print_markup, quote_path, styled, warn

if TYPE_CHECKING:
    from mlv.repo.upstream import Upstream


def show_status(json: bool) -> None:
    with open_repo() as repo:
        st = repo.status()
    for message in st.warnings:
        warn(message)
    if json:
        print_json(st.to_json())
        return
    where = f"On branch {st.branch}" if st.branch else f"HEAD detached at {(st.head or '')[:12]}"
    lines = [where]
    if st.upstream:
        lines.append(upstream_line(st.upstream))
    if st.head is None:
        lines.append("No commits yet")
    if st.staged:
        lines.append("Changes to be committed:")
        for change in st.staged:
            label = change.status + ":"
            lines.append("  " + styled(f"{label:<10} {quote_path(change.path)}", "green"))
    if st.modified or st.deleted:
        lines.append("Changes not staged for commit (use 'mlv add' to stage):")
        rows = [("modified:", p) for p in st.modified] + [("deleted:", p) for p in st.deleted]
        for label, path in sorted(rows, key=lambda r: r[1]):
            lines.append("  " + styled(f"{label:<10} {quote_path(path)}", "red"))
    if st.untracked:
        lines.append("Untracked files in tracked folders (use 'mlv add' to track):")
        lines.extend("  " + styled(quote_path(p), "red") for p in st.untracked)
    if st.pending_runs:
        lines.append(
            f"{len(st.pending_runs)} recorded run(s) wait for a commit that holds their outputs"
        )
    if st.not_fetched:
        lines.append(
            f"{st.not_fetched} tracked file(s) not fetched in this partial clone "
            "(use 'mlv restore PATH' to bring them)"
        )
    if st.clean:
        lines.append("nothing to commit, working tree clean")
    print_markup("\n".join(lines))


def upstream_line(upstream: Upstream) -> str:
    """git's sentence for a branch against its upstream."""
    ref, ahead, behind = f"'{upstream.ref}'", upstream.ahead, upstream.behind
    if ahead and behind:
        return (
            f"Your branch and {ref} have diverged, and have {ahead} and {behind} "
            "different commits each, respectively."
        )
    if ahead:
        return f"Your branch is ahead of {ref} by {_commits(ahead)}."
    if behind:
        return f"Your branch is behind {ref} by {_commits(behind)}, and can be fast-forwarded."
    return f"Your branch is up to date with {ref}."


def _commits(n: int) -> str:
    return f"{n} commit" if n == 1 else f"{n} commits"


RESULT_STYLES = {
    "identical": "green",
    "equivalent": "green",
    "close": "cyan",
    "different": "red",
    "missing": "red",
}


def result_style(result: str) -> str:
    return RESULT_STYLES.get(result, "")


def table(headers: list[str], rows: Sequence[Sequence[str]]) -> None:
    """Rows under headers: a rich table on a terminal, aligned plain columns otherwise."""
    import sys

    if sys.stdout.isatty():
        from rich.table import Table

        from mlv.cli.output import console

        grid = Table(*headers, box=None, header_style="bold", pad_edge=False)
        for row in rows:
            grid.add_row(*row)
        console().print(grid)
        return
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    for row in [tuple(headers), *rows]:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        sys.stdout.write("  ".join(cells).rstrip() + "\n")
