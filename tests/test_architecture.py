"""The house rules of the layout, checked on the source: who may import Streamlit, no import circle,
short modules, and every third-party import declared in pyproject.toml."""

from __future__ import annotations

import ast
import graphlib
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "cnnviz"
MAX_LINES = 600
# Import names whose distribution is spelled differently in pyproject.toml.
DISTRIBUTIONS = {"PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for inner in ast.walk(node))
    return skipped


def imported_names(path: Path, module: str | None = None) -> list[str]:
    """Every module name an ``import`` anywhere in ``path`` names (in functions too; not under TYPE_CHECKING).

    ``from pkg import name`` yields ``pkg.name`` when that is a cnnviz module, else ``pkg``.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _type_checking_nodes(tree)
    module = module or _module_name(path)
    names: list[str] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                names.append(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return names


def _internal_target(name: str) -> str | None:
    """The cnnviz module an imported name loads last (``cnnviz.a.b.func`` → ``cnnviz.a.b``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def test_the_checker_sees_imports_inside_functions_but_not_type_checking(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import streamlit\n"
                      "def f():\n    import plotly.graph_objects\n    from cnnviz import errors\n")
    assert imported_names(source, module="cnnviz.sample") == ["typing", "plotly.graph_objects", "cnnviz.errors"]


def test_only_the_app_layer_imports_streamlit():
    offenders = [
        f"{name}: imports {imported}"
        for name, path in MODULES.items()
        if not name.startswith("cnnviz.app")
        for imported in imported_names(path)
        if imported == "streamlit" or imported.startswith("streamlit.")
    ]
    assert not offenders, "only cnnviz/app/ may import streamlit:\n" + "\n".join(offenders)


def test_no_import_circle_in_the_package():
    graph = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for imported in imported_names(path):
            target = _internal_target(imported)
            if target and target != name:
                graph[name].add(target)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        pytest.fail("import circle (function-level imports count): " + " -> ".join(err.args[1]))


def test_the_circle_check_finds_a_circle():
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter({"a": {"b"}, "b": {"c"}, "c": {"a"}}).static_order())


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_short(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name].relative_to(REPO)} has {lines} lines (at most {MAX_LINES})"


def test_every_third_party_import_is_declared():
    """Imports at a module's top need the main dependencies; one made only inside functions may come
    from an optional extra other than ``test`` (``pip install -e ".[cluster]"``: Ray)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_distribution_name(spec) for spec in project["dependencies"]}
    optional = {_distribution_name(spec) for extra, specs in project.get("optional-dependencies", {}).items()
                if extra != "test" for spec in specs}
    missing = set()
    for path in MODULES.values():
        lazy = lazily_imported(path)
        for imported in imported_names(path):
            top = imported.split(".")[0]
            if not top or top == "cnnviz" or top in sys.stdlib_module_names:
                continue
            distribution = DISTRIBUTIONS.get(top, top).lower()
            if distribution not in declared and not (top in lazy and distribution in optional):
                missing.add(f"{top} (in {path.relative_to(REPO)})")
    assert not missing, ("imported but not in pyproject.toml's dependencies (an optional extra's package only "
                         "inside functions): " + ", ".join(sorted(missing)))


def lazily_imported(path: Path) -> set[str]:
    """Top-level package names that ``path`` imports only inside functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update(id(inner) for inner in ast.walk(node) if inner is not node)
    tops: dict[str, bool] = {}  # name -> imported only inside functions so far
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            tops[top] = tops.get(top, True) and id(node) in inside
    return {top for top, only_inside in tops.items() if only_inside}


def test_the_declaration_check_tells_lazy_imports_from_top_level_ones(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text("import numpy\nimport scipy\ndef f():\n    import ray\n    import scipy.signal\n"
                      "    from plotly import graph_objects\n")
    assert lazily_imported(source) == {"ray", "plotly"}


def _distribution_name(spec: str) -> str:
    for stop in "<>=!~[; ":
        spec = spec.split(stop)[0]
    return spec.strip().lower()
