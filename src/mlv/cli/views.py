"""Renderings shared by the typer commands and the start-up fast path (no typer here)."""

from __future__ import annotations

from mlv.cli.context import open_repo
from mlv.cli.output import print_json, print_markup, styled, warn


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
    if st.head is None:
        lines.append("No commits yet")
    if st.staged:
        lines.append("Changes to be committed:")
        for change in st.staged:
            lines.append("  " + styled(f"{change.status + ':':<10} {change.path}", "green"))
    if st.modified or st.deleted:
        lines.append("Changes not staged for commit (use 'mlv add' to stage):")
        rows = [("modified:", p) for p in st.modified] + [("deleted:", p) for p in st.deleted]
        for label, path in sorted(rows, key=lambda r: r[1]):
            lines.append("  " + styled(f"{label:<10} {path}", "red"))
    if st.untracked:
        lines.append("Untracked files in tracked folders (use 'mlv add' to track):")
        lines.extend("  " + styled(p, "red") for p in st.untracked)
    if st.clean:
        lines.append("nothing to commit, working tree clean")
    print_markup("\n".join(lines))
