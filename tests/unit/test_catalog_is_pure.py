"""`catalog/` is pure: it imports only `api/` (and itself), does no I/O and reads no clock, so
the same input always gives the same plan (on a cluster, in render, in tests)."""

from __future__ import annotations

import ast
from pathlib import Path

CATALOG = Path(__file__).resolve().parents[2] / "src" / "aim_engine" / "catalog"
# Standard-library modules that do I/O, run things or read clocks.
FORBIDDEN = {
    "os",
    "io",
    "time",
    "socket",
    "asyncio",
    "subprocess",
    "pathlib",
    "random",
    "threading",
    "logging",
}


def test_catalog_imports_only_api_and_no_io_or_clock() -> None:
    problems = []
    for path in sorted(CATALOG.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            modules = []
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            for module in modules:
                top = module.split(".")[0]
                if top == "aim_engine" and not module.startswith(("aim_engine.api", "aim_engine.catalog")):
                    problems.append(f"{path.name}: imports {module}")
                if top in FORBIDDEN or top in ("httpx", "httpx2", "lightkube", "msgspec"):
                    problems.append(f"{path.name}: imports {module}")
            if isinstance(node, ast.Attribute) and node.attr in ("now", "utcnow", "today"):
                problems.append(f"{path.name}:{node.lineno}: reads the clock ({node.attr})")
    assert problems == []
