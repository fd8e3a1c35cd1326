"""Named points in mlv's writes where a test can kill the process, as `kill -9` would.

Each name is a row of the crash table in docs/format.md ("Write-ordering
invariants"), which says what a process killed there leaves on disk and what the
next command does about it; ``tests/test_crash_points.py`` kills `mlv` at every
one of them and checks that outcome.

The switch is the environment variable ``MLV_CRASH_POINT``, read once, at import:
the one place below the CLI that reads the environment, because a test must reach
a point inside a real `mlv` process. With the variable unset, a crash point is one
comparison with None.
"""

from __future__ import annotations

import os

ENV_VARIABLE = "MLV_CRASH_POINT"

# In the order a command reaches them; docs/format.md's crash table has one row each.
CRASH_POINTS = (
    # the object store, whichever command writes
    "pack.before-seal",
    "pack.after-rename",
    # mlv add
    "add.after-pack",
    "profiles.after-objects",
    # mlv commit
    "commit.before-flush",
    "commit.before-ref",
    "ref.after-reflog",
    "ref.before-rename",
    "commit.after-ref",
    "commit.after-stage",
    "pin.before-write",
    "file.before-rename",
    # mlv checkout, switch, restore
    "checkout.after-journal",
    "checkout.after-write",
    "checkout.after-remove",
    "checkout.after-rename",
    "checkout.before-stage",
    "checkout.before-head",
    # mlv run, repro
    "run.after-outputs",
    "run.after-object",
    "run.after-cache",
    # mlv reproduce
    "reproduce.after-object",
    "notes.before-ref",
    "notes.after-ref",
    # mlv push
    "push.after-pack",
    "push.before-refs",
    # mlv fetch, pull, clone
    "fetch.after-history",
)

_ARMED = os.environ.get(ENV_VARIABLE) or None


def crash_point(name: str) -> None:
    """Kill this process at once when ``MLV_CRASH_POINT`` names ``name``.

    SIGKILL, not an exception or ``sys.exit``: no ``finally`` block, ``with`` exit or
    buffer flush runs, exactly as when the kernel or a user kills the process.
    """
    if _ARMED is not None and name == _ARMED:
        import signal  # here: the module costs start-up time, and only a test needs it

        os.kill(os.getpid(), signal.SIGKILL)
