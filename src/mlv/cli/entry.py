"""The ``mlv`` console entry point: one place that turns errors into a line and an exit code.

``mlv status`` is what people run most, on the largest trees; it skips building the
full command parser (typer and click cost some 50 ms of start-up) and goes straight
to the same rendering the ``status`` command uses.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable

FAST_STATUS_ARGS: tuple[set[str], ...] = ({"--json"}, set())


def guarded(call: Callable[[], object]) -> None:
    """Run ``call``; exit with its code, or print one line for an error and exit non-zero."""
    from mlv.errors import MlvError

    debug = os.environ.get("MLV_DEBUG") == "1"
    try:
        code = call()
    except MlvError as exc:
        if debug:
            raise
        from mlv.cli.output import one_line

        sys.stderr.write(f"mlv: error: {one_line(str(exc))}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("mlv: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        # The reader (e.g. `head`) went away: not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except Exception as exc:
        # The command parser's own exits and usage errors carry an exit code;
        # usage errors print themselves.
        code = getattr(exc, "exit_code", None)
        show = getattr(exc, "show", None)
        if isinstance(code, int):
            if callable(show):
                _one_suggestion(exc)
                show()
            sys.exit(code)
        if type(exc).__name__ == "Abort":
            sys.stderr.write("mlv: aborted\n")
            sys.exit(130)
        if debug:
            raise
        sys.stderr.write(f"mlv: error: {unexpected(exc)} (set MLV_DEBUG=1 to see where)\n")
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def _one_suggestion(exc: BaseException) -> None:
    """Keep one "Did you mean" in an unknown-command error.

    click (8.4 on) suggests close command names itself, and typer writes the same
    suggestion into the message: typer's stays, as every supported click gets it.
    """
    if getattr(exc, "possibilities", None) and "Did you mean" in str(getattr(exc, "message", "")):
        exc.possibilities = None  # type: ignore[attr-defined]


# What to do about the OS errors that reach the last line of defence, by errno.
_OS_ADVICE = {
    errno.EACCES: "check its permissions",
    errno.EPERM: "check its permissions",
    errno.EROFS: "mlv needs to write there: make it writable",
    errno.ENOSPC: "free some disk space and run the command again",
    errno.EDQUOT: "free some disk space and run the command again",
    errno.ENOENT: "it may have changed while mlv was working: run the command again",
    errno.EISDIR: "a folder is where mlv expected a file: move it away",
    errno.ENOTDIR: "a file is where mlv expected a folder: move it away",
    errno.ENAMETOOLONG: "use a shorter name",
    errno.EMFILE: "raise the limit on open files (ulimit -n)",
}


def unexpected(exc: BaseException) -> str:
    """An error no part of mlv turned into a message, in plain words: never a repr."""
    if isinstance(exc, OSError):
        return _os_error(exc)
    if isinstance(exc, MemoryError):
        return (
            "out of memory: an input is larger than this machine can hold; "
            "free memory or make the input smaller"
        )
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to process; flatten it"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _os_error(exc: OSError) -> str:
    what = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    names = [_shown(name) for name in (exc.filename, exc.filename2) if name is not None]
    where = f"cannot use {' and '.join(names)}: " if names else ""
    advice = _OS_ADVICE.get(exc.errno) if exc.errno is not None else None
    return f"{where}{what}" + (f"; {advice}" if advice else "")


def _shown(name: object) -> str:
    """A path as the user would type it: relative to here when it lies below."""
    text = os.fsdecode(name) if isinstance(name, bytes | str | os.PathLike) else str(name)
    try:
        rel = os.path.relpath(text)
    except (ValueError, OSError):  # another drive, or the current folder is gone
        return text
    return text if rel.startswith("..") else rel


def run() -> None:
    args = sys.argv[1:]
    if args[:1] == ["status"] and set(args[1:]) in FAST_STATUS_ARGS:
        from mlv.cli.views import show_status

        guarded(lambda: show_status(json="--json" in args))
        return
    from mlv.cli.main import invoke

    guarded(invoke)
