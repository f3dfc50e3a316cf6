"""Calling the customer from the window: it asks first, naming the number and the handler,
and the history shows whether the call started or failed (red, with the PBX's reason)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.api.live import LiveAgent, live_agent
from tray_agent.calls import CallResult
from tray_agent.core.errors import TrayAgentError
from tray_agent.hookspecs import hookimpl


class DeskPbx:
    """An in-process PBX handler the test tells to connect or to refuse."""

    name, label = "desk-pbx", "Office PBX"

    def __init__(self) -> None:
        self.refusal: str | None = None
        self.dialled: list[str] = []
        self.answer_after = 0.0  # seconds the PBX takes to answer

    def available(self) -> bool:
        return True

    def call(self, number: str, agent_extension: str | None) -> CallResult:
        self.dialled.append(number)
        time.sleep(self.answer_after)
        if self.refusal:
            raise TrayAgentError(self.refusal)
        return CallResult(True, "The PBX is ringing your extension", call_id="1648861726.7",
                          outcome="the customer's phone is ringing")

    @hookimpl
    def register_call_handlers(self, register):  # type: ignore[no-untyped-def]
        register(self)


PBX = DeskPbx()


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAgent]:
    with live_agent(tmp_path_factory.mktemp("agent"), plugins=(PBX,)) as a:
        yield a


@pytest.fixture(autouse=True)
def fresh_pbx() -> None:
    PBX.refusal, PBX.dialled, PBX.answer_after = None, [], 0.0


def _expect_color(row, rgb: str) -> None:  # type: ignore[no-untyped-def]
    # Retried: the history re-renders on the call's own event, and a row read in between
    # is detached (its computed colour is "").
    expect(row).to_have_css("color", rgb)


def test_the_call_button_and_the_c_key_ask_first_naming_the_number_and_the_handler(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155553101", "call me", name="Cora Caller"))
    window.open(conv)
    window.action("call")
    dialog = window.page.locator("#call-dialog")
    dialog.wait_for()
    assert "+14155553101" in dialog.inner_text() and "Through Office PBX" in dialog.inner_text()
    window.shot("call-confirm")
    dialog.locator("button", has_text="Cancel").click()
    dialog.wait_for(state="detached")
    assert PBX.dialled == [] and not [m for m in a.inbox.history(a.me.id, conv).items if m.kind == "call"]

    window.page.locator("#history").click()  # focus out of the composer: single keys act
    window.page.keyboard.press("c")
    dialog.wait_for()
    window.page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert PBX.dialled == []

    window.page.keyboard.press("c")
    dialog.wait_for()
    window.page.keyboard.press("Enter")  # the focused Call button
    row = window.page.locator("#history .msg.kind-call.call-started")
    row.wait_for()
    assert PBX.dialled == ["+14155553101"]
    assert "Call started" in row.inner_text() and "the customer's phone is ringing" in row.inner_text()
    assert "via Office PBX" in row.inner_text()
    _expect_color(row, "rgb(26, 127, 55)")  # --ok
    window.shot("call-started")


def test_a_failed_call_is_red_with_the_reason_and_a_started_one_stays_green(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155553102", "call me", name="Fay Failed"))
    window.open(conv)
    PBX.refusal = "Your extension 1005 has no outbound call permission; ask the PBX administrator."
    PBX.answer_after = 1.5
    window.action("call")
    window.page.locator("#call-dialog button[type=submit]").click()
    window.page.locator("#call-dialog button[type=submit]:disabled", has_text="Calling…").wait_for()
    assert "no outbound call permission" in window.toast()
    row = window.page.locator("#history .msg.kind-call.call-failed")
    row.wait_for()
    text = row.inner_text()
    assert "Call failed" in text and "Call to +14155553102 failed: Your extension 1005 has no outbound call permission" in text
    assert "via Office PBX" in text
    _expect_color(row, "rgb(198, 40, 40)")  # --danger, not --ok
    assert window.page.locator("#history .msg.kind-call.call-started").count() == 0
    window.shot("call-failed")


def test_the_dialog_warns_when_no_handler_can_call_and_the_attempt_is_recorded_failed(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155553103", "call me"))
    window.open(conv)
    tel = a.app.call_handlers["tel"]
    opener = tel.opener
    PBX.available = lambda: False  # type: ignore[method-assign]
    PBX.status = lambda: "not set up: pbx_url is not set"  # type: ignore[attr-defined]
    tel.opener = ["/nonexistent/xdg-open"]
    try:
        window.action("call")
        dialog = window.page.locator("#call-dialog")
        dialog.wait_for()
        warning = dialog.locator(".call-warning").inner_text()
        assert warning.startswith("This call will probably fail: desk-pbx: not set up: pbx_url is not set; "
                                  "tel: no program to open tel: links")
        dialog.locator("button[type=submit]").click()
        row = window.page.locator("#history .msg.kind-call.call-failed")
        row.wait_for()
        assert "No call handler can place calls on this machine" in row.inner_text()
    finally:
        del PBX.available, PBX.status  # type: ignore[attr-defined]
        tel.opener = opener
    assert PBX.dialled == []
