"""Running a command and recording it: inputs hashed before, outputs after, one run object."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mlv.core.crashpoints import crash_point
from mlv.core.paths import TreeGate, is_within
from mlv.errors import CommandFailedError, NotFoundError, PipelineError, UnsafePathError
from mlv.model.canonical import INT_MAX, INT_MIN
from mlv.model.runs import Artifact, Env, ParamsUse, Run
from mlv.repo.protocols import RunIndex
from mlv.runs.artifacts import Artifacts
from mlv.runs.cachekey import run_cache_key
from mlv.runs.environment import DETERMINISM_VARIABLES, capture_env
from mlv.runs.ports import Records
from mlv.store.pack import KIND_META

# Set for every recorded command unless the user set it: a random hash seed makes
# set iteration order, and so many outputs, differ from run to run.
DEFAULT_HASH_SEED = "0"


@dataclass(frozen=True)
class RunSpec:
    """What to run and what it reads and writes; paths relative to the repository root."""

    name: str
    cmd: str
    wdir: str = ""
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()  # metrics files included
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # file -> keys
    metrics: tuple[str, ...] = ()
    persist: frozenset[str] = frozenset()  # outputs not deleted before the command runs
    pipeline: str = ""


@dataclass(frozen=True)
class EnvRecord:
    """An environment and code version captured once per invocation, shared by its runs."""

    env: Env
    id: str
    code: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Inputs:
    """What a run is about to read, and the key under which the run cache files it."""

    deps: dict[str, Artifact]
    params: dict[str, ParamsUse]
    key: str


def check_spec(root: Path, spec: RunSpec) -> None:
    """Refuse a declaration that cannot work (its paths under ``root``), before anything runs."""
    if not spec.cmd.strip():
        raise PipelineError(f"run '{spec.name}' has no command")
    if not spec.outs:
        raise PipelineError(
            f"run '{spec.name}' declares no outputs: name what it writes with -o PATH"
        )
    if "" in spec.outs:
        raise PipelineError(
            f"run '{spec.name}': an output cannot be the repository root; name what it writes"
        )

    if spec.wdir and any(is_within(spec.wdir, o) for o in spec.outs):
        raise PipelineError(
            f"run '{spec.name}': its working folder {spec.wdir} is inside one of its outputs"
        )
    # Outputs are deleted before the command runs: one holding a dependency would delete it.
    inputs = (*spec.deps, *spec.params)
    overlap = sorted(d for d in inputs if any(is_within(d, o) for o in spec.outs))
    if overlap:
        raise PipelineError(
            f"run '{spec.name}': {overlap[0]} is both a dependency and an output "
            "(or inside one); write the output to another path"
        )
    gate = TreeGate(root)
    if not (root / spec.wdir).is_dir():
        raise NotFoundError(f"run '{spec.name}': working folder {spec.wdir} does not exist")
    # Outputs are deleted and written, and the command runs in wdir: none of it may
    # reach outside the repository through a symlink, whatever the pipeline file says.
    try:
        gate.folder(spec.wdir)
        for path in (*spec.outs, *spec.deps, *spec.params):
            gate.full(path)
    except UnsafePathError as exc:
        raise PipelineError(f"run '{spec.name}': {exc}") from None


def _leaves(values: dict[str, Any]) -> dict[str, Any]:
    """Selected values with every mapping spread out into dotted keys, as they are diffed."""
    from mlv.runs.params import flatten

    spread: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            spread.update({f"{key}.{k}": v for k, v in flatten(value).items()})
        else:
            spread[key] = value
    return spread


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    child = dict(environ)
    child.setdefault("PYTHONHASHSEED", DEFAULT_HASH_SEED)
    return child


class Recorder:
    """Runs commands and records them in one repository.

    Inputs and outputs go through ``artifacts`` (which also gives the root, the
    objects, the store, the stage and the write lock); runs, environments and code
    versions are stored in its store, runs filed in ``records`` (the run cache and
    the runs waiting for a commit).
    """

    def __init__(self, artifacts: Artifacts, records: Records) -> None:
        self.artifacts = artifacts
        self.records = records
        self.root = artifacts.root
        self.objects = artifacts.objects
        self.store = artifacts.store
        self.stage = artifacts.stage
        self.lock = artifacts.lock

    def store_env(self, env: Env) -> EnvRecord:
        """Store an environment, and capture the code version (git) that goes with it."""
        from mlv.gitcode.capture import capture

        env_id = self.store.put_meta(env.to_bytes(), KIND_META)
        code = capture(
            self.root,
            objects=self.objects,
            store=self.store,
            stage=self.stage,
            records=self.records,
            lock=self.lock,
        )
        return EnvRecord(env, env_id, code or {})

    def read_inputs(self, spec: RunSpec, env: EnvRecord, *, store: bool = True) -> Inputs:
        """Hash (and, with ``store``, store and stage) the dependencies and parameters."""
        from mlv.runs.params import load_params, select

        take = self.artifacts.snapshot if store else self.artifacts.fingerprint
        for path in (*spec.deps, *spec.params):
            if not os.path.lexists(self.root / path):
                raise NotFoundError(
                    f"run '{spec.name}': dependency {path} does not exist; "
                    "create it or run the stage that writes it"
                )
        deps = take(spec.deps)
        files = take(spec.params)
        params: dict[str, ParamsUse] = {}
        for path, keys in spec.params.items():
            try:
                values = plain(_leaves(select(load_params(self.root / path), keys)))
            except KeyError as exc:
                raise PipelineError(f"run '{spec.name}': {path}: {exc.args[0]}") from None
            params[path] = ParamsUse(files[path], values)
        key = run_cache_key(
            spec.cmd,
            spec.wdir,
            {p: a.id for p, a in deps.items()},
            {p: u.values for p, u in params.items()},
            spec.outs,
            env.id,
        )
        return Inputs(deps, params, key)

    def execute(
        self,
        spec: RunSpec,
        inputs: Inputs,
        env: EnvRecord,
        environ: Mapping[str, str],
        *,
        who: str,
        stdout: IO[Any] | int | None = None,
    ) -> tuple[str, Run]:
        """Run the command, record the run, stage its outputs; return (run id, run).

        A failing command records nothing and raises ``CommandFailedError`` carrying its
        exit code; whatever it wrote is left in place for inspection.
        """
        gate = TreeGate(self.root)
        try:
            cwd = gate.folder(spec.wdir)
            for out in spec.outs:
                if out not in spec.persist:
                    gate.remove(out)
                gate.make_parents(out)
        except UnsafePathError as exc:
            raise PipelineError(f"run '{spec.name}': {exc}") from None
        child = child_environment(environ)
        started = time.time()
        begin = time.monotonic()
        try:
            done = subprocess.run(spec.cmd, shell=True, cwd=cwd, env=child, stdout=stdout)
        except OSError as exc:
            raise CommandFailedError(f"run '{spec.name}' could not start: {exc}", 127) from None
        duration_ms = int((time.monotonic() - begin) * 1000)
        if done.returncode != 0:
            raise CommandFailedError(
                f"run '{spec.name}' failed: '{spec.cmd}' exited with code {done.returncode}; "
                "no outputs were recorded and its files are left as they are for inspection",
                done.returncode,
            )
        missing = [o for o in spec.outs if not os.path.lexists(self.root / o)]
        if missing:
            raise CommandFailedError(
                f"run '{spec.name}' did not write its output {missing[0]}; "
                "check the command or the declared outputs",
                2,
            )
        outs = self.artifacts.snapshot(spec.outs)
        crash_point("run.after-outputs")
        run = Run(
            name=spec.name,
            cmd=spec.cmd,
            wdir=spec.wdir,
            deps=inputs.deps,
            outs=outs,
            params=inputs.params,
            metrics={m: read_metrics(self.root / m) for m in spec.metrics},
            env=env.id,
            started=int(started),
            duration_ms=duration_ms,
            exit_code=0,
            user=who,
            host=socket.gethostname(),
            pipeline=spec.pipeline,
            variables={k: child[k] for k in DETERMINISM_VARIABLES if k in child},
            code=env.code,
        )
        run_id = self.store.put_meta(run.to_bytes(), KIND_META)
        self.store.flush()
        crash_point("run.after-object")
        remember(self.records, run_id, run, inputs.key)
        return run_id, run

    def run_once(
        self,
        spec: RunSpec,
        environ: Mapping[str, str],
        *,
        who: str,
        stdout: IO[Any] | int | None = None,
    ) -> tuple[str, Run]:
        """``mlv run``: check, hash the inputs, run, record. Never answered from the run cache."""
        check_spec(self.root, spec)
        env = self.store_env(capture_env(environ)[0])
        inputs = self.read_inputs(spec, env)
        return self.execute(spec, inputs, env, environ, who=who, stdout=stdout)


def remember(records: RunIndex, run_id: str, run: Run, key: str) -> None:
    """File a run in ``records``' run cache and queue it for the next commit."""
    records.cache_run(key, run_id)
    crash_point("run.after-cache")
    records.add_pending(run_id, {p: a.id for p, a in run.outs.items()})


def read_metrics(path: Path) -> dict[str, Any]:
    """A metrics file's values by dotted key; empty when it is not JSON or YAML."""
    from mlv.runs.params import flatten, load_params

    try:
        return plain(flatten(load_params(path)))
    except Exception:  # a metrics file we cannot read is recorded as an output all the same
        return {}


def plain(value: Any) -> Any:
    """A value canonical JSON can hold: NaN and infinities, dates and odd keys as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf", "-inf": a diverged loss is still a metric
    if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
        return str(value)  # beyond 64 bits, as canonical JSON holds no such integer
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def parse_params_option(
    values: list[str], cwd: str | os.PathLike[str]
) -> dict[str, tuple[str, ...]]:
    """``-p`` values, ``[FILE:]KEY[,KEY…]``, as params file (absolute) -> keys.

    FILE is relative to ``cwd`` and defaults to params.yaml there; a FILE with no
    keys (``-p other.yaml:``) means every key in it.
    """
    found: dict[str, list[str]] = {}
    for value in values:
        file, sep, keys = value.rpartition(":")
        if not sep:
            file = "params.yaml"
        path = str(Path(cwd, file))
        found.setdefault(path, []).extend(k for k in keys.split(",") if k)
    return {path: tuple(dict.fromkeys(keys)) for path, keys in found.items()}
