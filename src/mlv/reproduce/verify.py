"""``mlv reproduce``: rebuild a commit's outputs in a fresh workspace and prove they match."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from mlv.core.crashpoints import crash_point
from mlv.core.paths import TreeGate, overlaps
from mlv.errors import (
    CommandFailedError,
    InvalidArgumentError,
    MlvError,
    NotFoundError,
    ReproductionFailedError,
)
from mlv.gitcode.workspace import write_code
from mlv.model.runs import ACCEPTED, ARTIFACT_FILE, IDENTICAL, Artifact, Reproduction, Run
from mlv.repo import notes
from mlv.repo.blobs import hash_file
from mlv.repo.ignore import IgnoreRules
from mlv.repo.layout import IGNORE_FILE
from mlv.reproduce.environment import controlled
from mlv.reproduce.executor import run_in
from mlv.runs.artifacts import materialise
from mlv.runs.commits import effective_runs, in_order, producer_of
from mlv.runs.environment import capture_env, drift
from mlv.store.pack import KIND_META

if TYPE_CHECKING:
    from mlv.repo.protocols import Lock, ObjectReader, RevisionResolver, WorkingFiles
    from mlv.repo.records import RunRecords
    from mlv.repo.refs import RefStore
    from mlv.store.objectstore import ObjectStore


@dataclass
class OutputResult:
    path: str
    run: str  # the run's name
    result: str
    detail: str = ""
    max_rel_diff: float | None = None
    values_moved: int | None = None
    recorded: str = ""
    rebuilt: str = ""

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        if doc["max_rel_diff"] is not None and doc["max_rel_diff"] == float("inf"):
            doc["max_rel_diff"] = "inf"
        return doc


@dataclass(frozen=True)
class RunFailure:
    """The recorded run whose command failed in the workspace, and how."""

    run: str  # the run's id
    name: str
    message: str
    exit_code: int  # the status mlv exits with

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReproductionReport:
    commit: str
    id: str = ""
    verdict: str = ""
    runs: list[tuple[str, str]] = field(default_factory=list)  # (run id, name) in order
    outputs: list[OutputResult] = field(default_factory=list)
    drift: dict[str, list[str]] = field(default_factory=dict)
    workspace: str | None = None  # kept on disk, for inspection
    duration_ms: int = 0
    error: str = ""
    notes: list[str] = field(default_factory=list)
    failure: RunFailure | None = None

    @property
    def ok(self) -> bool:
        return self.verdict == "reproduced"

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "id": self.id,
            "verdict": self.verdict,
            "runs": [{"id": r, "name": n} for r, n in self.runs],
            "outputs": [o.to_json() for o in self.outputs],
            "drift": self.drift,
            "workspace": self.workspace,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "notes": self.notes,
            "failure": self.failure.to_json() if self.failure is not None else None,
        }


class ReproduceReporter(Protocol):
    def starting(self, run_id: str, run: Run) -> None: ...

    def compared(self, output: OutputResult) -> None: ...


class _Silent:
    def starting(self, run_id: str, run: Run) -> None:
        pass

    def compared(self, output: OutputResult) -> None:
        pass


@dataclass(frozen=True)
class Tolerance:
    rtol: float = 1e-9
    atol: float = 0.0
    exact: bool = False


def reproduce(
    rev: str,
    *,
    objects: ObjectReader,
    revisions: RevisionResolver,
    worktree: WorkingFiles,
    # The parts themselves: workspaces are written from the store, and the notes
    # (``mlv.repo.notes``) take the store, refs and records as they are.
    store: ObjectStore,
    refs: RefStore,
    records: RunRecords,
    lock: Lock,
    environ: Mapping[str, str],
    who: str,
    target: str | None = None,
    workspace: Path | None = None,
    keep: bool = False,
    tolerance: Tolerance = Tolerance(),
    reporter: ReproduceReporter | None = None,
    stdout: IO[Any] | int | None = None,
) -> ReproductionReport:
    """Re-execute the runs behind ``rev`` (never from the run cache) and compare outputs.

    Raises ``ReproductionFailedError`` (a ``CommandFailedError``, exit code 2) when a
    command fails; the reproduction is recorded as failed first, and its workspace kept.
    The error carries the report, complete up to the failure.

    The runs and code are read through ``objects``; the environment and the
    reproduction are stored in ``store``, and the reproduction is listed in the
    reproductions notes (``refs``, cached in ``records``) under ``lock``. ``target`` is named as
    ``worktree`` names paths, and a ``workspace`` must lie outside its root.
    """
    reporter = reporter or _Silent()
    if tolerance.rtol < 0 or tolerance.atol < 0:
        raise InvalidArgumentError("--rtol and --atol must not be negative")
    commit_id = revisions.resolve(rev)
    commit = objects.read_commit(commit_id)
    runs = effective_runs(objects, commit_id)
    if not runs:
        raise InvalidArgumentError(
            f"commit {commit_id[:12]} holds no output of a recorded run: nothing to reproduce; "
            "record runs with 'mlv run' or 'mlv repro' before committing"
        )
    wanted = None
    if target is not None:
        rel = target = worktree.relpath(target)  # recorded as the repository names it
        producer = producer_of(runs, rel)
        if producer is None:
            raise NotFoundError(
                f"no recorded run behind {commit_id[:12]} wrote {rel}; "
                "see 'mlv show' for the runs and their outputs"
            )
        wanted = [producer]
    order = in_order(runs, wanted)
    space = _workspace(worktree.root, workspace)
    recorded_dir = Path(tempfile.mkdtemp(prefix="mlv-recorded-"))
    report = ReproductionReport(commit_id, runs=[(r, runs[r].name) for r in order])
    begin = time.monotonic()
    env_id: str | None = None
    try:
        # Sources first: a declared input at the same path wins.
        note = write_code(
            [runs[r] for r in order], commit.code, space, objects=objects, store=store
        )
        report.notes.extend([note] if note else [])
        materialise(_inputs(runs, order), space, objects=objects, store=store)
        first = runs[order[0]]
        env_now, _ = capture_env(controlled(environ, first, commit.time))
        env_id = store.put_meta(env_now.to_bytes(), KIND_META)
        report.drift = _drift(objects, [runs[r] for r in order], env_now)
        known = list(objects.flatten(commit.tree))
        ignore = _ignore_rules(objects, commit.tree)
        rebuilt: dict[str, Artifact] = {}  # output path -> what its recorded run wrote
        for run_id in order:
            run = runs[run_id]
            report.notes.extend(_restore_stale_inputs(objects, store, run, rebuilt, space))
            reporter.starting(run_id, run)
            try:
                run_in(
                    space,
                    run,
                    controlled(environ, run, commit.time),
                    known_paths=known,
                    stdout=stdout,
                )
            except CommandFailedError as exc:
                report.verdict = "failed"
                report.error = str(exc)
                report.failure = RunFailure(run_id, run.name, str(exc), exc.exit_code)
                keep = True
                raise ReproductionFailedError(
                    f"{exc}; the workspace is kept for inspection at {space}",
                    exc.exit_code,
                    report,
                ) from None
            rebuilt.update(run.outs)
            for path, artifact in run.outs.items():
                result = _compare(
                    objects, store, path, artifact, space, recorded_dir, run, tolerance, ignore
                )
                report.outputs.append(result)
                reporter.compared(result)
        report.verdict = (
            "reproduced" if all(o.result in ACCEPTED for o in report.outputs) else "different"
        )
    finally:
        report.duration_ms = int((time.monotonic() - begin) * 1000)
        if report.verdict:
            report.id = _record(store, refs, records, lock, report, env_id, who, tolerance, target)
        shutil.rmtree(recorded_dir, ignore_errors=True)
        if keep or workspace is not None:
            report.workspace = str(space)
        else:
            shutil.rmtree(space, ignore_errors=True)
    return report


def _workspace(root: Path, workspace: Path | None) -> Path:
    if workspace is None:
        return Path(tempfile.mkdtemp(prefix="mlv-reproduce-"))
    space = workspace.resolve()
    if space == root or root in space.parents:
        raise InvalidArgumentError(
            f"workspace {workspace} is inside the repository: choose a folder outside it"
        )
    if space.exists() and (not space.is_dir() or any(space.iterdir())):
        raise InvalidArgumentError(f"workspace {workspace} is not an empty folder")
    space.mkdir(parents=True, exist_ok=True)
    return space


def _inputs(runs: Mapping[str, Run], order: list[str]) -> dict[str, Artifact]:
    """What the workspace must hold before the first run: inputs no earlier run writes."""
    written: list[str] = []
    needed: dict[str, Artifact] = {}
    for run_id in order:
        run = runs[run_id]
        for path, artifact in sorted(run.inputs().items()):
            if path in needed or any(overlaps(path, out) for out in written):
                continue
            needed[path] = artifact
        written.extend(run.outs)
    return needed


def _restore_stale_inputs(
    objects: ObjectReader,
    store: ObjectStore,
    run: Run,
    rebuilt: Mapping[str, Artifact],
    space: Path,
) -> list[str]:
    """Give a run the inputs it recorded where an earlier run rebuilt another version.

    That happens when a commit holds an output whose run was not re-run after its
    upstream changed: the run is reproduced as it ran, on what it read then.
    """
    notes = []
    for path, artifact in sorted(run.inputs().items()):
        written = _recorded_id_within(objects, rebuilt, path)
        if written is None or written == artifact.id:
            continue
        # An earlier command may have left symlinks in the workspace: the gate
        # removes what stands at the path, never what a symlink leads to.
        TreeGate(space).remove(path)
        materialise({path: artifact}, space, objects=objects, store=store)
        notes.append(
            f"run '{run.name}' read an older {path} than the commit's pipeline writes "
            "(it was not run again after its inputs changed): reproduced on what it read"
        )
    return notes


def _recorded_id_within(
    objects: ObjectReader, outs: Mapping[str, Artifact], path: str
) -> str | None:
    """The id an earlier run recorded for ``path``: its output, or a file in its folder."""
    if path in outs:
        return outs[path].id
    for out, artifact in outs.items():
        if path.startswith(out + "/") and artifact.kind != ARTIFACT_FILE:
            entry = objects.entry_at(artifact.id, path[len(out) + 1 :])
            return None if entry is None else entry.id
    return None


def _ignore_rules(objects: ObjectReader, tree: str) -> IgnoreRules | None:
    """The commit's own ``.mlvignore``: what its recorded folders left out."""
    entry = objects.entry_at(tree, IGNORE_FILE)
    if entry is None or entry.kind != "file":
        return None
    text = b"".join(objects.iter_content(entry.id)).decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.strip()]
    return IgnoreRules(lines) if lines else None


def _drift(objects: ObjectReader, runs: list[Run], now: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for env_id in dict.fromkeys(r.env for r in runs):
        try:
            recorded = objects.read_env(env_id)
        except MlvError:
            continue
        for name, change in drift(recorded, now).items():
            found.setdefault(name, change)
    return found


def _compare(
    objects: ObjectReader,
    store: ObjectStore,
    path: str,
    artifact: Artifact,
    space: Path,
    recorded_dir: Path,
    run: Run,
    tolerance: Tolerance,
    ignore: IgnoreRules | None,
) -> OutputResult:
    from mlv.compare import compare_paths

    rebuilt = space / path
    if artifact.kind == ARTIFACT_FILE and rebuilt.is_file() and not rebuilt.is_symlink():
        rebuilt_id, _ = hash_file(rebuilt, "file")
        if rebuilt_id == artifact.id:
            return OutputResult(path, run.name, IDENTICAL, recorded=artifact.id, rebuilt=rebuilt_id)
    materialise({path: artifact}, recorded_dir, objects=objects, store=store)
    found = compare_paths(
        recorded_dir / path,
        rebuilt,
        rtol=tolerance.rtol,
        atol=tolerance.atol,
        exact=tolerance.exact,
        skip=None if ignore is None else lambda rel: ignore.ignores(f"{path}/{rel}"),
    )
    rebuilt_id = ""
    if rebuilt.is_file() and not rebuilt.is_symlink():
        rebuilt_id, _ = hash_file(rebuilt, "file")
    return OutputResult(
        path,
        run.name,
        found.result,
        found.detail,
        found.max_rel_diff,
        found.values_moved,
        artifact.id,
        rebuilt_id,
    )


def _record(
    store: ObjectStore,
    refs: RefStore,
    records: RunRecords,
    lock: Lock,
    report: ReproductionReport,
    env_id: str | None,
    who: str,
    tolerance: Tolerance,
    target: str | None,
) -> str:
    """Store the reproduction, so that the commit lists it from now on."""
    if env_id is None:
        return ""
    doc = Reproduction(
        commit=report.commit,
        runs=tuple(r for r, _ in report.runs),
        results={
            o.path: {k: v for k, v in o.to_json().items() if k != "path"} for o in report.outputs
        },
        verdict=report.verdict,
        env=env_id,
        drift=report.drift,
        options={
            "rtol": tolerance.rtol,
            "atol": tolerance.atol,
            "exact": tolerance.exact,
            "target": target or "",
            "error": report.error,
        },
        user=who,
        host=socket.gethostname(),
        time=int(time.time()),
        duration_ms=report.duration_ms,
    )
    with lock:
        reproduction_id = store.put_meta(doc.to_bytes(), KIND_META)
        store.flush()
        crash_point("reproduce.after-object")
        notes.add_reproduction(store, refs, records, report.commit, reproduction_id, doc.time)
    return reproduction_id
