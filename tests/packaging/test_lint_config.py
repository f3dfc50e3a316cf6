"""The type gate checks every first-party plugin's package: a plugin added under plugins/
is named in ``[tool.mypy] files`` (a glob there would also match the .egg-info folders an
editable install leaves beside the packages, and mypy refuses those)."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_mypy_checks_every_first_party_plugin_package_and_nothing_else() -> None:
    files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    packages = sorted(p.relative_to(REPO).as_posix() for p in REPO.glob("plugins/*/tray_agent_*")
                      if p.is_dir() and not p.name.endswith(".egg-info"))
    assert sorted(f for f in files if f.startswith("plugins/")) == packages
    assert all((REPO / f).is_dir() and not f.endswith(".egg-info") for f in files)
