"""The import graph of core/: no cycles, and no core module imported inside a function.

A function-level import of a project module hides a cycle instead of removing
it; heavy third-party libraries (mlx, mlx_lm, datasets, ...) may still be
imported inside functions, since the UI must paint before they load.
"""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"


def _module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def _targets(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    """The core modules an import statement reads: ``from core.x import y``
    reads core.x, or only the submodule core.x.y when y is one."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in MODULES]
    base = node.module or ""
    if node.level:  # relative: resolve against this module's package
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
    reads_package = base in MODULES and len(submodules) < len(node.names)
    return [base] * reads_package + submodules


def _imports(module: str) -> tuple[set[str], list[str]]:
    """(core modules imported at module level, function-level imports of core modules as 'line: target')."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    top: set[str] = set()
    nested: list[str] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _targets(child, module):
                    if in_function:
                        nested.append(f"{module}:{child.lineno}: {target}")
                    else:
                        top.add(target)
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, inner)

    visit(tree, False)
    # A package's own __init__ runs before its submodules, which is no cycle:
    # only the names a module reads from another count as edges.
    top.discard(module)
    return top, nested


GRAPH = {m: _imports(m) for m in MODULES}


def test_no_import_cycles_among_core_modules():
    graph = {m: edges for m, (edges, _) in GRAPH.items()}
    done: set[str] = set()
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        if node in stack:
            cycles.append(stack[stack.index(node) :] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph[node]):
            walk(nxt, [*stack, node])
        done.add(node)

    for module in sorted(graph):
        walk(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


# The engine's job bodies import what each job needs: they run on a worker
# thread, while the engine itself is built before the first paint (importing
# every job's modules there would add ~40 modules to the cold start).
DEFERRED_ON_PURPOSE = {"core.runtime.engine"}


def test_no_core_module_imports_another_inside_a_function():
    nested = [line for m, (_, lines) in GRAPH.items() if m not in DEFERRED_ON_PURPOSE for line in lines]
    assert not nested, "function-level imports of core modules:\n" + "\n".join(nested)


def test_the_graph_sees_the_imports():
    # Guard against a parser that finds nothing: known edges must be there.
    assert "core.runtime.events" in GRAPH["core.runtime.engine"][0]
    assert "core.runtime.errors" in GRAPH["core.data.sources"][0]
