"""Plugins import Tray Agent through one public surface (``from tray_agent import ...``), so
the core can move its internals without breaking a third party; first-party plugins and the
``plugin new`` skeleton hold themselves to it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import tray_agent

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "tray_agent" / "templates" / "plugin"
#: A plugin's tests may use the testing kit too (a pytest plugin shipped with Tray Agent).
TEST_KIT = "tray_agent.testing"
PLACEHOLDERS = {"{{package}}": "pkg", "{{class}}": "Cls", "{{name}}": "n", "{{label}}": "L",
                "{{slug}}": "s", "{{tray_agent_version}}": "0"}


def plugin_sources() -> list[Path]:
    """The code of every first-party plugin (not its tests, which drive the agent's
    internals: its sandbox, its store) and every Python file of the skeleton."""
    code = [p for p in REPO.glob("plugins/*/*/**/*.py")
            if "tests" not in p.relative_to(REPO).parts[2:]]
    code += sorted((REPO / "tray_agent" / "default_plugins").glob("*.py"))
    code += sorted(TEMPLATE.rglob("*.py.tmpl"))
    return sorted(code)


def tray_agent_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) for each import of tray_agent or a module inside it."""
    text = path.read_text(encoding="utf-8")
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    found = []
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "tray_agent"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "tray_agent":
            found.append((node.lineno, node.module or "", [a.name for a in node.names]))
    return found


def surface_violations(path: Path, root: Path = REPO) -> list[str]:
    in_tests = "tests" in path.relative_to(root).parts
    bad = []
    for line, module, names in tray_agent_imports(path):
        if module == "tray_agent" and names and set(names) <= set(tray_agent.__all__):
            continue
        if in_tests and (module == TEST_KIT or module.startswith(TEST_KIT + ".")):
            continue
        bad.append(f"{path.relative_to(root)}:{line}: {module} {', '.join(names)}".rstrip())
    return bad


def test_first_party_plugins_and_the_skeleton_import_only_the_public_surface() -> None:
    sources = plugin_sources()
    assert any("tray_agent_telegram" in str(p) for p in sources) and any(p.suffix == ".tmpl" for p in sources)
    assert [v for p in sources for v in surface_violations(p)] == []


def test_the_scan_catches_an_import_of_an_internal_module(tmp_path: Path) -> None:
    plugin = tmp_path / "plugins" / "tray-agent-x" / "tray_agent_x" / "plugin.py"
    plugin.parent.mkdir(parents=True)
    plugin.write_text("from tray_agent import hookimpl\nfrom tray_agent.core.rules import ChannelRules\n"
                      "import tray_agent.channels\nfrom tray_agent import Inbox\n")
    assert [v.split(": ")[0] for v in surface_violations(plugin, tmp_path)] == [
        "plugins/tray-agent-x/tray_agent_x/plugin.py:2", "plugins/tray-agent-x/tray_agent_x/plugin.py:3",
        "plugins/tray-agent-x/tray_agent_x/plugin.py:4"]
    kit = tmp_path / "plugins" / "tray-agent-x" / "tests" / "test_x.py"
    kit.parent.mkdir()
    kit.write_text("from tray_agent.testing import ChannelConformance\nfrom tray_agent.sandbox import Sandbox\n")
    assert [v.split(": ")[0] for v in surface_violations(kit, tmp_path)] == ["plugins/tray-agent-x/tests/test_x.py:2"]


@pytest.mark.parametrize("name", tray_agent.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(tray_agent, name) is not None


def test_the_type_checking_imports_name_exactly_the_public_surface() -> None:
    # The TYPE_CHECKING block is what editors and mypy see; it must not drift from __all__.
    tree = ast.parse((REPO / "tray_agent" / "__init__.py").read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    typed = {(node.module, a.name) for node in block.body if isinstance(node, ast.ImportFrom) for a in node.names}
    assert typed == {(module, name) for module, names in tray_agent._SURFACE.items() for name in names}
    assert sorted(tray_agent.__all__) == sorted({"__version__"} | {name for _, name in typed})


def test_importing_the_package_stays_cheap() -> None:
    # The idle daemon's footprint: naming the surface must not load it.
    probe = ("import sys, tray_agent; "
             "print(sorted(m for m in sys.modules if m.startswith(('tray_agent.', 'pluggy', 'sqlalchemy'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    loaded = subprocess.run([sys.executable, "-c", "import sys; from tray_agent import ChannelRules; "
                             "print('tray_agent.core.rules' in sys.modules)"],
                            capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "True"
