"""The `mlv` command: builds the typer app, maps library errors to one line and an exit code."""

from __future__ import annotations

import sys

import typer

from mlv.version import __version__

app = typer.Typer(
    name="mlv",
    help="Version control for machine learning: data, code, runs and models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Commands that take paths after a bare "--"; run() turns those into --path options so
# click does not mix them up with revisions.
PATH_COMMANDS = {"log", "diff", "checkout", "pull", "clone"}


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"mlv {__version__}\n")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Version control for machine learning: data, code, runs and models."""


def _register() -> None:
    from mlv.cli.commands import (
        branching,
        check,
        ci,
        demo,
        gitcode,
        history,
        hooks,
        lineage,
        maintenance,
        parquet,
        pipeline,
        query,
        remote,
        runs,
        stats,
        tracking,
        transfer,
        ui,
    )

    modules = (
        tracking,
        history,
        stats,
        query,
        parquet,
        branching,
        remote,
        transfer,
        gitcode,
        pipeline,
        lineage,
        runs,
        check,
        hooks,
        ci,
        maintenance,
        demo,
        ui,
    )
    for module in modules:
        module.register(app)


_register()


def split_paths(argv: list[str]) -> list[str]:
    """Rewrite ``CMD ... -- P1 P2`` as ``CMD ... --path=P1 --path=P2`` for path-taking commands."""
    if "--" not in argv:
        return argv
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in PATH_COMMANDS:
        return argv
    cut = argv.index("--")
    return argv[:cut] + [f"--path={p}" for p in argv[cut + 1 :]]


def invoke() -> object:
    """Parse ``sys.argv`` and run the command; errors are handled by ``mlv.cli.entry``."""
    # Outside standalone mode click returns a typer.Exit's code instead of exiting.
    return app(args=split_paths(sys.argv[1:]), prog_name="mlv", standalone_mode=False)


def run() -> None:
    """Console entry point (kept for ``python -m mlv.cli.main``)."""
    from mlv.cli.entry import run as entry_run

    entry_run()


if __name__ == "__main__":
    run()
