"""``mlv repro``: run a pipeline's stages in order, only those whose inputs changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Protocol

from mlv.core.paths import overlaps
from mlv.errors import CommandFailedError, MlvError, StagesFailedError
from mlv.model.runs import Run
from mlv.pipeline.spec import Pipeline, Stage
from mlv.repo.protocols import ObjectReader, RefReader, RunIndex
from mlv.runs.commits import effective_runs
from mlv.runs.environment import capture_env
from mlv.runs.recorder import EnvRecord, Inputs, Recorder, RunSpec, check_spec, remember

# What happened to a stage.
RAN = "ran"
UNCHANGED = "unchanged"  # its outputs are what an earlier run with the same inputs wrote
RESTORED = "restored"  # outputs put back from the run cache, without running
FAILED = "failed"
SKIPPED = "skipped"  # a stage it depends on failed
FROZEN = "frozen"
WOULD_RUN = "would run"
WOULD_RESTORE = "would restore"


@dataclass
class StageOutcome:
    stage: str
    status: str
    reason: str = ""
    run_id: str | None = None
    duration_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReproResult:
    pipeline: str
    stages: list[StageOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(s.status in (FAILED, SKIPPED) for s in self.stages)

    def to_json(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "stages": [s.to_json() for s in self.stages]}


class ReproReporter(Protocol):
    def starting(self, stage: Stage, reason: str) -> None: ...

    def finished(self, outcome: StageOutcome) -> None: ...


class _Silent:
    def starting(self, stage: Stage, reason: str) -> None:
        pass

    def finished(self, outcome: StageOutcome) -> None:
        pass


def stage_spec(pipeline: Pipeline, stage: Stage) -> RunSpec:
    return RunSpec(
        name=stage.name,
        cmd=stage.cmd,
        wdir=stage.wdir,
        deps=stage.deps,
        outs=tuple(o.path for o in stage.outs),
        params=dict(stage.params),
        metrics=tuple(o.path for o in stage.outs if o.metric),
        persist=frozenset(o.path for o in stage.outs if o.persist),
        pipeline=pipeline.file,
    )


def repro(
    recorder: Recorder,
    refs: RefReader,
    targets: Sequence[str] = (),
    *,
    environ: Mapping[str, str],
    who: str,
    force: bool = False,
    dry_run: bool = False,
    keep_going: bool = False,
    downstream: bool = False,
    reporter: ReproReporter | None = None,
    stdout: IO[Any] | int | None = None,
) -> ReproResult:
    """Bring the pipeline's outputs up to date; return what happened to each stage.

    Stages run and are recorded through ``recorder``; ``refs`` name HEAD, whose history
    says which runs a reused one need not be queued behind.

    Raises ``StagesFailedError`` (a ``CommandFailedError``) when a stage fails (after the
    others, with ``keep_going``); it carries the result of every stage so far.
    """
    from mlv.pipeline.dag import build_plan, check_missing_deps
    from mlv.pipeline.spec import load_pipeline

    reporter = reporter or _Silent()
    root = recorder.root
    pipeline = load_pipeline(root)
    plan = build_plan(pipeline, targets, downstream=downstream)
    check_missing_deps(pipeline, root, plan.order)
    env_obj, _ = capture_env(environ)
    env = EnvRecord(env_obj, env_obj.id) if dry_run else recorder.store_env(env_obj)
    result = ReproResult(pipeline.file)
    blocked: set[str] = set()  # failed, skipped or (in a dry run) going to run
    failures: list[CommandFailedError] = []
    carried = _CarriedByHead(recorder.objects, refs)
    for name in plan.order:
        stage = pipeline.stages[name]
        spec = stage_spec(pipeline, stage)
        check_spec(root, spec)
        upstream = sorted(plan.upstream.get(name, set()) & blocked)
        if stage.frozen:
            outcome = StageOutcome(name, FROZEN, "frozen: not checked")
        elif upstream and not dry_run:
            outcome = StageOutcome(name, SKIPPED, f"'{upstream[0]}' failed")
        elif dry_run:
            outcome = _preview(recorder, refs, spec, stage, env, force, upstream)
        else:
            try:
                outcome = _bring_up_to_date(
                    recorder, refs, spec, stage, env, environ, who, force, reporter, stdout, carried
                )
            except CommandFailedError as exc:
                failures.append(exc)
                outcome = StageOutcome(name, FAILED, str(exc))
        if outcome.status in (FAILED, SKIPPED, WOULD_RUN):
            blocked.add(name)
        result.stages.append(outcome)
        reporter.finished(outcome)
        if failures and not keep_going:
            break
    if not dry_run:
        # The pipeline and params files belong with the outputs they describe.
        recorder.artifacts.snapshot([pipeline.file, *_params_files(pipeline, plan.order)])
    if failures:
        first = failures[0]
        if len(failures) == 1 and not keep_going:
            raise StagesFailedError(str(first), first.exit_code, result) from first
        names = [s.stage for s in result.stages if s.status == FAILED]
        raise StagesFailedError(
            f"{len(names)} stage(s) failed: {', '.join(names)}; the others that could run did",
            first.exit_code,
            result,
        )
    return result


def _params_files(pipeline: Pipeline, order: Sequence[str]) -> list[str]:
    files = {f for name in order for f in pipeline.stages[name].params}
    return sorted(files)


def _bring_up_to_date(
    recorder: Recorder,
    refs: RefReader,
    spec: RunSpec,
    stage: Stage,
    env: EnvRecord,
    environ: Mapping[str, str],
    who: str,
    force: bool,
    reporter: ReproReporter,
    stdout: IO[Any] | int | None,
    carried: _CarriedByHead,
) -> StageOutcome:
    artifacts, records = recorder.artifacts, recorder.records
    inputs = recorder.read_inputs(spec, env)
    reason = "forced" if force else "always changed" if stage.always_changed else ""
    if not reason:
        cached = _cached_run(recorder.objects, records, inputs)
        if cached is not None:
            run_id, run = cached
            if _outputs_match(recorder, run):
                artifacts.snapshot(run.outs)
                _reuse(records, run_id, run, inputs.key, carried)
                return StageOutcome(stage.name, UNCHANGED, "inputs unchanged", run_id)
            try:
                artifacts.restore(run.outs)
            except MlvError:
                pass  # the cached outputs are gone from the store: run it instead
            else:
                _reuse(records, run_id, run, inputs.key, carried)
                return StageOutcome(stage.name, RESTORED, "from the run cache", run_id)
        reason = _why(recorder.objects, records, refs, spec, inputs)
    reporter.starting(stage, reason)
    run_id, run = recorder.execute(spec, inputs, env, environ, who=who, stdout=stdout)
    return StageOutcome(stage.name, RAN, reason, run_id, run.duration_ms)


class _CarriedByHead:
    """The runs that HEAD's history carries for outputs HEAD holds: found once, if asked."""

    def __init__(self, objects: ObjectReader, refs: RefReader) -> None:
        self.objects = objects
        self.refs = refs
        self._ids: set[str] | None = None

    def __contains__(self, run_id: object) -> bool:
        if self._ids is None:
            head = self.refs.head().commit
            self._ids = set(effective_runs(self.objects, head)) if head else set()
        return run_id in self._ids


def _reuse(records: RunIndex, run_id: str, run: Run, key: str, carried: _CarriedByHead) -> None:
    """File a run that was reused rather than executed; queue it unless HEAD carries it.

    A run whose every output HEAD holds, and that HEAD's history already carries, has
    nothing left for a commit to record: queued, it would wait for a commit forever.
    Runs still waiting with other content at those paths are superseded by it, as a
    commit would supersede them; the run cache still finds them.
    """
    if run_id in carried:
        records.cache_run(key, run_id)
        records.drop_pending(
            waiting
            for waiting, outs in records.pending()
            if waiting == run_id or any(overlaps(p, q) for p in outs for q in run.outs)
        )
    else:
        remember(records, run_id, run, key)


def _preview(
    recorder: Recorder,
    refs: RefReader,
    spec: RunSpec,
    stage: Stage,
    env: EnvRecord,
    force: bool,
    upstream: list[str],
) -> StageOutcome:
    if upstream:
        return StageOutcome(stage.name, WOULD_RUN, f"'{upstream[0]}' would run first")
    if force or stage.always_changed:
        return StageOutcome(stage.name, WOULD_RUN, "forced" if force else "always changed")
    inputs = recorder.read_inputs(spec, env, store=False)
    cached = _cached_run(recorder.objects, recorder.records, inputs)
    if cached is None:
        why = _why(recorder.objects, recorder.records, refs, spec, inputs)
        return StageOutcome(stage.name, WOULD_RUN, why)
    run_id, run = cached
    if _outputs_match(recorder, run):
        return StageOutcome(stage.name, UNCHANGED, "inputs unchanged", run_id)
    return StageOutcome(stage.name, WOULD_RESTORE, "from the run cache", run_id)


def _cached_run(objects: ObjectReader, records: RunIndex, inputs: Inputs) -> tuple[str, Run] | None:
    run_id = records.cached_run(inputs.key)
    if run_id is None or not objects.has(run_id):
        return None
    try:
        return run_id, objects.read_run(run_id)
    except MlvError:
        return None


def _outputs_match(recorder: Recorder, run: Run) -> bool:
    import os

    if not all(os.path.lexists(recorder.root / p) for p in run.outs):
        return False
    now = recorder.artifacts.fingerprint(run.outs)
    return all(now[p].id == a.id for p, a in run.outs.items())


def _why(
    objects: ObjectReader, records: RunIndex, refs: RefReader, spec: RunSpec, inputs: Inputs
) -> str:
    """What changed since this stage's last recorded run, in a few words."""
    last = _last_run(objects, records, refs, spec.name)
    if last is None:
        return "never run"
    if last.cmd != spec.cmd:
        return "command changed"
    changed = sorted(
        p
        for p, a in inputs.deps.items()
        if last.deps.get(p, None) is None or last.deps[p].id != a.id
    )
    if changed:
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        return f"{changed[0]}{more} changed"
    keys = sorted(
        f"{k}"
        for f, use in inputs.params.items()
        for k, v in use.values.items()
        if f not in last.params or last.params[f].values.get(k, object()) != v
    )
    if keys:
        return "params changed: " + ", ".join(keys[:3]) + (" …" if len(keys) > 3 else "")
    if set(last.outs) != set(spec.outs):
        return "outputs changed"
    return "environment changed"


def _last_run(objects: ObjectReader, records: RunIndex, refs: RefReader, name: str) -> Run | None:
    """The newest recorded run of a stage: waiting for a commit, or in HEAD's history."""
    for run_id, _ in records.pending():
        run = _read(objects, run_id)
        if run is not None and run.name == name:
            return run
    head = refs.head().commit
    seen = 0
    while head is not None and seen < 50:
        commit = objects.read_commit(head)
        for run_id in commit.runs:
            run = _read(objects, run_id)
            if run is not None and run.name == name:
                return run
        head = commit.parents[0] if commit.parents else None
        seen += 1
    return None


def _read(objects: ObjectReader, run_id: str) -> Run | None:
    try:
        return objects.read_run(run_id)
    except MlvError:
        return None
