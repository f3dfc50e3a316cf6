"""The hook reference (docs/hooks.md) is generated from the hookspecs' docstrings: every
hook must have one, and the committed page must be what the generator writes today."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tray_agent import hookspecs
from tray_agent.cli import cli
from tray_agent.cli.plugin_kit import hook_functions, hooks_markdown, undocumented_hooks

REPO = Path(__file__).resolve().parents[2]
HOOKS_MD = REPO / "docs" / "hooks.md"


def test_every_hook_has_a_docstring() -> None:
    names = [name for name, _, _ in hook_functions()]
    assert "register_channel_types" in names and "inbox_event" in names
    assert undocumented_hooks() == [], "document these hooks in tray_agent/hookspecs.py"


def test_committed_hook_reference_is_up_to_date() -> None:
    assert HOOKS_MD.read_text(encoding="utf-8") == hooks_markdown(), (
        "docs/hooks.md is stale: run `tray-agent plugin docs` in the repository root")


def test_the_reference_documents_each_hook_with_its_signature_and_text() -> None:
    page = hooks_markdown()
    for name, fn, _ in hook_functions():
        assert f"## `{name}(" in page and f"def {name}(" in page
        assert (fn.__doc__ or "").strip().splitlines()[0] in page


def test_an_undocumented_hook_is_caught(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    @hookspecs.hookspec
    def a_new_hook(thing: object) -> None:
        pass

    monkeypatch.setattr(hookspecs, "a_new_hook", a_new_hook, raising=False)
    assert undocumented_hooks() == ["a_new_hook"]
    r = CliRunner().invoke(cli, ["plugin", "docs", "-o", str(tmp_path / "hooks.md")])
    assert r.exit_code == 1
    assert r.output.strip() == "error: These hooks have no docstring in tray_agent/hookspecs.py: a_new_hook."


def test_plugin_docs_check_fails_on_a_stale_page_and_passes_once_written(tmp_path: Path) -> None:
    page = tmp_path / "docs" / "hooks.md"
    page.parent.mkdir()
    page.write_text("# Hook reference\n\nold text\n")
    stale = CliRunner().invoke(cli, ["plugin", "docs", "-o", str(page), "--check"])
    assert stale.exit_code == 1 and "is out of date" in stale.output
    assert page.read_text() == "# Hook reference\n\nold text\n"  # --check writes nothing
    written = CliRunner().invoke(cli, ["plugin", "docs", "-o", str(page)])
    assert written.exit_code == 0 and page.read_text() == hooks_markdown()
    assert CliRunner().invoke(cli, ["plugin", "docs", "-o", str(page), "--check"]).exit_code == 0
