"""No import cycles: between modules, and between the kernel and the contracts."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("tds", "schemas", "producers", "streams", "consumers", "projections", "api")


def _imports() -> dict[str, set[str]]:
    """Each module of ours → the modules of ours it imports (typing-only imports too)."""
    paths = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # `from package import module` depends on the module, not on the package.
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in paths
                          else node.module for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = {m for m in found if m in paths and m != name}
    return graph


def test_no_module_imports_itself_back() -> None:
    graphlib.TopologicalSorter(_imports()).prepare()  # raises CycleError naming the cycle


def test_the_contracts_import_nothing_of_the_kernel() -> None:
    # The kernel reads the contracts (retry headers, topic names): the reverse is a cycle.
    back = sorted(f"{a} -> {b}" for a, bs in _imports().items() if a.startswith("schemas")
                  for b in bs if b.split(".")[0] == "tds")
    assert back == []
