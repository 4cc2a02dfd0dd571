"""Every third-party module the package imports is declared in pyproject.toml (a transitive
dependency that happens to be installed is not enough: its parent may drop it)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _imported_top_levels(root: Path) -> set[str]:
    found: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_runtime_imports_are_declared_dependencies() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_normalise(re.split(r"[=<>!~\[; ]", d, maxsplit=1)[0]) for d in project["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    third_party = _imported_top_levels(REPO / "src") - set(sys.stdlib_module_names) - {"aim_engine"}
    undeclared = {}
    for module in sorted(third_party):
        dists = distributions.get(module, [module])
        if not declared & {_normalise(d) for d in dists}:
            undeclared[module] = dists
    assert undeclared == {}, "declare these in pyproject.toml [project.dependencies]"


def _optional_imports(root: Path) -> set[str]:
    """Modules imported by name at run time (`importlib.import_module("x")`): optional ones."""
    found: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value.split(".")[0])
    return found


def test_optional_imports_are_declared_in_the_render_group() -> None:
    """What render imports only where it is installed (the CEL library) is locked like the rest,
    in the `render` dependency group that `scripts/bootstrap` installs and the image leaves out."""
    groups = tomllib.loads((REPO / "pyproject.toml").read_text())["dependency-groups"]
    declared = {_normalise(re.split(r"[=<>!~\[; ]", d, maxsplit=1)[0]) for d in groups["render"]}
    distributions = importlib.metadata.packages_distributions()
    optional = _optional_imports(REPO / "src")
    assert optional, "render's CEL library is imported by name"
    for module in optional:
        assert declared & {_normalise(d) for d in distributions.get(module, [module])}, module
