"""What every platform's spec shares: which modules, data files and distribution metadata
go into the frozen app. Imported by the .spec files (PyInstaller runs them with SPECPATH).

Plugins are found through their entry points and loaded dynamically, so PyInstaller's
import scan cannot see them: each distribution with an entry point in group ``tray_agent``
is bundled explicitly, with its ``*.dist-info`` (``copy_metadata``) so that
``importlib.metadata.entry_points()`` still finds it inside the frozen app.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

REPO = Path(__file__).resolve().parents[2]
ENTRY = str(Path(__file__).resolve().parent / "tray_agent_main.py")
ICONS = REPO / "tray_agent" / "assets" / "icons"
GROUP = "tray_agent"

# Heavy modules the installed app never imports: test tools, other GUI toolkits, the
# Twilio SDK (the plugin speaks HTTP itself; the SDK only checks it in tests), PostgreSQL
# (a team server runs from a normal install, not the desktop bundle).
EXCLUDES = [
    "tkinter", "_tkinter", "pytest", "_pytest", "hypothesis", "playwright", "twilio",
    "psycopg", "psycopg_binary", "psycopg2", "IPython", "numpy", "matplotlib", "pandas",
    "PyQt5", "PyQt6", "PySide2", "PySide6", "qtpy", "tray_agent.testing",
    "setuptools", "pkg_resources", "pip", "lib2to3", "pydoc_data",
]
# The GTK hooks copy every translation and icon theme; the window is a web page, so GTK
# only needs its default icons and the English messages.
HOOKSCONFIG = {"gi": {"icons": ["Adwaita"], "themes": ["Adwaita"], "languages": ["en_US", "en_GB"]}}
# TRAY_AGENT_BUNDLE=headless leaves the desktop GUI toolkits out (a server build).
HEADLESS = os.environ.get("TRAY_AGENT_BUNDLE", "") == "headless"
if HEADLESS:
    EXCLUDES += ["gi", "webview", "pystray", "plyer", "Xlib", "tray_agent.desktop"]


def plugin_distributions() -> list[metadata.Distribution]:
    """Installed distributions (other than tray-agent) with an entry point in our group."""
    found: dict[str, metadata.Distribution] = {}
    for ep in metadata.entry_points(group=GROUP):
        if ep.dist is not None and ep.dist.name != "tray-agent":
            found.setdefault(ep.dist.name, ep.dist)
    return [found[name] for name in sorted(found)]


def _top_packages(dist: metadata.Distribution) -> list[str]:
    modules = {ep.value.split(":")[0].split(".")[0] for ep in dist.entry_points if ep.group == GROUP}
    return sorted(modules)


def _keep(module: str) -> bool:
    return not any(module == e or module.startswith(e + ".") for e in EXCLUDES)


def _source_root(package: str) -> str:
    """The folder holding ``package``. Editable installs are found through an import hook
    PyInstaller's scan does not use, so their folders go on the Analysis path."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"plugin package {package} is not importable")
    return str(Path(list(spec.submodule_search_locations)[0]).parent)


def collect() -> tuple[list[tuple[str, str]], list[str], list[str], list[str]]:
    """(datas, hiddenimports, pathex, plugin distribution names) for the Analysis."""
    datas: list[tuple[str, str]] = []
    pathex: list[str] = [str(REPO)]
    hidden: list[str] = [m for m in collect_submodules("tray_agent") if _keep(m)]
    # Alembic reads the migration scripts from disk, so they ship as files too.
    datas += collect_data_files("tray_agent", include_py_files=True, includes=["core/migrations/**/*.py",
                                                                               "core/migrations/*.mako"])
    datas += collect_data_files("tray_agent", includes=["assets/**/*", "templates/**/*", "sandbox/static/*",
                                                           "py.typed"])
    datas += copy_metadata("tray-agent")
    web_ui = REPO / "web_ui"
    if web_ui.is_dir():
        datas.append((str(web_ui), "web_ui"))
    names = []
    for dist in plugin_distributions():
        names.append(dist.name)
        datas += copy_metadata(dist.name)
        for package in _top_packages(dist):
            pathex.append(_source_root(package))
            hidden += [m for m in collect_submodules(package) if _keep(m)]
            datas += collect_data_files(package)
    # Loaded by name at run time, invisible to the import scan.
    hidden += ["uvicorn.logging", "uvicorn.loops.auto", "uvicorn.protocols.http.auto",
               "uvicorn.protocols.websockets.auto", "uvicorn.lifespan.on", "keyring.backends",
               "sqlalchemy.dialects.sqlite"]
    return datas, sorted(set(hidden)), sorted(set(pathex)), names
