"""No import circles in `src/adamae_hf`, counting imports inside functions too (a lazy import hides a circle from
Python but not from a reader)."""

from __future__ import annotations

import ast
from pathlib import Path


PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "src" / "adamae_hf"


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, set[str]]:
    """`{module: {package modules it imports}}` from the source (every `import` / `from ... import`, at any depth).
    `from .x import name` points at `x.name` when that is a module, else at `x`."""
    modules = {_module_name(path, root): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as `[a, b, ..., a]`, or `None`."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_checker_finds_a_circle_including_lazy_imports(tmp_path):
    package = tmp_path / "adamae_hf"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import f\n")
    (package / "b.py").write_text("def f():\n    from .a import g\n")
    (package / "c.py").write_text("from . import a\n")
    graph = import_graph(package)
    assert graph["adamae_hf.c"] == {"adamae_hf.a"}
    assert find_cycle(graph) == ["adamae_hf.a", "adamae_hf.b", "adamae_hf.a"]


def test_no_import_circles_in_the_package():
    graph = import_graph()
    assert {"adamae_hf.conversion", "adamae_hf.hub", "adamae_hf.data.processor"} <= graph.keys()
    assert "adamae_hf.data.processor" in graph["adamae_hf.hub"]  # the processor is saved from beside data/
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
