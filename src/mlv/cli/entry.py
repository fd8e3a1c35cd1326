"""The ``mlv`` console entry point: one place that turns errors into a line and an exit code.

``mlv status`` is what people run most, on the largest trees; it skips building the
full command parser (typer and click cost some 50 ms of start-up) and goes straight
to the same rendering the ``status`` command uses.
"""

from __future__ import annotations

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
        sys.stderr.write(f"mlv: error: {exc}\n")
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
                show()
            sys.exit(code)
        if type(exc).__name__ == "Abort":
            sys.stderr.write("mlv: aborted\n")
            sys.exit(130)
        if debug:
            raise
        sys.stderr.write(
            f"mlv: error: {type(exc).__name__}: {exc} (set MLV_DEBUG=1 to see where)\n"
        )
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def run() -> None:
    args = sys.argv[1:]
    if args[:1] == ["status"] and set(args[1:]) in FAST_STATUS_ARGS:
        from mlv.cli.views import show_status

        guarded(lambda: show_status(json="--json" in args))
        return
    from mlv.cli.main import invoke

    guarded(invoke)
