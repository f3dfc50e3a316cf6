"""One source for each value: the inbox filters are defined once (the service layer, the API
and the CLI import them; the window's copy is held to them), and the CLI's context decorator
once."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from tray_agent.cli import cli
from tray_agent.core.views import FILTERS

REPO = Path(__file__).resolve().parents[2]
WEB_UI = REPO / "web_ui"


def _python_sources(under: str) -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for p in (REPO / under).rglob("*.py")}


def run(home, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--home", str(home.data.parent), *args])


def test_the_filters_are_written_once_in_the_python_code() -> None:
    spelled = re.compile(r"""["']unread["']\s*,\s*["']mine["']\s*,\s*["']unassigned["']""")
    where = [p.relative_to(REPO).as_posix() for p, text in _python_sources("tray_agent").items()
             if spelled.search(text)]
    assert where == ["tray_agent/core/views.py"]


def test_the_cli_takes_each_filter_and_names_them_all_for_a_wrong_one(world_cli) -> None:  # type: ignore[no-untyped-def]
    home, conv = world_cli
    for f in FILTERS:
        r = run(home, "inbox", "--filter", f, "--json")
        assert r.exit_code == 0, r.output
        assert [c["id"] for c in json.loads(r.output)["items"]] == ([] if f in ("mine", "archived") else [conv])
    r = run(home, "inbox", "--filter", "mien")
    assert r.exit_code == 2
    named = re.search(r"'mien' is not one of (.+)\.", r.output)
    assert named and re.findall(r"'(\w+)'", named.group(1)) == list(FILTERS)


def test_the_window_keeps_the_same_filters_in_the_same_order() -> None:
    js = (WEB_UI / "js" / "inbox.js").read_text(encoding="utf-8")
    copy = re.search(r"export const FILTERS = (\[[^\]]*\]);", js)
    assert copy and tuple(json.loads(copy.group(1))) == FILTERS
    html = (WEB_UI / "index.html").read_text(encoding="utf-8")
    assert tuple(re.findall(r'data-filter="(\w+)"', html)) == FILTERS  # keys 1-5 follow this order
    empty = re.search(r"const EMPTY = \{(.*?)\};", js, re.S)
    assert empty and tuple(re.findall(r"^\s*(\w+):", empty.group(1), re.M)) == FILTERS


def test_the_cli_context_decorator_is_made_once() -> None:
    made = [p.relative_to(REPO).as_posix() for p, text in _python_sources("tray_agent/cli").items()
            if "make_pass_decorator(Ctx)" in text]
    # (the team server's console passes its own ServerCtx: another object, made once too)
    assert made == ["tray_agent/cli/__init__.py"]
