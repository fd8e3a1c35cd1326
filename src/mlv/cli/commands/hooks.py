"""hooks: install, remove and run mlv's git hooks."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import typer

from mlv.cli.commands.common import JSON_OPTION, open_repo
from mlv.cli.output import echo, print_json

if TYPE_CHECKING:
    from mlv.githooks import HookState

hooks_app = typer.Typer(
    name="hooks", no_args_is_help=True, rich_markup_mode=None, add_completion=False
)

SAID = {
    "installed": "installed",
    "updated": "updated",
    "unchanged": "up to date",
    "chained": "installed; the hook that was there runs first (kept as {name}.pre-mlv)",
    "replaced": "installed; the hook that was there is kept as {name}.pre-mlv, not run",
    "removed": "removed",
    "restored": "removed; the hook that was there before is back",
    "absent": "not installed",
    "mlv": "installed",
    "mlv-chained": "installed; runs {name}.pre-mlv first",
    "mlv-replacing": "installed; {name}.pre-mlv is kept but not run",
    "other": "not mlv's hook: left alone",
}


@hooks_app.callback()
def hooks() -> None:
    """Git hooks that keep git and the mlv data in step.

    pre-commit refuses a git commit while tracked data has uncommitted changes or
    mlv.lock is stale; post-checkout and post-merge check out the data mlv.lock names;
    pre-push pushes the mlv commits that the git commits being pushed pin to the
    default mlv remote (without one it only says so, unless MLV_REQUIRE_REMOTE=1).

    Example: mlv hooks install      mlv hooks status
    """


@hooks_app.command("install")
def install(
    force: bool = typer.Option(
        False,
        "--force",
        help="Keep a hook that is already there as HOOK.pre-mlv but do not run it.",
    ),
    json: bool = JSON_OPTION,
) -> None:
    """Install mlv's git hooks (honours core.hooksPath).

    A hook that is already there and is not mlv's is kept as HOOK.pre-mlv and runs
    before mlv's; `mlv hooks uninstall` puts it back. Installing again updates mlv's
    hooks.

    Example: mlv hooks install
    """
    with open_repo() as repo:
        states = repo.install_githooks(force=force)
    _show(states, json)


@hooks_app.command("uninstall")
def uninstall(json: bool = JSON_OPTION) -> None:
    """Remove mlv's git hooks and put back the hooks they kept.

    Hooks that are not mlv's are left alone.

    Example: mlv hooks uninstall
    """
    with open_repo() as repo:
        states = repo.uninstall_githooks()
    _show(states, json)


@hooks_app.command("status")
def status(json: bool = JSON_OPTION) -> None:
    """Show which of mlv's git hooks are installed.

    Example: mlv hooks status --json
    """
    with open_repo() as repo:
        states = repo.githook_states()
    _show(states, json)


@hooks_app.command(
    "run", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
def run(
    name: str = typer.Argument(
        ...,
        help="pre-commit, post-checkout, post-merge, pre-push, status-clean or lock-current.",
    ),
    args: list[str] = typer.Argument(None, help="The arguments git passed to the hook."),
) -> None:
    """Run one hook's check or action, as the installed hook scripts do.

    Messages go to stderr, as git shows a hook's output; the exit code is the hook's.
    status-clean (no uncommitted tracked data) and lock-current (mlv.lock names
    HEAD) are the two halves of pre-commit.

    Example: mlv hooks run pre-commit      mlv hooks run status-clean
    """
    from mlv.githooks.run import REQUIRE_REMOTE_ENV

    # git hands pre-push the refs being pushed on stdin; other hooks get none.
    push_input = sys.stdin.read() if name == "pre-push" and not sys.stdin.isatty() else ""
    with open_repo() as repo:
        code, message = repo.run_githook(
            name,
            args or [],
            git_index=os.environ.get("GIT_INDEX_FILE"),
            push_input=push_input,
            require_remote=os.environ.get(REQUIRE_REMOTE_ENV, "") not in ("", "0"),
        )
    if message:
        sys.stderr.write(message + "\n")
    if code:
        raise typer.Exit(code)


def _show(states: list[HookState], json: bool) -> None:
    if json:
        print_json([s.to_json() for s in states])
        return
    for s in states:
        echo(f"{s.name}: {SAID[s.state].format(name=s.name)}  ({s.path})")


def register(app: typer.Typer) -> None:
    app.add_typer(hooks_app)
