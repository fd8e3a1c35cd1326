"""The controlled environment a reproduction runs commands in."""

from __future__ import annotations

from collections.abc import Mapping

from mlv.model.runs import Run
from mlv.runs.environment import THREAD_VARIABLES


def controlled(environ: Mapping[str, str], run: Run, commit_time: int) -> dict[str, str]:
    """``environ`` with the variables that change results pinned.

    Where the run recorded a value (its hash seed, thread counts, time zone,
    locale), the reproduction uses it; otherwise a fixed default. The time a
    script may stamp into its output is the commit's time.
    """
    child = dict(environ)
    recorded = run.variables
    child["PYTHONHASHSEED"] = recorded.get("PYTHONHASHSEED", "0")
    child["TZ"] = recorded.get("TZ", "UTC")
    # LC_ALL overrides LANG: a run that recorded only LANG ran in that locale.
    child["LC_ALL"] = recorded.get("LC_ALL") or recorded.get("LANG") or "C.UTF-8"
    if "LANG" in recorded:
        child["LANG"] = recorded["LANG"]
    child["SOURCE_DATE_EPOCH"] = str(commit_time)
    for name in THREAD_VARIABLES:
        if name in recorded:
            child[name] = recorded[name]
        else:
            child.pop(name, None)
    for name in ("CUBLAS_WORKSPACE_CONFIG", "CUDA_VISIBLE_DEVICES"):
        if name in recorded:
            child[name] = recorded[name]
    return child
