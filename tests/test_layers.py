"""Imports point down the layer stack only, no packages import each other in a cycle, and
the CLI starts without loading heavy libraries.

Checked by parsing the source with ``ast`` (every import, lazy ones inside functions
and ``TYPE_CHECKING`` blocks included), never by importing it: the checks are those of
``python -m mlv.devtools.layers``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from mlv.devtools import layers
from mlv.devtools.layers import SRC, STACK

LIBRARY = ("core", "store", "model", "repo")
UI_ONLY = ("typer", "rich", "click")


@cache
def _graph() -> layers.Graph:
    return layers.import_graph()


@cache
def _imports(path: Path) -> tuple[str, ...]:
    return layers.imports(path)


def _sources(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in _sources(package):
        for module in _imports(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{layers.module_name(path)} imports {module}")
    return bad


def test_the_packages_exist() -> None:
    for package in (*LIBRARY, "cli"):
        assert _sources(package), package


def test_every_package_has_its_place_in_the_stack() -> None:
    assert sorted(set(_graph()) - set(STACK)) == []
    assert len(set(STACK)) == len(STACK)


@pytest.mark.parametrize("package", STACK)
def test_package_imports_only_lower_layers(package: str) -> None:
    rank = STACK.index(package)
    above = {target for target in _graph().get(package, {}) if STACK.index(target) > rank}
    assert sorted(above) == [], _graph()[package]


def test_no_packages_import_each_other_in_a_cycle() -> None:
    assert layers.cycles(_graph()) == []


def test_the_library_lies_under_everything_and_the_cli_on_top() -> None:
    assert STACK[: len(LIBRARY) + 2] == ("errors", "version", *LIBRARY)
    assert STACK[-3:] == ("cli", "__main__", "devtools")


def test_errors_module_stands_alone() -> None:
    assert [m for m in _imports(SRC / "errors.py") if m.startswith("mlv")] == []


@pytest.mark.parametrize("package", LIBRARY)
def test_library_never_imports_ui_toolkits(package: str) -> None:
    assert _violations(package, UI_ONLY) == []


# The capabilities built on the core repository. Each is handed the parts it uses, typed
# by the protocols of mlv.repo.protocols; only the function that joins a capability to
# the core's extension points (its composition root) sees the whole core repository.
CAPABILITIES = (
    "remote",
    "gitcode",
    "runs",
    "tables",
    "pipeline",
    "lineage",
    "compare",
    "reproduce",
    "actions",
    "githooks",
    "ci",
)
COMPOSITION_ROOTS = ("mlv.tables.extension", "mlv.gitcode.extension")


@pytest.mark.parametrize("package", CAPABILITIES)
def test_capabilities_take_protocols_not_the_core_repository(package: str) -> None:
    assert package in STACK
    bad = []
    for path in _sources(package):
        name = layers.module_name(path)
        for module in _imports(path):
            # The package root is the facade too: `from mlv import Repo`.
            facade = module in ("mlv", "mlv.api")
            core = module == "mlv.repo.repository" and name not in COMPOSITION_ROOTS
            if facade or core:
                bad.append(f"{name} imports {module}")
    assert bad == []


def test_only_the_composition_roots_see_the_core() -> None:
    for module in COMPOSITION_ROOTS:
        path = SRC / (module.removeprefix("mlv.").replace(".", "/") + ".py")
        assert "mlv.repo.repository" in _imports(path), module


def test_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    # Guards for the checker itself: no import may slip past it.
    assert "mlv.api" in _imports(SRC / "__init__.py")  # inside __getattr__
    fake = tmp_path / "fake.py"
    fake.write_text(
        "from . import sibling\n"
        "from ..cli.main import app\n"
        "def f():\n"
        "    import typer\n"
        "    from mlv import repo\n"
        "    from mlv import Repo\n"
    )
    assert layers.imports(fake, "mlv.store") == (
        "mlv.store",
        "mlv.cli.main",
        "typer",
        "mlv.repo",  # a subpackage: nothing is taken from the package root
        "mlv",  # Repo is no submodule: it comes from the package root
    )


def _fake_mlv(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "mlv"
    for name, text in {"__init__.py": "", **files}.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    return src


def test_checker_finds_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    src = _fake_mlv(
        tmp_path,
        {
            "repo/__init__.py": "from mlv.runs import x\n",
            "runs/__init__.py": "def f():\n    from mlv import repo\n",
        },
    )
    graph = layers.import_graph(src)
    assert layers.cycles(graph) == [["repo", "runs"]]
    assert layers.violations(graph) == [
        "mlv.repo imports mlv.runs (layer repo is below runs)",
    ]
    assert layers.violations({"gadgets": {}}) == ["gadgets is not in the layer stack"]


def test_layers_command_prints_the_stack_and_fails_on_a_cycle(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "mlv.devtools.layers"]
    ok = subprocess.run(command, capture_output=True, text=True, cwd=SRC.parent)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[-1] == "no upward import, no cycle"
    assert any(line.split()[1:4] == ["repo", "->", "errors,"] for line in lines)
    src = _fake_mlv(
        tmp_path,
        {"cli/__init__.py": "import mlv.api\n", "api.py": "from mlv.cli import app\n"},
    )
    bad = subprocess.run([*command, "--src", str(src)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "cycle: api -> cli -> api" in bad.stderr


HEAVY = ("pyarrow", "networkx", "pandas", "dulwich", "obstore")


def test_cli_start_up_loads_no_heavy_library() -> None:
    code = (
        "import json, sys\n"
        "import mlv.cli.main\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=SRC.parent
    )
    assert json.loads(run.stdout) == []
