"""The layout the README's "How it is built" section draws is the code's: every module or
package it names exists, and every package of tray_agent/ is named."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def layout() -> dict[str, bool]:
    """The paths in the layout block (relative to the repo), each with whether it is named
    at the top level of tray_agent/."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## How it is built", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\ntray_agent/\n", 1)[1].split("```", 1)[0]
    out: dict[str, bool] = {}
    parent = "tray_agent/"
    for line in block.splitlines():
        m = re.match(r"( *)(\S+)", line)
        if not m:
            continue
        depth, name = len(m.group(1)), m.group(2)
        if depth == 2:
            path = "tray_agent/" + name
            out[path] = True
            parent = path if name.endswith("/") else "tray_agent/"
        elif depth == 4:
            out[parent + name] = False
    return out


def test_every_path_the_readme_names_exists() -> None:
    missing = [p for p in layout() if not (ROOT / p).exists()]
    assert not missing, f"the README names what the code does not have: {missing}"


def test_every_package_of_tray_agent_is_in_the_readme() -> None:
    named = {p for p, top in layout().items() if top}
    pkg = ROOT / "tray_agent"
    packages = {f"tray_agent/{d.name}/" for d in pkg.iterdir() if (d / "__init__.py").exists()}
    # Every package; small contracts (calls.py, notify.py, ...) may stay unnamed.
    missing = sorted(packages - named)
    assert not missing, f"packages the README's layout leaves out: {missing}"
