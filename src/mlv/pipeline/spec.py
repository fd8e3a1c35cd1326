"""Stage files (``mlv.yaml`` or ``dvc.yaml``, in DVC 3 syntax) parsed into stages."""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlv.core.paths import repo_path
from mlv.core.yamlio import load_yaml, read_yaml_text
from mlv.errors import PipelineError
from mlv.pipeline.templating import Context, Resolver, render
from mlv.runs.params import PARAMS_SUFFIXES

__all__ = [
    "DEFAULT_PARAMS",
    "PIPELINE_FILES",
    "OutSpec",
    "Pipeline",
    "PipelineError",
    "Stage",
    "find_pipeline",
    "load_pipeline",
    "parse_pipeline",
]

DEFAULT_PARAMS = "params.yaml"
PIPELINE_FILES = ("mlv.yaml", "dvc.yaml")  # mlv.yaml wins when both exist

# Top-level sections other than `stages` only describe metrics and plots for DVC's
# viewers; they are accepted so that existing files load, and otherwise ignored.
TOP_LEVEL_KEYS = (
    "stages",
    "vars",
    "params",
    "metrics",
    "plots",
    "artifacts",
    "datasets",
    "tables",  # mlv.yaml only: table keys and data contracts (mlv.tables.config)
    "hooks",  # mlv.yaml only: commands around commit and merge (mlv.actions)
)
STAGE_KEYS = (
    "cmd",
    "wdir",
    "deps",
    "params",
    "outs",
    "metrics",
    "plots",
    "frozen",
    "always_changed",
    "desc",
    "meta",
    "vars",
)
_BAD_NAME_CHARS = set("@:/\\")


@dataclass(frozen=True)
class OutSpec:
    path: str  # repository-relative POSIX path, normalised, no trailing slash
    cache: bool = True
    persist: bool = False  # DVC's persist: do not delete before running
    metric: bool = False  # declared under `metrics:`
    plot: bool = False  # declared under `plots:` as a file path


@dataclass(frozen=True)
class Stage:
    name: str  # "train", or "train@0" / "train@lr1" / "train@a-b" for foreach and matrix
    cmd: str  # a list of commands is joined with " && "
    wdir: str  # repository-relative POSIX, "" for the root
    deps: tuple[str, ...]  # repository-relative POSIX paths
    params: dict[str, tuple[str, ...]]  # params file -> dotted keys; () = every key
    outs: tuple[OutSpec, ...]  # outs + metrics + plots, in file order
    frozen: bool = False
    always_changed: bool = False
    desc: str = ""


@dataclass(frozen=True)
class Pipeline:
    file: str  # "mlv.yaml" or "dvc.yaml", relative to the root
    stages: dict[str, Stage] = field(default_factory=dict)  # in file order


def find_pipeline(root: Path) -> Path | None:
    """The stage file at ``root``: ``mlv.yaml`` if present, else ``dvc.yaml``, else None.

    An ``mlv.yaml`` that only describes tables (no ``stages:``) leaves the stages
    to a ``dvc.yaml`` beside it.
    """
    found = [root / name for name in PIPELINE_FILES if (root / name).is_file()]
    if len(found) > 1 and not _declares_stages(found[0]):
        return found[1]
    return found[0] if found else None


def _declares_stages(path: Path) -> bool:
    try:
        text = read_yaml_text(path, path.name)
    except PipelineError:
        return True  # let the parser report what is wrong with it
    return re.search(r"(?m)^stages\s*:", text) is not None


def load_pipeline(root: Path) -> Pipeline:
    """Read and parse the stage file at ``root``."""
    path = find_pipeline(root)
    if path is None:
        raise PipelineError(
            f"no mlv.yaml or dvc.yaml in {root}: write one (see 'mlv repro --help')"
        )
    return parse_pipeline(read_yaml_text(path, path.name), path.name, root)


def parse_pipeline(text: str, file: str, root: Path) -> Pipeline:
    """Parse stage-file ``text``; ``root`` is where params and vars files are read from."""
    doc = load_yaml(text, file)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise PipelineError(f"{file}: the top level must be a mapping with a 'stages:' section")
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            raise PipelineError(
                f"{file}: unknown top-level key '{key}'{_suggest(str(key), TOP_LEVEL_KEYS)}; "
                f"allowed: {', '.join(TOP_LEVEL_KEYS)}"
            )
    if "stages" not in doc:
        raise PipelineError(f"{file}: no 'stages:' section; add one with at least one stage")
    raw_stages = doc["stages"] if doc["stages"] is not None else {}
    if not isinstance(raw_stages, dict):
        raise PipelineError(f"{file}: 'stages' must be a mapping of stage names to stages")

    parser = _Parser(file, root)
    ctx = Context()
    if (root / DEFAULT_PARAMS).is_file():
        ctx.load_file(root, DEFAULT_PARAMS, [], file, parser.cache)
    if doc.get("vars") is not None:
        ctx.load_vars(doc["vars"], "", root, f"{file}: vars", parser.cache)

    stages: dict[str, Stage] = {}
    for name, definition in raw_stages.items():
        for stage in parser.expand(name, definition, ctx):
            if stage.name in stages:
                raise PipelineError(
                    f"{file}: stage '{name}' generates '{stage.name}' twice; "
                    "make the foreach or matrix values unique"
                )
            stages[stage.name] = stage
    return Pipeline(file=file, stages=stages)


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _is_composite(value: Any) -> bool:
    return isinstance(value, (dict, list))


@dataclass
class _Parser:
    file: str
    root: Path
    cache: dict[str, dict[str, Any]] = field(default_factory=dict)

    def expand(self, name: Any, definition: Any, ctx: Context) -> Iterator[Stage]:
        """The stages one entry of ``stages:`` defines: one, or one per foreach/matrix item."""
        if not isinstance(name, str) or not name or _BAD_NAME_CHARS & set(name):
            raise PipelineError(
                f"{self.file}: stage name {name!r} is not allowed; use a name without @ : / \\"
            )
        where = f"{self.file}: stage '{name}'"
        if not isinstance(definition, dict):
            raise PipelineError(f"{where}: must be a mapping with at least 'cmd'")
        if "foreach" in definition:
            yield from self._foreach(name, definition, ctx, where)
        elif "matrix" in definition:
            yield from self._matrix(name, definition, ctx, where)
        elif "do" in definition:
            raise PipelineError(f"{where}: 'do' needs 'foreach'; add the list to loop over")
        else:
            yield self.stage(name, definition, ctx)

    def _foreach(self, name: str, definition: dict[str, Any], ctx: Context, where: str):
        extra = [key for key in definition if key not in ("foreach", "do")]
        if extra:
            raise PipelineError(
                f"{where}: '{extra[0]}' cannot sit beside 'foreach'; move it under 'do'"
            )
        template = definition.get("do")
        if not isinstance(template, dict):
            raise PipelineError(f"{where}: 'foreach' needs a 'do' mapping with the stage to repeat")
        items = Resolver(ctx, where).resolve(definition["foreach"], "foreach")
        if isinstance(items, dict):
            for key, item in items.items():
                suffix = render(key)
                local = ctx.clone()
                local.set_local("item", item, "foreach")
                local.set_local("key", suffix, "foreach")
                yield self.stage(f"{name}@{suffix}", template, local)
        elif isinstance(items, list):
            # As DVC names them: by value for plain items, by position when any is composite.
            by_index = any(_is_composite(item) for item in items)
            for index, item in enumerate(items):
                local = ctx.clone()
                local.set_local("item", item, "foreach")
                suffix = str(index) if by_index else render(item)
                yield self.stage(f"{name}@{suffix}", template, local)
        else:
            raise PipelineError(
                f"{where}: 'foreach' must be a list, a mapping, or ${{name}} of one, "
                f"not a {type(items).__name__}"
            )

    def _matrix(self, name: str, definition: dict[str, Any], ctx: Context, where: str):
        if "do" in definition:
            raise PipelineError(f"{where}: 'matrix' takes the stage keys directly; remove 'do'")
        axes = Resolver(ctx, where).resolve(definition["matrix"], "matrix")
        if not isinstance(axes, dict) or not axes:
            raise PipelineError(f"{where}: 'matrix' must map names to lists of values")
        for axis, values in axes.items():
            if not isinstance(axis, str) or not isinstance(values, list):
                raise PipelineError(
                    f"{where}: matrix entry '{axis}' must be a list of values (or ${{name}} of one)"
                )
        template = {key: value for key, value in definition.items() if key != "matrix"}
        names = list(axes)
        for combination in itertools.product(*(list(enumerate(axes[n])) for n in names)):
            item = {axis: value for axis, (_, value) in zip(names, combination, strict=True)}
            key = "-".join(
                f"{axis}{index}" if _is_composite(value) else render(value)
                for axis, (index, value) in zip(names, combination, strict=True)
            )
            local = ctx.clone()
            local.set_local("item", item, "matrix")
            local.set_local("key", key, "matrix")
            yield self.stage(f"{name}@{key}", template, local)

    def stage(self, name: str, definition: dict[str, Any], ctx: Context) -> Stage:
        """One resolved stage from its definition (``do`` body or plain stage)."""
        where = f"{self.file}: stage '{name}'"
        for key in definition:
            if key not in STAGE_KEYS:
                raise PipelineError(
                    f"{where}: unknown key '{key}'{_suggest(str(key), STAGE_KEYS)}; "
                    f"stage keys are {', '.join(STAGE_KEYS)}"
                )
        if "cmd" not in definition:
            raise PipelineError(f"{where}: no 'cmd'; add the command the stage runs")

        resolver = Resolver(ctx, where)
        wdir = ""
        if definition.get("wdir") not in (None, ""):
            raw = resolver.resolve(definition["wdir"], "wdir")
            wdir = self._path(where, "wdir", raw, "", allow_root=True)
        if definition.get("vars") is not None:
            resolver.ctx = ctx.clone()
            resolver.ctx.load_vars(definition["vars"], wdir, self.root, where, self.cache)

        cmd = ""
        deps: list[str] = []
        params: dict[str, list[str] | None] = {}
        outs: list[OutSpec] = []
        flags = {"frozen": False, "always_changed": False}
        desc = ""
        for key, raw_value in definition.items():
            if key in ("wdir", "vars", "meta"):
                continue
            value = resolver.resolve(raw_value, key)
            if key == "cmd":
                cmd = self._cmd(where, value)
            elif key == "deps":
                for item in self._list(where, key, value):
                    path = self._path(where, "deps", item, wdir)
                    if path not in deps:
                        deps.append(path)
            elif key == "params":
                self._params(where, value, wdir, params)
            elif key in ("outs", "metrics", "plots"):
                outs.extend(self._outs(where, key, value, wdir))
            elif key in flags:
                if not isinstance(value, bool):
                    raise PipelineError(f"{where}: '{key}' must be true or false, not {value!r}")
                flags[key] = value
            elif key == "desc":
                desc = "" if value is None else str(value)

        for file, keys in resolver.tracked.items():
            _add_params(params, file, keys)
        return Stage(
            name=name,
            cmd=cmd,
            wdir=wdir,
            deps=tuple(deps),
            params={file: tuple(keys or ()) for file, keys in params.items()},
            outs=tuple(outs),
            frozen=flags["frozen"],
            always_changed=flags["always_changed"],
            desc=desc,
        )

    def _cmd(self, where: str, value: Any) -> str:
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            # DVC runs list items one after another and stops at the first failure.
            value = " && ".join(value)
        if not isinstance(value, str):
            raise PipelineError(f"{where}: 'cmd' must be a command or a list of commands")
        if not value.strip():
            raise PipelineError(f"{where}: 'cmd' is empty; write the command the stage runs")
        return value

    def _list(self, where: str, key: str, value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise PipelineError(f"{where}: '{key}' must be a list; write each entry as '- item'")
        return value

    def _path(self, where: str, key: str, raw: Any, wdir: str, allow_root: bool = False) -> str:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            raw = render(raw)
        if not isinstance(raw, str):
            raise PipelineError(
                f"{where}: '{key}' entry {raw!r} is not a path; write a file or folder name"
            )
        try:
            path = repo_path(raw, wdir)
        except ValueError as exc:
            raise PipelineError(f"{where}: {key} path '{raw}' {exc}") from None
        if not path and not allow_root:
            raise PipelineError(
                f"{where}: {key} path '{raw}' is the whole repository; name a file or folder in it"
            )
        return path

    def _params(
        self, where: str, value: Any, wdir: str, params: dict[str, list[str] | None]
    ) -> None:
        default = repo_path(DEFAULT_PARAMS, wdir)
        for item in self._list(where, "params", value):
            if isinstance(item, str):
                _add_params(params, default, [self._key(where, default, item)])
                continue
            if not isinstance(item, dict):
                raise PipelineError(
                    f"{where}: params entry {item!r} must be a key or 'file.yaml: [keys]'"
                )
            for name, keys in item.items():
                file = self._path(where, "params", name, wdir)
                if not file.endswith(PARAMS_SUFFIXES):
                    raise PipelineError(
                        f"{where}: params file '{name}' must end in "
                        f"{', '.join(PARAMS_SUFFIXES)}; convert it to YAML, JSON or TOML"
                    )
                if keys is None or keys == []:
                    _add_params(params, file, None)
                elif isinstance(keys, str):
                    _add_params(params, file, [self._key(where, file, keys)])
                elif isinstance(keys, list):
                    _add_params(params, file, [self._key(where, file, k) for k in keys])
                else:
                    raise PipelineError(
                        f"{where}: keys of params file '{name}' must be a list of names"
                    )

    def _key(self, where: str, file: str, key: Any) -> str:
        if not isinstance(key, str) or not key.strip():
            raise PipelineError(f"{where}: params key {key!r} for {file} must be a dotted name")
        return key.strip()

    def _outs(self, where: str, key: str, value: Any, wdir: str) -> Iterator[OutSpec]:
        for item in self._list(where, key, value):
            flags: Any = {}
            if isinstance(item, dict):
                if key == "plots" and _is_plot_definition(item):
                    continue
                if len(item) != 1:
                    raise PipelineError(
                        f"{where}: {key} entry {item!r} must name one path; "
                        "write each path as its own list item"
                    )
                ((item, flags),) = item.items()
                flags = {} if flags is None else flags
                if not isinstance(flags, dict):
                    raise PipelineError(
                        f"{where}: options of {key} path '{item}' must be a mapping "
                        "such as {cache: false}"
                    )
            path = self._path(where, key, item, wdir)
            if path in PIPELINE_FILES:
                raise PipelineError(
                    f"{where}: {key} path '{item}' is the pipeline file itself; "
                    "a stage cannot write it"
                )
            for flag in ("cache", "persist"):
                if not isinstance(flags.get(flag, False), bool):
                    raise PipelineError(
                        f"{where}: '{flag}' of {key} path '{item}' must be true or false"
                    )
            # Other options (desc, remote, push, type, labels, x, y, template...) only
            # matter to DVC's remotes and viewers.
            yield OutSpec(
                path=path,
                cache=flags.get("cache", True),
                persist=flags.get("persist", False),
                metric=key == "metrics",
                plot=key == "plots",
            )


def _is_plot_definition(item: dict[Any, Any]) -> bool:
    # A plot that draws columns from other files (`y: {file.csv: col}`) names no
    # file of its own; it describes a chart, not an output.
    if len(item) != 1:
        return True
    (options,) = item.values()
    return isinstance(options, dict) and any(
        isinstance(options.get(axis), dict) for axis in ("x", "y")
    )


def _add_params(params: dict[str, list[str] | None], file: str, keys: list[str] | None) -> None:
    if file in params and params[file] is None:
        return
    if keys is None:
        params[file] = None
        return
    known = params.setdefault(file, [])
    assert known is not None
    for key in keys:
        if key not in known:
            known.append(key)
