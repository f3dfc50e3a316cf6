"""Browser tests: the real web UI in headless Chromium against a real running agent.

One agent per test module (``agent``); a fresh page per test (``window``), opened the way
the tray opens it (``/?token=...``) at the tray's window size. Every test fails if the
page threw, or if the Content-Security-Policy refused anything the UI tried to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.api.live import LiveAgent, live_agent

WINDOW = {"width": 420, "height": 640}  # the pywebview window the tray opens


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAgent]:
    with live_agent(tmp_path_factory.mktemp("agent")) as a:
        yield a


@dataclass
class Window:
    """A page showing the chat window, with what it reported while the test ran."""

    page: "playwright.sync_api.Page"  # noqa: F821
    agent: LiveAgent
    artifacts: Path
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, conversation_id: int | None = None, *, wait: str = ".row, #inbox-empty:not([hidden])",
             resume: bool = False) -> "Window":
        """Open the window at the list (``#/``), at a conversation, or with ``resume``
        where the agent left off (no route, as the tray opens it)."""
        url = self.agent.window_url(conversation_id)
        self.page.goto(url if conversation_id is not None or resume else url + "#/")
        self.page.wait_for_selector(wait, state="attached")
        if conversation_id is not None:
            self.page.wait_for_function(
                "id => document.querySelector(`#history .item[data-conversation]`) && location.hash.endsWith(`/${id}`)",
                arg=conversation_id)
            self.wait_idle()
        return self

    def shot(self, name: str) -> Path:
        path = self.artifacts / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def row(self, conversation_id: int):  # type: ignore[no-untyped-def]
        return self.page.locator(f'#inbox-list .row[data-id="{conversation_id}"]:not([hidden])')

    def open_conversation(self, conversation_id: int) -> None:
        self.page.evaluate("id => { location.hash = `#/conversation/${id}` }", conversation_id)
        self.page.wait_for_function(
            "id => document.querySelector('#conv-name') && !document.querySelector('#conv').hidden"
            " && document.querySelector(`#history .item`) !== null", arg=conversation_id)
        self.wait_idle()

    def message(self, message_id: int):  # type: ignore[no-untyped-def]
        return self.page.locator(f'#history .item[data-id="{message_id}"]')

    def action(self, name: str) -> None:
        self.page.click(f'#conv-actions [data-action="{name}"]')

    def toast(self) -> str:
        self.page.wait_for_selector("#toast:not([hidden])")
        return self.page.inner_text("#toast")

    def wait_idle(self) -> None:
        """Let pending fetches and renders settle (two animation frames)."""
        self.page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


@pytest.fixture
def window(page, agent: LiveAgent, artifacts_dir: Path) -> Iterator[Window]:  # type: ignore[no-untyped-def]
    page.set_viewport_size(WINDOW)
    w = Window(page, agent, artifacts_dir)
    page.on("dialog", lambda d: (w.dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: w.errors.append(f"uncaught: {e}"))
    # CSP refusals are reported on the console ("Refused to ...").
    page.on("console", lambda m: m.type == "error" and "Refused to" in m.text and w.errors.append(m.text))
    yield w
    assert not w.errors, f"the window reported errors: {w.errors}"
