"""Run, environment and reproduction records: what was executed, with what, and what came out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from mlv.errors import FormatError
from mlv.model.fields import (
    require_id,
    require_ids,
    require_int,
    require_list,
    require_object,
    require_size,
    require_str,
    require_str_map,
)
from mlv.model.objects import StoredObject

ARTIFACT_FILE = "file"
ARTIFACT_DIR = "dir"

# Results of comparing a rebuilt output with the recorded one, best first.
IDENTICAL = "identical"
EQUIVALENT = "equivalent"
CLOSE = "close"
DIFFERENT = "different"
MISSING = "missing"  # the rebuilt run did not write the output at all
ACCEPTED = frozenset({IDENTICAL, EQUIVALENT, CLOSE})


def _check_path(path: object, what: str) -> None:
    if (
        not isinstance(path, str)
        or not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(part in ("", ".", "..") for part in path.split("/"))
    ):
        raise FormatError(f"{what} path {path!r} is not a clean relative POSIX path")


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file (id of its content) or a folder (id of its tree) that a run read or wrote."""

    id: str
    kind: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "size": self.size}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Artifact:
        return cls(doc["id"], doc["kind"], doc["size"])

    def check(self, what: str) -> None:
        require_id(self.id, what)
        if self.kind not in (ARTIFACT_FILE, ARTIFACT_DIR):
            raise FormatError(f"{what} has kind {self.kind!r}; expected file or dir")
        require_size(self.size, f"size of {what}")


@dataclass(frozen=True, slots=True)
class ParamsUse:
    """The parameters a run read from one file: the file's content and the values used."""

    artifact: Artifact
    values: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {**self.artifact.to_json(), "values": self.values}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ParamsUse:
        return cls(Artifact.from_json(doc), require_object(doc["values"], "params values"))


def _artifacts(doc: object, what: str) -> dict[str, Artifact]:
    return {
        path: Artifact.from_json(require_object(a, f"{what} {path}"))
        for path, a in require_object(doc, what).items()
    }


def _objects(doc: object, what: str) -> dict[str, dict[str, Any]]:
    """A JSON object whose values are JSON objects (metrics, results)."""
    return {k: require_object(v, f"{what} {k}") for k, v in require_object(doc, what).items()}


@dataclass(frozen=True)
class Env(StoredObject):
    """The interpreter a command ran with: versions, platform and determinism variables.

    ``executable`` is deliberately absent: the same environment installed at another
    path is the same environment.
    """

    TYPE: ClassVar[str] = "env"

    python: str  # "3.11.7"; "" when the command's PATH has no python
    implementation: str  # "CPython"
    platform: str  # platform.platform()
    machine: str  # "x86_64"
    packages: dict[str, str]  # normalised distribution name -> version
    variables: dict[str, str]  # determinism variables that were set

    def body(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "implementation": self.implementation,
            "platform": self.platform,
            "machine": self.machine,
            "packages": self.packages,
            "variables": self.variables,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Env:
        return cls(
            python=body["python"],
            implementation=body["implementation"],
            platform=body["platform"],
            machine=body["machine"],
            packages=require_str_map(body["packages"], "env packages"),
            variables=require_str_map(body["variables"], "env variables"),
        )

    def check(self) -> None:
        for name in ("python", "implementation", "platform", "machine"):
            require_str(getattr(self, name), f"env {name}")
        require_str_map(self.packages, "env packages")
        require_str_map(self.variables, "env variables")


@dataclass(frozen=True)
class Run(StoredObject):
    """One successful execution of a command, and everything it read and wrote.

    Paths are relative to the repository root; ``wdir`` is where the command ran.
    Metrics files are outputs too; ``metrics`` holds the values they held.
    """

    TYPE: ClassVar[str] = "run"

    name: str
    cmd: str
    wdir: str  # "" for the repository root
    deps: dict[str, Artifact]
    outs: dict[str, Artifact]
    params: dict[str, ParamsUse]
    metrics: dict[str, dict[str, Any]]
    env: str  # id of an Env object
    started: int  # seconds since the epoch, UTC
    duration_ms: int
    exit_code: int
    user: str
    host: str
    pipeline: str = ""  # "mlv.yaml" or "dvc.yaml" when a pipeline stage, else ""
    variables: dict[str, str] = field(default_factory=dict)  # determinism variables used
    code: dict[str, Any] = field(default_factory=dict)  # the code version, as in a commit

    def body(self) -> dict[str, Any]:
        # ``code`` is left out when empty, so that runs outside git keep their ids.
        return ({"code": self.code} if self.code else {}) | {
            "name": self.name,
            "cmd": self.cmd,
            "wdir": self.wdir,
            "deps": {p: a.to_json() for p, a in self.deps.items()},
            "outs": {p: a.to_json() for p, a in self.outs.items()},
            "params": {p: u.to_json() for p, u in self.params.items()},
            "metrics": self.metrics,
            "env": self.env,
            "started": self.started,
            "duration_ms": self.duration_ms,
            "exit_code": self.exit_code,
            "user": self.user,
            "host": self.host,
            "pipeline": self.pipeline,
            "variables": self.variables,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Run:
        params = require_object(body["params"], "run params")
        return cls(
            name=body["name"],
            cmd=body["cmd"],
            wdir=body["wdir"],
            deps=_artifacts(body["deps"], "run dependency"),
            outs=_artifacts(body["outs"], "run output"),
            params={
                p: ParamsUse.from_json(require_object(u, f"run params file {p}"))
                for p, u in params.items()
            },
            metrics=_objects(body["metrics"], "run metrics of"),
            env=body["env"],
            started=body["started"],
            duration_ms=body["duration_ms"],
            exit_code=body["exit_code"],
            user=body["user"],
            host=body["host"],
            pipeline=body["pipeline"],
            variables=require_str_map(body["variables"], "run variables"),
            # Left out when empty (see body), so absent is the only way to say "none".
            code=require_object(body.get("code", {}), "run code"),
        )

    def check(self) -> None:
        for name in ("name", "cmd", "wdir", "user", "host", "pipeline"):
            require_str(getattr(self, name), f"run {name}")
        require_id(self.env, "run env")
        require_int(self.started, "run started")
        require_int(self.duration_ms, "run duration_ms", 0)
        require_int(self.exit_code, "run exit_code")
        require_str_map(self.variables, "run variables")
        require_object(self.code, "run code")
        if self.wdir:
            _check_path(self.wdir, "run wdir")
        for group, items in (("dependency", self.deps), ("output", self.outs)):
            for path, artifact in items.items():
                _check_path(path, f"run {group}")
                artifact.check(f"run {group} {path}")
        for path, use in self.params.items():
            _check_path(path, "run params file")
            use.artifact.check(f"run params file {path}")
            require_object(use.values, f"run params values of {path}")
        for path, values in self.metrics.items():
            require_object(values, f"run metrics of {path}")
            if path not in self.outs:
                raise FormatError(f"run metrics file {path} is not one of its outputs")

    def inputs(self) -> dict[str, Artifact]:
        """Everything the run read: its dependencies and its parameter files."""
        return {**self.deps, **{p: u.artifact for p, u in self.params.items()}}


@dataclass(frozen=True)
class Reproduction(StoredObject):
    """One verified re-execution of a commit's runs, and how each output compared."""

    TYPE: ClassVar[str] = "reproduction"

    commit: str
    runs: tuple[str, ...]  # the recorded runs that were re-executed, in order
    results: dict[str, dict[str, Any]]  # output path -> {"result", "detail", ...}
    verdict: str  # "reproduced", "different" or "failed"
    env: str  # id of the Env the reproduction ran in
    drift: dict[str, list[str]]  # "python" or a package -> [recorded, now]
    options: dict[str, Any]  # rtol, atol, exact, target
    user: str
    host: str
    time: int
    duration_ms: int

    def body(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "runs": list(self.runs),
            "results": self.results,
            "verdict": self.verdict,
            "env": self.env,
            "drift": self.drift,
            "options": self.options,
            "user": self.user,
            "host": self.host,
            "time": self.time,
            "duration_ms": self.duration_ms,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Reproduction:
        drift = require_object(body["drift"], "reproduction drift")
        return cls(
            commit=body["commit"],
            runs=require_ids(body["runs"], "reproduction run"),
            results=_objects(body["results"], "reproduction result of"),
            verdict=body["verdict"],
            env=body["env"],
            drift={k: require_list(v, f"reproduction drift of {k}") for k, v in drift.items()},
            options=require_object(body["options"], "reproduction options"),
            user=body["user"],
            host=body["host"],
            time=body["time"],
            duration_ms=body["duration_ms"],
        )

    def check(self) -> None:
        require_id(self.commit, "reproduction commit")
        require_id(self.env, "reproduction env")
        for run in self.runs:
            require_id(run, "reproduction run")
        if self.verdict not in ("reproduced", "different", "failed"):
            raise FormatError(f"reproduction verdict {self.verdict!r} is not known")
        for name, values in self.drift.items():
            for value in require_list(values, f"reproduction drift of {name}"):
                require_str(value, f"reproduction drift of {name}")
        for path, result in self.results.items():
            require_object(result, f"reproduction result of {path}")
        require_object(self.options, "reproduction options")
        require_str(self.user, "reproduction user")
        require_str(self.host, "reproduction host")
        require_int(self.time, "reproduction time")
        require_int(self.duration_ms, "reproduction duration_ms", 0)
