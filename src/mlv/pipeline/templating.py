"""``${...}`` templating as DVC does it: variables, their sources, and the params keys read."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlv.core.paths import repo_path
from mlv.errors import ParamsKeyError, PipelineError
from mlv.runs.params import load_params, lookup, split_key

# `\${` is DVC's escape for a literal `${`; `$${` is accepted too, as shells and
# compose files spell it.
_TOKEN = re.compile(r"\$\$\{|\\\$\{|\$\{(?P<expr>[^{}]*)\}")

_ABSENT = object()


@dataclass(frozen=True)
class Origin:
    """Where a variable came from: a params file (tracked) or an inline definition (not)."""

    label: str
    file: str | None = None


def render(value: Any) -> str:
    """A value as DVC writes it into a string: booleans as ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_args(mapping: Mapping[Any, Any]) -> str:
    """A mapping as command-line options, as DVC renders a dict inside ``cmd``.

    ``{"lr": 0.1, "fast": true, "layers": [1, 2]}`` -> ``--lr 0.1 --fast --layers 1 2``.
    """
    from mlv.runs.params import flatten

    words: list[str] = []
    for key, value in flatten(mapping).items():
        if isinstance(value, bool):
            if value:
                words.append(f"--{key}")
        elif isinstance(value, str):
            words.append(f"--{key} {shlex.quote(value)}")
        elif isinstance(value, list):
            if any(isinstance(item, (list, dict)) for item in value):
                raise ValueError(f"'{key}' holds nested lists, which cannot be options")
            rendered = [shlex.quote(i) if isinstance(i, str) else render(i) for i in value]
            words.append(" ".join([f"--{key}", *rendered]))
        else:
            words.append(f"--{key} {render(value)}")
    return " ".join(words)


def _copy_dicts(value: Any) -> Any:
    # Contexts are cloned per generated stage; leaves are never mutated, so only
    # the mappings that merges write into need copying.
    if isinstance(value, dict):
        return {key: _copy_dicts(item) for key, item in value.items()}
    return value


class Context:
    """The variables a stage can name, and which file each one came from."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.origins: dict[tuple[str, ...], Origin] = {}
        self.full_files: set[str] = set()

    def clone(self) -> Context:
        new = Context()
        new.data = _copy_dicts(self.data)
        new.origins = dict(self.origins)
        new.full_files = set(self.full_files)
        return new

    def origin_of(self, path: tuple[str, ...]) -> Origin | None:
        for end in range(len(path), 0, -1):
            found = self.origins.get(path[:end])
            if found is not None:
                return found
        return None

    def merge(self, doc: Mapping[Any, Any], origin: Origin, where: str) -> None:
        """Add ``doc``'s variables; redefining one from another source is an error, as in DVC."""

        def walk(into: dict[str, Any], update: Mapping[Any, Any], path: tuple[str, ...]) -> None:
            for key, value in update.items():
                if not isinstance(key, str):
                    continue  # `${...}` can only name text keys
                here = (*path, key)
                current = into.get(key, _ABSENT)
                if isinstance(current, dict) and isinstance(value, Mapping):
                    walk(current, value, here)
                    continue
                if current is not _ABSENT:
                    before = self.origin_of(here)
                    if before is not None and before.file is not None and before == origin:
                        continue  # the same file named twice
                    was = before.label if before else "another source"
                    raise PipelineError(
                        f"{where}: '{'.'.join(here)}' from {origin.label} is already defined "
                        f"by {was}; rename one of them"
                    )
                into[key] = _copy_dicts(value)
                self.origins[here] = origin

        walk(self.data, doc, ())

    def set_local(self, name: str, value: Any, label: str) -> None:
        """Set ``item``/``key`` for one generated stage, hiding any variable of that name."""
        self.origins = {p: o for p, o in self.origins.items() if p[0] != name}
        self.data[name] = value
        self.origins[(name,)] = Origin(label)

    def load_file(
        self, root: Path, rel: str, keys: list[str], where: str, cache: dict[str, dict[str, Any]]
    ) -> None:
        """Merge the params file ``rel`` (repository-relative), or only ``keys`` of it."""
        if rel in self.full_files:
            return
        if rel not in cache:
            if not (root / rel).is_file():
                raise PipelineError(
                    f"{where}: vars file '{rel}' does not exist; create it or fix 'vars'"
                )
            cache[rel] = load_params(root / rel, name=rel)
        doc = cache[rel]
        if not keys:
            self.full_files.add(rel)
            self.merge(doc, Origin(rel, rel), where)
            return
        for key in keys:
            try:
                value = lookup(doc, key)
            except ParamsKeyError as exc:
                raise PipelineError(f"{where}: {rel}: {exc}; fix the key in vars") from None
            nested: Any = value
            for part in reversed(split_key(key)):
                nested = {part: nested}
            self.merge(nested, Origin(rel, rel), where)

    def load_vars(
        self, items: Any, wdir: str, root: Path, where: str, cache: dict[str, dict[str, Any]]
    ) -> None:
        """Load a ``vars:`` list: file names (``file.yaml:key1,key2``) and inline mappings."""
        if not isinstance(items, list):
            raise PipelineError(
                f"{where}: 'vars' must be a list of params files and mappings; "
                "write each one as a list item"
            )
        for index, item in enumerate(items):
            if isinstance(item, str):
                if "${" in item:
                    raise PipelineError(f"{where}: vars cannot use ${{...}}; name the file plainly")
                name, _, keys_text = item.partition(":")
                try:
                    rel = repo_path(name, wdir)
                except ValueError as exc:
                    raise PipelineError(f"{where}: vars file '{name}' {exc}") from None
                keys = [key.strip() for key in keys_text.split(",") if key.strip()]
                self.load_file(root, rel, keys, where, cache)
            elif isinstance(item, dict):
                if "${" in repr(item):
                    raise PipelineError(
                        f"{where}: vars cannot use ${{...}}; write the values plainly"
                    )
                self.merge(item, Origin(f"vars[{index}]"), where)
            else:
                raise PipelineError(
                    f"{where}: vars item {index} is a {type(item).__name__}; "
                    "write a params file name or a mapping of names to values"
                )


@dataclass
class Resolver:
    """Resolves ``${...}`` in one stage's fields and records the params keys they read."""

    ctx: Context
    where: str
    tracked: dict[str, list[str]] = field(default_factory=dict)

    def resolve(self, value: Any, field_name: str) -> Any:
        """``value`` with every string resolved; mapping keys too, as DVC does."""
        if isinstance(value, dict):
            resolved: dict[Any, Any] = {}
            for key, item in value.items():
                new_key = self.resolve(key, field_name)
                if isinstance(new_key, (dict, list)):
                    raise PipelineError(
                        f"{self.where}: the key {key!r} in '{field_name}' becomes a "
                        f"{type(new_key).__name__}; a key must be a single value"
                    )
                resolved[new_key] = self.resolve(item, field_name)
            return resolved
        if isinstance(value, list):
            return [self.resolve(item, field_name) for item in value]
        if isinstance(value, str):
            return self._string(value, field_name)
        return value

    def _string(self, text: str, field_name: str) -> Any:
        if "$" not in text:
            return text
        matches = list(_TOKEN.finditer(text))
        if not matches:
            return text
        first = matches[0]
        if len(matches) == 1 and first.group("expr") is not None and first.group(0) == text:
            # A string that is exactly one `${...}` keeps the value's type.
            value = self._select(first.group("expr"), field_name)
            if field_name == "cmd" and isinstance(value, dict):
                return self._args(value, first.group("expr"))
            return value
        pieces: list[str] = []
        end = 0
        for match in matches:
            pieces.append(text[end : match.start()])
            end = match.end()
            expr = match.group("expr")
            if expr is None:
                pieces.append("${")
                continue
            value = self._select(expr, field_name)
            if field_name == "cmd" and isinstance(value, dict):
                pieces.append(self._args(value, expr))
            elif isinstance(value, (dict, list)):
                kind = "mapping" if isinstance(value, dict) else "list"
                raise PipelineError(
                    f"{self.where}: ${{{expr.strip()}}} in '{field_name}' is a {kind}, which "
                    "cannot go inside a string; name one value in it or loop with foreach"
                )
            else:
                pieces.append(render(value))
        pieces.append(text[end:])
        return "".join(pieces)

    def _args(self, value: dict[Any, Any], expr: str) -> str:
        try:
            return render_args(value)
        except ValueError as exc:
            raise PipelineError(f"{self.where}: ${{{expr.strip()}}} in 'cmd': {exc}") from None

    def _select(self, expr: str, field_name: str) -> Any:
        key = expr.strip()
        try:
            value = lookup(self.ctx.data, key)
        except ParamsKeyError as exc:
            hint = "define it in params.yaml or under vars"
            if not self.ctx.data:
                hint = "there is no params.yaml and no vars; " + hint
            raise PipelineError(
                f"{self.where}: ${{{key}}} in '{field_name}' is not defined ({exc}); {hint}"
            ) from None
        self._track(tuple(split_key(key)))
        return value

    def _track(self, path: tuple[str, ...]) -> None:
        # DVC adds the params keys a stage's templating reads to the stage's params,
        # so a change to them reruns it; inline vars and foreach items are not files.
        origin = self.ctx.origin_of(path)
        if origin is not None and origin.file is not None:
            self._add(origin.file, ".".join(path))
        size = len(path)
        for deeper, deeper_origin in self.ctx.origins.items():
            if len(deeper) > size and deeper[:size] == path and deeper_origin.file is not None:
                self._add(deeper_origin.file, ".".join(deeper))

    def _add(self, file: str, key: str) -> None:
        keys = self.tracked.setdefault(file, [])
        if key not in keys:
            keys.append(key)
