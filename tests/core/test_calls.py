"""Elevate to a call: the built-in handler opens a tel: URI with the system's handler (an
argument list, never a shell) and the call is recorded in the history."""

from __future__ import annotations

import stat

import pytest

from tray_agent.core.errors import TrayAgentError


@pytest.fixture
def opener(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A stand-in for xdg-open that records the URI it was given."""
    log = tmp_path / "opened.txt"
    script = tmp_path / "fake-xdg-open"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> {log}\n[ \"$FAIL\" = 1 ] && {{ echo 'no handler for tel' >&2; exit 4; }}\nexit 0\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("TRAY_AGENT_TEL_OPENER", str(script))
    return log


def test_call_opens_tel_uri_and_is_recorded(opener, make_app):
    app = make_app()
    sms = app.inbox.add_channel("fake-sms", "SMS", "+14155550100")
    from tray_agent.channels import InboundMessage

    app.inbox.receive(sms.id, InboundMessage("SM1", "+1 415 555 0199", "call me"))
    conv = app.inbox.list_inbox(app.agent.id).items[0].id
    res = app.inbox.elevate_to_call(app.agent.id, conv)
    assert opener.read_text().splitlines() == ["tel:+14155550199"]
    assert res.handler == "tel"
    last = app.inbox.history(app.agent.id, conv).items[-1]
    assert last.kind == "call" and last.meta["started"] is True and "tel:+14155550199" in last.text


def test_failed_call_is_recorded_and_reported_in_one_line(opener, make_app, monkeypatch):
    monkeypatch.setenv("FAIL", "1")
    app = make_app()
    sms = app.inbox.add_channel("fake-sms", "SMS", "+14155550100")
    from tray_agent.channels import InboundMessage

    app.inbox.receive(sms.id, InboundMessage("SM1", "+14155550199", "call me"))
    conv = app.inbox.list_inbox(app.agent.id).items[0].id
    with pytest.raises(TrayAgentError, match="could not open tel:\\+14155550199: no handler for tel"):
        app.inbox.elevate_to_call(app.agent.id, conv)
    last = app.inbox.history(app.agent.id, conv).items[-1]
    assert last.kind == "call" and last.meta["started"] is False


def test_unknown_call_handler_is_named(make_app):
    app = make_app()
    sms = app.inbox.add_channel("fake-sms", "SMS", "+14155550100")
    from tray_agent.channels import InboundMessage

    app.inbox.receive(sms.id, InboundMessage("SM1", "+14155550199", "x"))
    conv = app.inbox.list_inbox(app.agent.id).items[0].id
    with pytest.raises(TrayAgentError, match="no call handler 'pbx'; installed: tel"):
        app.inbox.elevate_to_call(app.agent.id, conv, "pbx")
