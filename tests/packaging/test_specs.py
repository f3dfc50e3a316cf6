"""The macOS and Windows build files cannot be built here; check what can be checked
without their platforms: the specs parse, and carry the settings the issue asks for."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYI = REPO / "packaging" / "pyinstaller"


def calls(spec: Path, name: str) -> list[ast.Call]:
    tree = ast.parse(spec.read_text(), str(spec))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]


def kwarg(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name:
            return ast.literal_eval(kw.value) if not isinstance(kw.value, (ast.Call, ast.Attribute, ast.Name,
                                                                           ast.BinOp)) else kw.value
    raise KeyError(name)


def test_macos_spec_builds_a_menu_bar_app_bundle() -> None:
    (bundle,) = calls(PYI / "tray-agent-macos.spec", "BUNDLE")
    plist_node = next(kw.value for kw in bundle.keywords if kw.arg == "info_plist")
    keys = {ast.literal_eval(k): v for k, v in zip(plist_node.keys, plist_node.values, strict=True)}  # type: ignore[attr-defined]
    assert ast.literal_eval(keys["LSUIElement"]) is True  # no Dock icon: lives in the menu bar
    assert kwarg(bundle, "name") == "Tray Agent.app"
    (exe,) = calls(PYI / "tray-agent-macos.spec", "EXE")
    assert kwarg(exe, "console") is False


def test_windows_spec_has_a_windowed_and_a_console_program() -> None:
    exes = calls(PYI / "tray-agent-windows.spec", "EXE")
    assert {(kwarg(e, "name"), kwarg(e, "console")) for e in exes} == {("Tray Agent", False), ("tray-agent", True)}


def test_windows_installer_adds_a_start_menu_shortcut_and_optional_autostart() -> None:
    iss = (REPO / "packaging" / "windows" / "tray-agent.iss").read_text()
    assert re.search(r'^Name: "\{autoprograms\}\\Tray Agent"; Filename: "\{app\}\\Tray Agent.exe"', iss, re.M)
    assert re.search(r'^Name: "autostart";.*Flags: unchecked', iss, re.M)
    assert re.search(r'^Name: "\{userstartup\}\\Tray Agent";.*Tasks: autostart', iss, re.M)
    assert "PrivilegesRequired=lowest" in iss


def test_every_spec_uses_the_shared_collection_and_excludes_test_tools() -> None:
    for spec in PYI.glob("*.spec"):
        text = spec.read_text()
        assert "common.collect()" in text and "common.EXCLUDES" in text, spec.name
        ast.parse(text)
    common = (PYI / "common.py").read_text()
    assert "copy_metadata" in common and '"pytest"' in common
