"""YAML read as DVC reads it: YAML 1.2 scalars, duplicate keys refused, errors with a line."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from mlv.errors import PipelineError

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"

# Limits that refuse a hostile file before it costs the memory of the machine: the text
# read, and the values its aliases expand to. A file without aliases is limited only by
# its length; aliases (`*name`) may not make it hold more than MAX_EXPANDED_NODES values.
MAX_YAML_CHARS = 64 * 1024 * 1024
MAX_EXPANDED_NODES = 1_000_000


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping names the same key twice; PyYAML would silently keep the last one."""


class ExpansionError(yaml.MarkedYAMLError):
    """Aliases expand the document beyond the limit, or into a value that holds itself."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases expand too far (a "billion laughs") or loop.

    Each distinct node is visited once, so the check costs what the text costs, however
    far the aliases would expand it.
    """
    expanded: dict[int, int] = {}  # id(node) -> values it stands for once aliases expand
    open_nodes: set[int] = set()  # on the current path: meeting one again is a loop
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        key = id(node)
        if closing:
            open_nodes.discard(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in _children(node))
            continue
        if key in expanded:
            continue
        if key in open_nodes:
            raise ExpansionError(
                None,
                None,
                "an alias refers to a value that contains it, which never ends; remove it",
                node.start_mark,
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    total = expanded[id(root)]
    if total > max(MAX_EXPANDED_NODES, len(expanded)):
        raise ExpansionError(
            None,
            None,
            f"its aliases expand it to {total:,} values, over the limit of "
            f"{MAX_EXPANDED_NODES:,} (a YAML alias bomb); write the values out "
            "or use fewer aliases",
            None,
        )


class BoundedSafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader (YAML 1.1, as it reads) with aliases bounded, document by
    document: for files that are data (outputs compared), not pipeline files."""

    def get_node(self) -> yaml.Node | None:
        node = super().get_node()
        if node is not None:
            _check_expansion(node)
        return node


class _Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema, no duplicate keys and bounded aliases."""

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[type, Any]] = set()
        for key_node, _ in node.value:
            # Keys brought in by a `<<` merge may be overridden; only literal repeats are errors.
            if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            marker = (type(key), key)
            if marker in seen:
                raise DuplicateKeyError(None, None, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(marker)
        return super().construct_mapping(node, deep=deep)


# DVC reads YAML with ruamel's 1.2 rules, PyYAML follows 1.1. They differ where it
# matters for params: 1.1 reads `1e-3` as a string and `yes`/`on`/`off` as booleans.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
# Integers before floats: the float pattern matches plain digits too.
_Loader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        # YAML 1.2 spells octal 0o17; a leading zero alone is decimal, unlike 1.1.
        if text[:2].lower() in ("0o", "0x", "0b"):
            return int(text, 0)
        return int(text, 10)
    except ValueError:
        raise yaml.constructor.ConstructorError(
            None, None, f"'{text}' is not an integer", node.start_mark
        ) from None


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).replace("_", "").lower()
    if text.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    if text == ".nan":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise yaml.constructor.ConstructorError(
            None, None, f"'{text}' is not a number", node.start_mark
        ) from None


_Loader.add_constructor(_INT, _construct_int)
_Loader.add_constructor(_FLOAT, _construct_float)


def load_yaml(text: str, name: str) -> Any:
    """Parse one YAML document; errors name ``name`` and the line, as one line."""
    if len(text) > MAX_YAML_CHARS:
        raise _too_long(name)
    try:
        # A SafeLoader subclass: no arbitrary Python objects.
        return yaml.load(text, Loader=_Loader)
    except ExpansionError as exc:
        where = f"line {exc.problem_mark.line + 1}: " if exc.problem_mark else ""
        raise PipelineError(f"{name}: {where}{exc.problem}") from None
    except RecursionError:
        raise PipelineError(f"{name}: values nested too deeply to read; flatten the YAML") from None
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise PipelineError(
            f"{name}: line {line}: {exc.problem}; each key may appear once, "
            "rename or remove one of them"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "not valid YAML").split())
        raise PipelineError(f"{name}: {where}{problem}; fix the YAML there") from None
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise PipelineError(f"{name}: not valid YAML: {problem}") from None


def _too_long(name: str) -> PipelineError:
    return PipelineError(
        f"{name}: longer than {MAX_YAML_CHARS // 2**20} MiB, the most mlv reads as YAML; "
        "split it or keep large data out of YAML"
    )


def read_yaml_text(path: Path, name: str) -> str:
    """The text of the YAML file ``path``, refused past MAX_YAML_CHARS without reading on.

    ``name`` is how errors refer to the file; each error is one line saying what to do.
    """
    try:
        with path.open(encoding="utf-8") as stream:
            text = stream.read(MAX_YAML_CHARS + 1)
    except UnicodeDecodeError:
        raise PipelineError(f"{name}: not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise PipelineError(f"{name}: cannot read: {exc.strerror}") from None
    if len(text) > MAX_YAML_CHARS:
        raise _too_long(name)
    return text


def mlv_yaml_section(root: Path, section: str) -> Any:
    """A top-level section of the root ``mlv.yaml`` (``tables:``, ``hooks:``), or None."""
    path = root / "mlv.yaml"
    if not path.exists():
        return None
    doc = load_yaml(read_yaml_text(path, path.name), path.name)
    return doc.get(section) if isinstance(doc, dict) else None
