"""Terminal output shared by the commands: JSON, sizes, colour on a tty only, progress bars."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

PROGRESS_DELAY_S = 1.0

_console = None
_err_console = None


def console():  # type: ignore[no-untyped-def]
    """A rich console on stdout: colour only when stdout is a terminal."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(highlight=False, soft_wrap=True)
    return _console


def err_console():  # type: ignore[no-untyped-def]
    global _err_console
    if _err_console is None:
        from rich.console import Console

        _err_console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err_console


def echo(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def styled(text: str, style: str) -> str:
    """Rich markup when stdout is a terminal, the plain text otherwise."""
    from rich.markup import escape

    return f"[{style}]{escape(text)}[/]" if sys.stdout.isatty() else text


_C_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def quote_path(path: str) -> str:
    """A path as one line of output: in C-style quotes, as git writes it, when it holds a
    control character, a quote or a backslash; as it is otherwise."""
    if path.isprintable() and '"' not in path and "\\" not in path:
        return path
    out = []
    for ch in path:
        if ch in _C_ESCAPES:
            out.append(_C_ESCAPES[ch])
        elif not ch.isprintable() or 0xD800 <= ord(ch) <= 0xDFFF:
            out.extend(f"\\{b:03o}" for b in ch.encode("utf-8", "surrogateescape"))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def one_line(text: str) -> str:
    """``text`` with its control characters escaped (``\\n``, ``\\x1b``): a message is one
    line, and a file name must not move the cursor or colour the terminal."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def print_markup(text: str) -> None:
    if sys.stdout.isatty():
        console().print(text)
    else:
        sys.stdout.write(text + "\n")


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def warn(message: str) -> None:
    sys.stderr.write(f"mlv: warning: {one_line(message)}\n")


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


class TerminalProgress:
    """A progress bar on stderr, shown only on a terminal and only once work passes a second."""

    def __init__(
        self, *, delay: float = PROGRESS_DELAY_S, console: Any = None, enabled: bool | None = None
    ) -> None:
        """``console`` (default: stderr's) and ``enabled`` (default: stderr is a terminal)."""
        self._delay = delay
        self._console = console
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None
        self._total = 0
        self._done = 0
        self._label = ""
        self._started = 0.0
        self._enabled = sys.stderr.isatty() if enabled is None else enabled

    def start(self, total: int, label: str) -> None:
        with self._lock:
            self._total, self._done, self._label = total, 0, label
            self._started = time.monotonic()

    def advance(self, amount: int) -> None:
        if not self._enabled:
            return
        with self._lock:
            self._done += amount
            if self._bar is None:
                if time.monotonic() - self._started < self._delay:
                    return
                from rich.progress import (
                    BarColumn,
                    DownloadColumn,
                    Progress,
                    TimeRemainingColumn,
                    TransferSpeedColumn,
                )

                self._bar = Progress(
                    "[progress.description]{task.description}",
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    TimeRemainingColumn(),
                    console=self._console or err_console(),
                    transient=True,
                )
                self._bar.start()
                self._task = self._bar.add_task(self._label, total=self._total)
            self._bar.update(self._task, completed=self._done)

    def finish(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None
