"""fsck, and the ``index`` group: ``mlv index rebuild`` (``mlv rebuild-index`` too)."""

from __future__ import annotations

import sys

import typer

from mlv.cli.commands.common import JSON_OPTION, open_repo
from mlv.cli.output import TerminalProgress, echo, human_size, print_json, warn


def fsck(
    json: bool = JSON_OPTION,
    remote: str | None = typer.Option(
        None, "--remote", metavar="NAME", help="Check this remote instead of the repository."
    ),
) -> None:
    """Verify every object against its id and everything every ref reaches.

    Exits 1 and names each damaged or missing object when anything is wrong.
    A lost or damaged index.db is reported too: 'mlv index rebuild' repairs it.
    Temporary packs left by interrupted writes are noted, not counted as damage.
    With --remote, the remote is checked instead: its marker, every pack index,
    what every remote ref reaches, and every record of every pack (each pack is
    downloaded whole); one line per problem.

    Example: mlv fsck --remote origin
    """
    from mlv.errors import IndexDamagedError
    from mlv.repo.results import FsckReport

    if remote is not None:
        _fsck_remote(remote, json)
        return

    try:
        with open_repo() as repo:
            report = repo.fsck(progress=TerminalProgress())
    except IndexDamagedError as exc:
        report = FsckReport.unusable_index(str(exc))
    if json:
        print_json(report.to_json())
    else:
        for problem in report.problems:
            what = problem.object_id or "-"
            echo(f"damaged: {what} ({problem.where}): {problem.problem}")
        for note in report.notes:
            echo(f"note: {note}")
        verdict = "ok" if report.ok else f"{len(report.problems)} problem(s) found"
        echo(
            f"checked {report.objects_checked} objects and {report.commits_checked} commits: "
            f"{verdict}"
        )
    if not report.ok:
        raise typer.Exit(1)


def _fsck_remote(name: str, json: bool) -> None:
    with open_repo() as repo:
        report = repo.fsck_remote(name, progress=TerminalProgress())
    if json:
        print_json(report.to_json())
    else:
        for problem in report.problems:
            echo(f"damaged: {problem}")
        for note in report.notes:
            echo(f"note: {note}")
        verdict = "ok" if report.ok else f"{len(report.problems)} problem(s) found"
        echo(
            f"checked {report.packs_checked} pack(s), {report.objects_checked} objects and "
            f"{report.refs_checked} ref(s) of remote {report.remote}: {verdict}"
        )
    if not report.ok:
        raise typer.Exit(1)


def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would go; change nothing."),
    remote: str | None = typer.Option(
        None, "--remote", metavar="NAME", help="Collect this remote instead of the repository."
    ),
    grace: str = typer.Option(
        "24h",
        "--grace",
        metavar="DURATION",
        help="With --remote: how long a pack stays condemned before it is deleted "
        "(30m, 24h, 7d; 0 is unsafe while others push).",
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Remove what nothing reaches, and what interrupted writes left.

    Locally, packs holding records that no ref, reflog, staged file, pending run or
    cache reaches are rewritten without them. With --remote, packs holding what no
    remote ref reaches are condemned, and deleted by a later gc once they have been
    condemned longer than --grace: a push running meanwhile never loses what it sends.

    Example: mlv gc --remote origin --grace 7d
    """
    from mlv.remote.gc import parse_duration

    seconds = parse_duration(grace)
    with open_repo() as repo:
        if remote is None:
            report = repo.gc(dry_run=dry_run, progress=TerminalProgress())
        else:
            if seconds == 0 and not dry_run:
                warn(
                    "--grace 0 deletes condemned packs at once: a push to this remote "
                    "running now may lose objects it counted on"
                )
            report = repo.gc_remote(remote, grace=seconds, dry_run=dry_run)
    if json:
        print_json(report.to_json())
    else:
        for line in report.lines():
            echo(line)


def rebuild_index(json: bool = JSON_OPTION) -> None:
    """Make .mlv/index.db again from the packs and refs, after it was lost or damaged.

    The old index.db is kept beside it as index.db.damaged-<time>. Every record of
    every finished pack is verified and indexed (damaged ones are skipped and listed;
    the exit code is then 1). The run cache, the profile lookups and the
    reproductions are made again from what the refs reach; the staging area
    is set to HEAD's tree, so the next status hashes every file once. Runs recorded
    but not yet committed are kept only when the old index still reads.

    Example: mlv index rebuild
    """
    from mlv.api import Repo

    report = Repo.rebuild_index(".", progress=TerminalProgress(), on_lock_wait=_tell)
    if json:
        print_json(report.to_json())
    else:
        for problem in report.damaged:
            what = problem.object_id or "-"
            echo(f"damaged: {what} ({problem.where}): {problem.problem}")
        if report.moved_to:
            echo(f"the old index is kept as {report.moved_to}")
        if report.tmp_packs_removed:
            echo(
                f"removed {report.tmp_packs_removed} temporary pack(s) "
                f"({human_size(report.tmp_bytes_removed)}) left by interrupted writes"
            )
        tables = ", ".join(f"{table} {rows}" for table, rows in report.rebuilt.items())
        echo(f"indexed {report.objects} objects from {report.packs} pack(s); rebuilt: {tables}")
        for item in report.not_rebuilt:
            echo(f"not rebuilt: {item}")
        if not report.ok:
            warn(
                f"{len(report.damaged)} damaged record(s) were skipped; "
                "run 'mlv fsck' to see what they break"
            )
    if not report.ok:
        raise typer.Exit(1)


def migrate(json: bool = JSON_OPTION) -> None:
    """Convert a repository written by mlv 0.2 (format 1) to format 2.

    Puts the reproductions that only mlv 0.2's index.db listed on the ref
    refs/notes/reproductions, so that an index rebuild keeps them, then marks
    the repository format 2 (mlv 0.2 can no longer open it). Every command but
    this and index rebuild refuses a format-1 repository until this has run. Commit ids do
    not change. Safe to run again, and to run again after it was interrupted.

    Example: mlv migrate
    """
    from mlv.api import Repo

    report = Repo.migrate(".")
    if json:
        print_json(
            {
                "format_before": report.format_before,
                "format_after": report.format_after,
                "reproductions_linked": report.reproductions_linked,
            }
        )
        return
    if report.format_before == report.format_after:
        echo(f"the repository already has format {report.format_after}")
    else:
        echo(f"format {report.format_before} -> {report.format_after}")
    echo(f"reproductions put on refs/notes/reproductions: {report.reproductions_linked}")


def _tell(message: str) -> None:
    sys.stderr.write(f"mlv: {message}\n")


index_app = typer.Typer(
    name="index", no_args_is_help=True, rich_markup_mode=None, add_completion=False
)


@index_app.callback()
def index() -> None:
    """Maintain .mlv/index.db, the cache of what the objects and refs hold.

    Everything in it but the pending runs (recorded, not yet committed) is derived,
    and 'mlv index rebuild' makes it again from the packs and refs.

    Example: mlv index rebuild
    """


def register(app: typer.Typer) -> None:
    app.command()(fsck)
    app.command()(gc)
    app.command()(migrate)
    index_app.command("rebuild")(rebuild_index)
    app.add_typer(index_app)
    # The name mlv 0.2 gave it, and the one its error messages still name.
    app.command("rebuild-index", hidden=True)(rebuild_index)
