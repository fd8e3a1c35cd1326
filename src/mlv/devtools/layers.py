"""The import graph between mlv's packages, checked against the layer stack.

``python -m mlv.devtools.layers`` prints the graph and the stack and exits 1 on an
import that points up the stack or on a cycle between packages. The source is parsed
with ``ast`` (every import, lazy ones inside functions and ``TYPE_CHECKING`` blocks
included), never imported. ``tests/test_layers.py`` runs the same checks.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import networkx as nx

SRC = Path(__file__).resolve().parents[1]

# Lowest first. A package may import itself and the packages below it, never one above.
# "mlv" is the package root (the version and a lazy Repo); "__main__" is `python -m mlv`.
STACK = (
    # The library: errors, then pure functions, then bytes, objects and the repository.
    "errors",
    "version",
    "core",
    "store",
    "model",
    "repo",
    # Sharing: remotes and what moves objects and refs to and from them.
    "remote",
    # Reading every version from outside: the mlv:// filesystem (fsspec).
    "filesystem",
    # Capabilities, each on those below it.
    "gitcode",
    "runs",
    "pipeline",
    "tables",
    "compare",
    "lineage",
    "reproduce",
    "actions",
    "githooks",
    "demo",
    "ci",
    # The interfaces: the Python API, the package root, the CLI.
    "api",
    "mlv",
    "ui",
    "cli",
    "__main__",
    # Reads the source as text; nothing imports it.
    "devtools",
)

# package -> the packages it imports -> the imports that say so ("mlv.x.y imports mlv.z").
Graph = dict[str, dict[str, list[str]]]


def module_name(path: Path, src: Path = SRC) -> str:
    """The dotted name of the module at ``path``, under the package folder ``src``."""
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, package: str | None = None, src: Path = SRC) -> tuple[str, ...]:
    """Every module that ``path`` imports, as an absolute dotted name.

    ``package`` is the package relative imports start from; by default the one that
    holds ``path``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        module = module_name(path, src)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module != src.name:
                found.append(module)
                continue
            # ``from mlv import repo`` imports the subpackage mlv.repo; only a name that is
            # no submodule (``from mlv import Repo``) is taken from the package root itself.
            names = [alias.name for alias in node.names]
            found.extend(f"{module}.{name}" for name in names if _is_submodule(src, name))
            if not all(_is_submodule(src, name) for name in names):
                found.append(module)
    return tuple(found)


def _is_submodule(src: Path, name: str) -> bool:
    return (src / f"{name}.py").is_file() or (src / name / "__init__.py").is_file()


def package_of(module: str, root: str = SRC.name) -> str | None:
    """The top-level package (or module) of ``root`` that ``module`` lies in: ``mlv.repo.refs``
    -> ``repo``; ``root`` itself for the package root; None outside ``root``."""
    parts = module.split(".")
    if parts[0] != root:
        return None
    return parts[1] if len(parts) > 1 else root


def import_graph(src: Path = SRC) -> Graph:
    """Which package imports which, from every ``.py`` file under ``src``."""
    graph: Graph = {}
    for path in sorted(src.rglob("*.py")):
        source = module_name(path, src)
        package = package_of(source, src.name)
        assert package is not None
        targets = graph.setdefault(package, {})
        for module in imports(path, src=src):
            target = package_of(module, src.name)
            if target is not None and target != package:
                targets.setdefault(target, []).append(f"{source} imports {module}")
    return graph


def violations(graph: Graph, stack: Sequence[str] = STACK) -> list[str]:
    """Every package missing from ``stack``, and every import that points up it."""
    rank = {package: i for i, package in enumerate(stack)}
    found = [f"{p} is not in the layer stack" for p in sorted(graph) if p not in rank]
    for package, targets in sorted(graph.items()):
        for target, evidence in sorted(targets.items()):
            if package in rank and rank.get(target, len(stack)) > rank[package]:
                found.extend(f"{line} (layer {package} is below {target})" for line in evidence)
    return found


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every cycle of packages that import each other, shortest first."""
    digraph = nx.DiGraph([(p, t) for p, targets in graph.items() for t in targets])
    found = []
    for cycle in nx.simple_cycles(digraph):
        start = cycle.index(min(cycle))  # each cycle from its first name: the same every run
        found.append(cycle[start:] + cycle[:start])
    return sorted(found, key=lambda cycle: (len(cycle), cycle))


def render(graph: Graph, stack: Sequence[str] = STACK) -> list[str]:
    """The stack, top first, each package with the packages it imports."""
    lines = ["Layer stack (top first); each package imports only those below it:"]
    width = max(len(p) for p in stack)
    for i, package in reversed(list(enumerate(stack))):
        targets = ", ".join(sorted(graph.get(package, {}), key=stack.index)) or "-"
        lines.append(f"  {i:2}  {package:<{width}}  -> {targets}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlv.devtools.layers", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--src", type=Path, default=SRC, help="the package folder to check")
    args = parser.parse_args(argv)
    graph = import_graph(args.src.resolve())
    for line in render(graph):
        print(line)
    problems = violations(graph)
    problems += [f"cycle: {' -> '.join([*cycle, cycle[0]])}" for cycle in cycles(graph)]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(problems)} problem(s)" if problems else "no upward import, no cycle")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
