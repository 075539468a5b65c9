"""zoo_core's modules import one way only: no import cycle, counting every import (module level, inside functions,
and the framework-specific modules reached through dispatch tables by name); runtime code never imports the test
kit; no import of zoo_core's own modules hides inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import zoo_core

ROOT = Path(zoo_core.__file__).parent
# Layer 5 tools: nothing in the runtime imports them.
TOOLS = ("zoo_core.testing", "zoo_core.cli", "zoo_core.bench", "zoo_core.scaffold", "zoo_core.__main__")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The zoo_core modules an ``from X import a, b`` names: X itself, and a/b where they are submodules."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("zoo_core"):
        return []
    found = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
    if node.module or not found:
        found.append(target)
    return found


def imports_of(module: str) -> list[tuple[str, int, bool]]:
    """(imported zoo_core module, line, inside a function) for every import in ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom):
                out.extend((t, child.lineno, in_function) for t in _resolve(module, path.name == "__init__.py", child))
            elif isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, in_function) for a in child.names if a.name.startswith("zoo_core"))
            elif isinstance(child, ast.Dict):  # dispatch tables: {"torch": "zoo_core.training.torch_loop"}
                out.extend((v.value, v.lineno, in_function) for v in child.values
                           if isinstance(v, ast.Constant) and v.value in MODULES and v.value != module)
            visit(child, nested)

    visit(tree, False)
    return [(t, line, fn) for t, line, fn in out if t != module]


GRAPH = {m: sorted({t for t, _, _ in imports_of(m)}) for m in MODULES}


def _cycles() -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, []):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            strong(v)
    return found


def test_the_graph_sees_imports_at_every_depth():
    """The walker is not blind: module-level, relative-package, in-function and by-name imports all count."""
    assert "zoo_core.factory" in GRAPH["zoo_core"]
    assert "zoo_core.checkpoint.format" in GRAPH["zoo_core.checkpoint.io"]
    assert "zoo_core.training.torch_loop" in GRAPH["zoo_core.training.loop"]  # through the dispatch table
    assert "zoo_core.backends.torch_backend" in GRAPH["zoo_core.backends"]


def test_no_import_cycle_among_zoo_core_modules():
    assert _cycles() == []


def test_runtime_modules_never_import_the_tools():
    offenders = [(m, t, line) for m in MODULES if not m.startswith(TOOLS) and m != "zoo_core"
                 for t, line, _ in imports_of(m) if t.startswith(TOOLS)]
    assert offenders == []


def test_no_module_imports_the_package_root():
    offenders = [(m, line) for m in MODULES for t, line, _ in imports_of(m) if t == "zoo_core"]
    assert offenders == []


def test_no_import_of_zoo_core_modules_inside_functions():
    """Imports inside functions are for optional heavy dependencies only (torch, tensorflow, matplotlib...);
    a zoo_core module is imported at module level (framework-specific ones through a dispatch table by name)."""
    offenders = [(m, t, line) for m in MODULES for t, line, in_fn in imports_of(m)
                 if in_fn and t in MODULES]
    assert offenders == []



def test_every_zoo_error_is_defined_in_errors_py():
    """One module of errors: `zoo.ExportError` is the class export raises, not a twin defined elsewhere."""
    defined = [(m, node.name) for m, path in MODULES.items() if m != "zoo_core.errors"
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.ClassDef) and any(getattr(b, "id", getattr(b, "attr", "")).endswith(
                   ("ZooError", "CheckpointError", "DataError", "HubError", "ExportError", "BenchError"))
                   for b in node.bases)]
    assert defined == []
