"""Imports point down the layers only, and the CLI starts without loading heavy libraries.

Checked by parsing the source with ``ast`` (every import, lazy ones inside functions
and ``TYPE_CHECKING`` blocks included), never by importing it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

import mlv

SRC = Path(mlv.__file__).resolve().parent

# STYLE.md, "Layers you can see in the folders". A package not listed here is a
# capability (lineage, pipeline, tables, remotes, ...): above the repository, below the CLI.
# `python -m mlv` (mlv/__main__.py) is an entry point: the interface layer.
LAYERS = {"errors": 0, "core": 1, "store": 2, "model": 3, "repo": 4, "cli": 6, "__main__": 6}
CAPABILITY_LAYER = 5
LIBRARY = ("core", "store", "model", "repo")
UI_ONLY = ("typer", "rich", "click")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path) -> str:
    module = _module_name(path)
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


@cache
def _imports(path: Path, package: str | None = None) -> tuple[str, ...]:
    """Every module that ``path`` imports, as an absolute dotted name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(path) if package is None else package
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
            found.append(module)
            # ``from mlv import repo`` imports the subpackage mlv.repo.
            found.extend(f"{module}.{alias.name}" for alias in node.names if module == "mlv")
    return tuple(found)


def _sources(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def _layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "mlv":
        return None
    if len(parts) == 1:
        return 0  # mlv/__init__.py: the version and a lazy Repo, nothing else
    return LAYERS.get(parts[1], CAPABILITY_LAYER)


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in _sources(package):
        for module in _imports(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{_module_name(path)} imports {module}")
    return bad


def test_the_packages_exist() -> None:
    for package in (*LIBRARY, "cli"):
        assert _sources(package), package


def test_core_imports_no_higher_layer() -> None:
    assert _violations("core", ("mlv.store", "mlv.model", "mlv.repo", "mlv.cli")) == []


def test_store_imports_no_higher_layer() -> None:
    assert _violations("store", ("mlv.model", "mlv.repo", "mlv.cli")) == []


def test_model_imports_no_higher_layer() -> None:
    # The model may use the store's constants (a lower layer); today it does not need to.
    assert _violations("model", ("mlv.repo", "mlv.cli")) == []


def test_repo_does_not_import_the_cli() -> None:
    assert _violations("repo", ("mlv.cli",)) == []


def test_errors_module_stands_alone() -> None:
    assert [m for m in _imports(SRC / "errors.py") if m.startswith("mlv")] == []


@pytest.mark.parametrize("package", LIBRARY)
def test_library_never_imports_ui_toolkits(package: str) -> None:
    assert _violations(package, UI_ONLY) == []


def test_every_import_points_down() -> None:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        source = _module_name(path)
        source_layer = _layer_of(source)
        assert source_layer is not None
        for module in _imports(path):
            target_layer = _layer_of(module)
            if target_layer is not None and target_layer > source_layer and source != "mlv":
                bad.append(
                    f"{source} (layer {source_layer}) imports {module} (layer {target_layer})"
                )
    assert bad == []


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
    )
    assert set(_imports(fake, "mlv.store")) == {
        "mlv.store",
        "mlv.cli.main",
        "typer",
        "mlv",
        "mlv.repo",
    }


HEAVY = ("pyarrow", "networkx", "pandas", "dulwich")


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
