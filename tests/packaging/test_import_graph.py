"""The modules of tray_agent/ import each other without a cycle: a cycle means a part that
cannot be loaded, tested or replaced on its own (the runner must be able to compose the
API, the runtime and the sandbox, none of which may need the runner back).

Only imports run when a module loads count: those under ``if TYPE_CHECKING:`` and inside
functions are lazy on purpose and are ignored.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tray_agent

ROOT = Path(tray_agent.__file__).parent
PACKAGE = "tray_agent"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def load_time_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module loads (not in functions, not under
    TYPE_CHECKING); those in try/except and module-level if blocks do run, so they count."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, ast.If):
                if not is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                    visit(block)
            elif isinstance(node, (ast.With, ast.ClassDef)):
                visit(node.body)

    visit(tree.body)
    return found


def resolve(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The tray_agent modules an import statement needs loaded.

    Importing ``a.b.c`` loads ``a`` and ``a.b`` first; a module's own parent packages are
    loaded before it anyway, so they count only when a name is taken from one of them
    (``from tray_agent.sandbox import Sandbox`` inside the sandbox package needs its
    ``__init__`` to have run that far: a real cycle if that ``__init__`` imports the module).
    """
    if isinstance(node, ast.Import):
        wanted = [(a.name, False) for a in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        # `from pkg import mod` loads pkg.mod when it is a module; otherwise it reads a name of pkg.
        wanted = [(f"{target}.{a.name}", False) if f"{target}.{a.name}" in known else (target, True)
                  for a in node.names]
    own_parents = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    out: set[str] = set()
    for name, reads_a_name in wanted:
        if not (name == PACKAGE or name.startswith(PACKAGE + ".")):
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in known and (prefix not in own_parents or (reads_a_name and prefix == name)):
                out.add(prefix)
    out.discard(module)
    return out


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    known = set(files)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        edges: set[str] = set()
        for node in load_time_imports(tree):
            edges |= resolve(name, path.name == "__init__.py", node, known)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle (its modules in import order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_modules_of_tray_agent_import_each_other_without_a_cycle() -> None:
    graph = import_graph()
    assert graph.get("tray_agent.run.runner"), "the graph was not read"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_sandbox_needs_neither_the_api_nor_the_runner() -> None:
    graph = import_graph()
    for name, edges in graph.items():
        if name.startswith("tray_agent.sandbox"):
            wrong = sorted(e for e in edges if e.startswith(("tray_agent.api", "tray_agent.run")))
            assert not wrong, f"{name} imports {wrong}"


def test_a_cycle_is_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_lazy_and_type_checking_imports_do_not_count() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import tray_agent.app\n"
        "if TYPE_CHECKING:\n    import tray_agent.api.server\n"
        "def f():\n    import tray_agent.sandbox\n"
        "try:\n    from tray_agent import net\nexcept ImportError:\n    pass\n")
    known = {"tray_agent", "tray_agent.app", "tray_agent.api", "tray_agent.api.server", "tray_agent.sandbox",
             "tray_agent.net", "tray_agent.x"}
    edges: set[str] = set()
    for node in load_time_imports(tree):
        edges |= resolve("tray_agent.x", False, node, known)
    assert edges == {"tray_agent.app", "tray_agent.net"}  # tray_agent itself is loaded before x anyway


def test_a_name_taken_from_the_own_package_counts_a_submodule_does_not() -> None:
    known = {"tray_agent", "tray_agent.sandbox", "tray_agent.sandbox.admin", "tray_agent.sandbox.server"}
    sibling = ast.parse("from tray_agent.sandbox import admin\n").body[0]
    name = ast.parse("from tray_agent.sandbox import Sandbox\n").body[0]
    assert isinstance(sibling, ast.ImportFrom) and isinstance(name, ast.ImportFrom)
    assert resolve("tray_agent.sandbox.server", False, sibling, known) == {"tray_agent.sandbox.admin"}
    assert resolve("tray_agent.sandbox.server", False, name, known) == {"tray_agent.sandbox"}
