"""The progress bar: on a terminal, once work passes its delay; never otherwise."""

from __future__ import annotations

import io

from rich.console import Console

from mlv.cli.output import TerminalProgress


def _terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=100)


def _run(bar: TerminalProgress) -> None:
    bar.start(4 * 1024 * 1024, "adding")
    for _ in range(4):
        bar.advance(1024 * 1024)
    bar.finish()


def test_bar_shows_progress_on_a_terminal_once_the_delay_has_passed() -> None:
    console = _terminal()
    _run(TerminalProgress(delay=0.0, console=console, enabled=True))
    drawn = console.file.getvalue()
    assert "adding" in drawn
    assert "4.2/4.2 MB" in drawn


def test_no_bar_for_work_shorter_than_the_delay() -> None:
    console = _terminal()
    _run(TerminalProgress(delay=60.0, console=console, enabled=True))
    assert console.file.getvalue() == ""


def test_no_bar_when_stderr_is_not_a_terminal() -> None:
    console = _terminal()
    _run(TerminalProgress(delay=0.0, console=console, enabled=False))
    assert console.file.getvalue() == ""
