"""Pipeline: the stages as a graph, whether each is up to date and why, their parameters
in a form, and buttons that run the pipeline and commit what it made.

What the page says about a stage is what ``mlv repro --dry-run`` would say: the
pipeline's own decision, taken without the write lock and without writing anything.
Runs and commits are the CLI's, in a child process (``mlv.ui.jobs``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from mlv.api import Repo
from mlv.errors import InvalidArgumentError, MlvError, NotFoundError
from mlv.pipeline.dag import build_plan
from mlv.pipeline.repro import FROZEN, UNCHANGED, WOULD_RESTORE, StageOutcome
from mlv.pipeline.spec import Pipeline, Stage, find_pipeline, load_pipeline
from mlv.runs.params import load_params, lookup
from mlv.runs.params_edit import ParamsEdit, parse_like, plan_params_edit, write_params_edit
from mlv.ui.graphs import layered_layout
from mlv.ui.jobs import Job, JobBusyError, JobRunner, jobs_of
from mlv.ui.site import NavItem, form_of, query_int, repo_path, site_of

NAV = NavItem("Pipeline", "/pipeline", 70)
# A form field naming a parameter: "<params file>::<dotted key>".
FIELD_SEPARATOR = "::"
# How long a commit may take before the page stops waiting and shows its log instead.
COMMIT_WAIT_SECONDS = 120.0
# Polling of a running job's log, in milliseconds.
POLL_MS = 500
# The graph's nodes, and the gap between its layers, in pixels.
NODE_WIDTH, NODE_HEIGHT, LAYER_GAP = 180, 34, 56


@dataclass(frozen=True)
class StageRow:
    stage: Stage
    status: str  # "up to date", "changed", "frozen", "unknown"
    css: str
    reason: str


@dataclass(frozen=True)
class ParamField:
    file: str
    key: str
    value: Any
    stages: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.file}{FIELD_SEPARATOR}{self.key}"

    @property
    def editable(self) -> bool:
        return isinstance(self.value, (bool, int, float, str))

    @property
    def kind(self) -> str:
        return "null" if self.value is None else type(self.value).__name__

    @property
    def shown(self) -> str:
        if isinstance(self.value, str):
            return self.value
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        if isinstance(self.value, (int, float)):
            return repr(self.value)
        return json.dumps(self.value, default=str)  # a list, or a date YAML read


# -- reading the pipeline ----------------------------------------------------------------


def _pipeline_or_none(root: Path) -> Pipeline | None:
    return load_pipeline(root) if find_pipeline(root) is not None else None


def _outcomes(request: Request) -> tuple[dict[str, StageOutcome], str]:
    """What a dry run decides for each stage, or why it could not decide."""
    try:
        with site_of(request).repo() as repo:
            result = repo.repro(dry_run=True)
    except MlvError as exc:
        return {}, str(exc)
    return {outcome.stage: outcome for outcome in result.stages}, ""


def _row(stage: Stage, outcome: StageOutcome | None) -> StageRow:
    if outcome is None:
        return StageRow(stage, "unknown", "status-not-yet", "")
    if outcome.status == UNCHANGED:
        return StageRow(stage, "up to date", "status-identical", outcome.reason)
    if outcome.status == FROZEN:
        return StageRow(stage, "frozen", "status-not-yet", outcome.reason)
    reason = outcome.reason
    if outcome.status == WOULD_RESTORE:
        reason = (
            "its outputs differ from those of an earlier run with these inputs, "
            "which the run cache can put back"
        )
    return StageRow(stage, "changed", "status-close", reason)


def _stages_context(request: Request, pipeline: Pipeline) -> dict[str, Any]:
    outcomes, problem = _outcomes(request)
    rows = [_row(stage, outcomes.get(name)) for name, stage in pipeline.stages.items()]
    plan = build_plan(pipeline)
    edges = [(source, name) for name in plan.order for source in sorted(plan.upstream[name])]
    layout = layered_layout(
        list(pipeline.stages),
        edges,
        node_width=NODE_WIDTH,
        node_height=NODE_HEIGHT,
        gap_y=LAYER_GAP,
    )
    return {
        "rows": rows,
        "status_of": {row.stage.name: row for row in rows},
        "edges": edges,
        "layout": layout,
        "node_width": NODE_WIDTH,
        "node_height": NODE_HEIGHT,
        "decision_problem": problem,
    }


def _scope(pipeline: Pipeline, stage_name: str) -> list[Stage]:
    if not stage_name:
        return list(pipeline.stages.values())
    if stage_name not in pipeline.stages:
        names = ", ".join(pipeline.stages) or "(none)"
        raise InvalidArgumentError(
            f"no stage named {stage_name!r} in {pipeline.file}; stages: {names}"
        )
    return [pipeline.stages[stage_name]]


def _param_fields(root: Path, stages: list[Stage]) -> tuple[list[ParamField], list[str]]:
    """The single values the stages read, with their values in the params files now."""
    users: dict[tuple[str, str], list[str]] = {}
    values: dict[tuple[str, str], Any] = {}
    problems: list[str] = []
    loaded: dict[str, dict[str, Any]] = {}
    for stage in stages:
        for file, keys in stage.params.items():
            if file not in loaded:
                try:
                    loaded[file] = load_params(root / file, name=file)
                except MlvError as exc:
                    problems.append(str(exc))
                    loaded[file] = {}
                    continue
            for key, value in _leaves(loaded[file], keys, file, problems):
                users.setdefault((file, key), []).append(stage.name)
                values[(file, key)] = value
    fields = [ParamField(f, k, values[(f, k)], tuple(users[(f, k)])) for f, k in users]
    return fields, problems


def _leaves(
    doc: dict[str, Any], keys: tuple[str, ...], file: str, problems: list[str]
) -> list[tuple[str, Any]]:
    """Each dotted key a stage names, spread into the single values under it."""
    from mlv.runs.params import flatten

    if not keys:
        return list(flatten(doc).items())
    found: list[tuple[str, Any]] = []
    for key in keys:
        try:
            value = lookup(doc, key)
        except MlvError as exc:
            problems.append(f"{file}: {exc}")
            continue
        if isinstance(value, dict) and value:
            found.extend((f"{key}.{k}", v) for k, v in flatten(value).items())
        else:
            found.append((key, value))
    return found


# -- the page ----------------------------------------------------------------------------


def pipeline_page(request: Request) -> Response:
    return _render_page(request, request.query_params.get("stage", "").strip())


def _render_page(
    request: Request, stage_name: str, notice: str = "", status: int = 200
) -> Response:
    site = site_of(request)
    runner = jobs_of(request)
    context: dict[str, Any] = {
        "title": "Pipeline",
        "active": NAV.url,
        "pipeline": None,
        "selected": stage_name,
        "notice": notice,
        "job": runner.current or runner.latest,
        "poll_ms": POLL_MS,
    }
    try:
        pipeline = _pipeline_or_none(site.root)
    except MlvError as exc:
        context["load_problem"] = str(exc)
        return site.render(request, "pipeline.html", context, status)
    if pipeline is None:
        return site.render(request, "pipeline.html", context, status)
    scope = _scope(pipeline, stage_name)  # an unknown stage is bad input, not a broken file
    try:
        stages = _stages_context(request, pipeline)
    except MlvError as exc:  # a cycle, say: the file is wrong, and the page says how
        context["load_problem"] = str(exc)
        return site.render(request, "pipeline.html", context, status)
    fields, problems = _param_fields(site.root, scope)
    context.update(stages, pipeline=pipeline, fields=fields, params_problems=problems)
    return site.render(request, "pipeline.html", context, status)


# -- parameters --------------------------------------------------------------------------


async def params_preview(request: Request) -> Response:
    form = await form_of(request)
    return await _in_thread(_preview, request, form)


def _preview(request: Request, form: dict[str, str]) -> Response:
    site = site_of(request)
    _, edits = _planned_edits(request, form)
    return site.render(request, "_pipeline_diff.html", {"edits": [e for e in edits if e.changed]})


async def params_save(request: Request) -> Response:
    form = await form_of(request)
    return await _in_thread(_save, request, form)


def _save(request: Request, form: dict[str, str]) -> Response:
    # One save at a time, and none beside a run starting: each checks the file is as
    # it planned, then writes, and two at once could both pass the check.
    with _CHANGING:
        _refuse_while_busy(jobs_of(request))
        stage_name, edits = _planned_edits(request, form)
        changed = [edit for edit in edits if edit.changed]
        for edit in changed:
            write_params_edit(edit)
    if changed:
        notice = "Saved " + ", ".join(edit.name for edit in changed) + "."
    else:
        notice = "Nothing to save: every value is as the params files hold it."
    return _render_page(request, stage_name, notice)


def _planned_edits(request: Request, form: dict[str, str]) -> tuple[str, list[ParamsEdit]]:
    """The stage the form was for, and the edit of each params file its values ask for."""
    root = site_of(request).root
    pipeline = _pipeline_or_none(root)
    if pipeline is None:
        raise InvalidArgumentError("there is no mlv.yaml or dvc.yaml, so no parameters to set")
    stage_name = form.get("stage", "").strip()
    fields, problems = _param_fields(root, _scope(pipeline, stage_name))
    if problems:
        raise InvalidArgumentError(problems[0])
    known = {field.name: field for field in fields}
    changes: dict[str, dict[str, Any]] = {}
    for name, text in form.items():
        if FIELD_SEPARATOR not in name:
            continue
        field = known.get(name)
        if field is None:
            file, _, key = name.partition(FIELD_SEPARATOR)
            raise InvalidArgumentError(
                f"{key!r} in {file!r} is not a parameter of "
                + (f"stage '{stage_name}'" if stage_name else "the pipeline")
            )
        if not field.editable:
            continue
        value = parse_like(text, field.value, field.key)
        if value != field.value or type(value) is not type(field.value):
            changes.setdefault(field.file, {})[field.key] = value
    edits = [
        plan_params_edit(root / repo_path(file), values, name=file)
        for file, values in changes.items()
    ]
    return stage_name, edits


# -- running and committing --------------------------------------------------------------


async def run_pipeline(request: Request) -> Response:
    form = await form_of(request)
    return await _in_thread(_run, request, form)


def _run(request: Request, form: dict[str, str]) -> Response:
    site = site_of(request)
    pipeline = _pipeline_or_none(site.root)
    if pipeline is None:
        raise InvalidArgumentError("there is no mlv.yaml or dvc.yaml to run")
    stage_name = form.get("stage", "").strip()
    _scope(pipeline, stage_name)  # refuses a stage that is not there
    args = ["repro"] + (["--", stage_name] if stage_name else [])
    label = f"mlv repro {stage_name}".strip()
    try:
        with _CHANGING:
            job = jobs_of(request).start(label, [args])
    except JobBusyError as exc:
        raise HTTPException(409, str(exc)) from None
    return site.render(request, "_job.html", {"job": job, "poll_ms": POLL_MS})


async def commit_pipeline(request: Request) -> Response:
    form = await form_of(request)
    return await _in_thread(_commit, request, form)


def _commit(request: Request, form: dict[str, str]) -> Response:
    site = site_of(request)
    message = form.get("message", "").strip()
    if not message:
        raise InvalidArgumentError("a commit needs a message: say what it records and why")
    pipeline = _pipeline_or_none(site.root)
    if pipeline is None:
        raise InvalidArgumentError("there is no mlv.yaml or dvc.yaml whose results to commit")
    runner = jobs_of(request)
    _refuse_while_busy(runner)
    with site.repo() as repo:
        before = repo.refs.head().commit
        tracked = _tracked_deps(repo, pipeline, before)
    paths = _committed_paths(site.root, pipeline, tracked)
    steps = [["add", *paths], ["commit", "-m", message]]
    try:
        job = runner.start("mlv commit", steps)
    except JobBusyError as exc:
        raise HTTPException(409, str(exc)) from None
    if not job.wait(COMMIT_WAIT_SECONDS):
        return site.render(request, "_job.html", {"job": job, "poll_ms": POLL_MS})
    with site.repo() as repo:
        after = repo.refs.head().commit
    made = after if job.exit_code == 0 and after != before else None
    lines, _, _ = job.lines_after(0)
    error = next((line for line in reversed(lines) if line.startswith("mlv: error:")), "")
    context = {"job": job, "commit_id": made, "error": error.removeprefix("mlv: error: ")}
    return site.render(request, "_pipeline_commit.html", context, 200 if made else 409)


def _tracked_deps(repo: Repo, pipeline: Pipeline, head: str | None) -> list[str]:
    """The stages' inputs the last commit holds: an edited script is committed with the
    outputs it made, or the commit would record runs whose code it does not hold. An
    input mlv does not track (code git keeps) is left to git."""
    if head is None:
        return []
    tree = repo.read_commit(head).tree
    deps = dict.fromkeys(d for stage in pipeline.stages.values() for d in stage.deps)
    return [d for d in deps if repo.objects.entry_at(tree, d) is not None]


def _committed_paths(root: Path, pipeline: Pipeline, tracked_deps: list[str]) -> list[str]:
    """The pipeline file, its params files, the outputs there are and the tracked inputs:
    what a run made and what it was made from."""
    paths = [pipeline.file, *tracked_deps]
    for stage in pipeline.stages.values():
        paths.extend(stage.params)
        paths.extend(out.path for out in stage.outs)
    return [p for p in dict.fromkeys(paths) if (root / p).exists()]


def _refuse_while_busy(runner: JobRunner) -> None:
    running = runner.current
    if running is not None:
        raise HTTPException(409, str(JobBusyError(running)))


# -- jobs --------------------------------------------------------------------------------


def job_log(request: Request) -> Response:
    site = site_of(request)
    job = _job(request)
    after = query_int(request, "after", 0)
    lines, dropped, upto = job.lines_after(after)
    context: dict[str, Any] = {
        "job": job,
        "lines": lines,
        "dropped": dropped,
        "upto": upto,
        "poll_ms": POLL_MS,
    }
    if not job.running:
        # The stages shown again, as the run left them; a pipeline file the run (or
        # someone) broke must not cost the page the log that says what happened.
        try:
            pipeline = _pipeline_or_none(site.root)
            if pipeline is not None:
                context.update(_stages_context(request, pipeline), pipeline=pipeline, refresh=True)
        except MlvError:
            pass
    return site.render(request, "_job_log.html", context)


def stop_job(request: Request) -> Response:
    """Stop a running job, as Ctrl-C would; its log poll shows the end."""
    job = _job(request)
    job.stop()
    return PlainTextResponse(f"{job.label} (job {job.id}) stopped", status_code=200)


def _job(request: Request) -> Job:
    job = jobs_of(request).get(request.path_params["job_id"])
    if job is None:
        raise NotFoundError(
            f"no job {request.path_params['job_id']!r}: it ran before this server started, or never"
        )
    return job


async def _in_thread(function: Any, *args: Any) -> Response:
    """A blocking part of an async endpoint (the form is read asynchronously), in the pool."""
    from starlette.concurrency import run_in_threadpool

    response: Response = await run_in_threadpool(function, *args)
    return response


# Held while parameters are written or a job is started (see ``_save``).
_CHANGING = threading.Lock()

routes = [
    Route("/pipeline", pipeline_page),
    Route("/pipeline/params/preview", params_preview, methods=["POST"]),
    Route("/pipeline/params", params_save, methods=["POST"]),
    Route("/pipeline/run", run_pipeline, methods=["POST"]),
    Route("/pipeline/commit", commit_pipeline, methods=["POST"]),
    Route("/jobs/{job_id}/log", job_log),
    Route("/jobs/{job_id}/stop", stop_job, methods=["POST"]),
]
