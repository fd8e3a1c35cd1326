"""The run-cache key: everything a run depends on, as one id (docs/format.md, ``run_cache``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mlv.core.hashing import hash_bytes
from mlv.model.canonical import dumps
from mlv.model.runs import Run


def run_cache_key(
    cmd: str,
    wdir: str,
    deps: Mapping[str, str],
    params: Mapping[str, Mapping[str, Any]],
    outs: Iterable[str],
    env: str,
) -> str:
    """The key of a run of ``cmd`` in ``wdir`` over dependencies (path -> id), parameter
    values (file -> key -> value), outputs and environment id."""
    return hash_bytes(
        dumps(
            {
                "cmd": cmd,
                "wdir": wdir,
                "deps": dict(deps),
                "params": {p: dict(v) for p, v in params.items()},
                "outs": sorted(outs),
                "env": env,
            }
        )
    )


def key_of_run(run: Run) -> str:
    """The key under which a recorded run answers the run cache."""
    return run_cache_key(
        run.cmd,
        run.wdir,
        {p: a.id for p, a in run.deps.items()},
        {p: u.values for p, u in run.params.items()},
        run.outs,
        run.env,
    )
