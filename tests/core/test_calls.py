"""Elevate to a call: the built-in handler opens a tel: URI with the system's handler (an
argument list, never a shell) and the call is recorded in the history."""

from __future__ import annotations

import stat

import pytest

from tray_agent.core.errors import TrayAgentError
from tray_agent.hookspecs import hookimpl


@pytest.fixture
def opener(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A stand-in for xdg-open that records the URI it was given."""
    log = tmp_path / "opened.txt"
    script = tmp_path / "fake-xdg-open"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> {log}\n"
                      "[ \"$FAIL\" = 1 ] && { echo 'no handler for tel' >&2; exit 4; }\nexit 0\n")
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


def test_unknown_call_handler_is_named(make_app, monkeypatch):
    monkeypatch.setenv("TRAY_AGENT_LOAD_PLUGINS", "tel_call_handler")
    app = make_app()
    sms = app.inbox.add_channel("fake-sms", "SMS", "+14155550100")
    from tray_agent.channels import InboundMessage

    app.inbox.receive(sms.id, InboundMessage("SM1", "+14155550199", "x"))
    conv = app.inbox.list_inbox(app.agent.id).items[0].id
    with pytest.raises(TrayAgentError, match="no call handler 'pbx'; installed: tel"):
        app.inbox.elevate_to_call(app.agent.id, conv, "pbx")


# -- softphones: the scheme the user chose, and a handler really registered for it -----------


@pytest.fixture
def desktop(home, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Empty XDG data/config dirs (no app registered for any scheme) and ``install(scheme)``,
    which adds a softphone's .desktop file whose program records the URI it was given. Only
    the built-in call handler loads (a PBX plugin may be installed beside it)."""
    monkeypatch.setenv("TRAY_AGENT_LOAD_PLUGINS", "tel_call_handler")
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_DATA_DIRS", "XDG_CONFIG_DIRS"):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / var.lower()))
    for var in ("TRAY_AGENT_TEL_OPENER", "XDG_CURRENT_DESKTOP", "DESKTOP_SESSION", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    dialled = tmp_path / "dialled.txt"
    phone = tmp_path / "softphone"
    phone.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$1\" >> {dialled}\n")
    phone.chmod(0o755)

    def install(scheme: str) -> None:
        apps = tmp_path / "xdg" / "xdg_data_home" / "applications"
        apps.mkdir(parents=True, exist_ok=True)
        (apps / f"softphone-{scheme}.desktop").write_text(
            "[Desktop Entry]\nType=Application\nName=Softphone\n"
            f"Exec={phone} %u\nMimeType=x-scheme-handler/{scheme};\n")

    install.dialled = dialled  # type: ignore[attr-defined]
    return install


def _doctor_handlers(home):  # type: ignore[no-untyped-def]
    import json

    from click.testing import CliRunner

    from tray_agent.cli import cli

    out = CliRunner().invoke(cli, ["--home", str(home.data.parent), "doctor", "--json"])
    assert out.exit_code == 0, out.output
    return {h["name"]: h for h in json.loads(out.output)["call_handlers"]}


def test_doctor_says_no_app_is_registered_for_tel_links(desktop, home):
    tel = _doctor_handlers(home)["tel"]
    assert tel["available"] is False
    assert "x-scheme-handler/tel" in tel["detail"]


def test_doctor_checks_the_chosen_scheme_not_tel(desktop, home, monkeypatch):
    desktop("tel")
    monkeypatch.setenv("TRAY_AGENT_CALLS_URI_SCHEME", "sip")
    sip = _doctor_handlers(home)["tel"]
    assert sip["available"] is False and "x-scheme-handler/sip" in sip["detail"]
    desktop("sip")
    sip = _doctor_handlers(home)["tel"]
    assert sip["available"] is True and "softphone-sip.desktop" in sip["detail"]


def test_call_opens_the_sip_uri_with_the_registered_softphone(desktop, home, make_app, monkeypatch):
    desktop("sip")
    # xdg-open hands scheme URIs to their handler only in a graphical session; the softphone
    # here is a script, so the session's name is all it needs.
    monkeypatch.setenv("DISPLAY", ":0")
    home.config_file.write_text('[calls]\nuri_scheme = "sip"\n')
    app = make_app()
    sms = app.inbox.add_channel("fake-sms", "SMS", "+14155550100")
    from tray_agent.channels import InboundMessage

    app.inbox.receive(sms.id, InboundMessage("SM1", "+14155550199", "call me"))
    conv = app.inbox.list_inbox(app.agent.id).items[0].id
    res = app.inbox.elevate_to_call(app.agent.id, conv)
    for _ in range(50):  # xdg-open starts the softphone and returns; give it a moment to write
        if desktop.dialled.exists() and desktop.dialled.read_text():
            break
        import time

        time.sleep(0.1)
    assert desktop.dialled.read_text().splitlines() == ["sip:+14155550199"]
    assert res.started and "sip:+14155550199" in res.detail
    last = app.inbox.history(app.agent.id, conv).items[-1]
    assert last.meta["handler"] == "tel" and last.meta["started"] is True


def test_an_unknown_uri_scheme_is_refused_by_name(desktop, home, make_app):
    home.config_file.write_text('[calls]\nuri_scheme = "skype"\n')
    app = make_app()
    assert any(f.hook == "configure" and "calls.uri_scheme is 'skype'" in f.error for f in app.plugins.failures)
    tel = app.call_handlers["tel"]
    assert not tel.available() and tel.status() == "calls.uri_scheme is 'skype'; use one of tel, sip, callto"


# -- the call in the history: which handler, whether it started, why not -------------------------


def test_call_without_a_registered_app_is_recorded_as_failed_with_the_reason(desktop, make_app):
    app = make_app()
    sms = app.inbox.add_channel("fake-sms", "SMS", "+14155550100")
    from tray_agent.channels import InboundMessage

    app.inbox.receive(sms.id, InboundMessage("SM1", "+14155550199", "call me"))
    conv = app.inbox.list_inbox(app.agent.id).items[0].id
    with pytest.raises(TrayAgentError, match="no application is registered for tel: links") as exc:
        app.inbox.elevate_to_call(app.agent.id, conv)
    assert exc.value.code == "call_failed"
    last = app.inbox.history(app.agent.id, conv).items[-1]
    assert last.kind == "call" and last.meta["started"] is False
    assert last.meta["handler"] == "tel" and "no application is registered" in last.meta["reason"]
    assert last.text.startswith("Call to +14155550199 failed: ")


def test_cli_call_that_fails_exits_1_with_the_reason(desktop, world_cli):
    from click.testing import CliRunner

    from tray_agent.cli import cli

    home, conv = world_cli
    out = CliRunner().invoke(cli, ["--home", str(home.data.parent), "call", str(conv)])
    assert out.exit_code == 1
    assert out.output.strip().splitlines()[-1].endswith(
        "no application is registered for tel: links (xdg-mime query default x-scheme-handler/tel names none); "
        "install a softphone or choose another calls.uri_scheme.")


class RefusingHandler:
    """An in-process handler that refuses, as a PBX does for an agent without permission."""

    name, label = "refuser", "Refusing PBX"

    def available(self) -> bool:
        return True

    def call(self, number: str, agent_extension: str | None):  # type: ignore[no-untyped-def]
        raise TrayAgentError(f"The PBX refused: extension {agent_extension} may not call out.")

    @hookimpl
    def register_call_handlers(self, register):  # type: ignore[no-untyped-def]
        register(self)


def test_api_call_that_fails_answers_call_failed_and_the_row_says_why(tmp_path):
    from tests.api.live import live_agent

    with live_agent(tmp_path, plugins=(RefusingHandler(),)) as agent, agent.client() as api:
        conv = agent.conversation_of(agent.inbound(agent.sms, "+14155559020", "call me"))
        r = api.post(f"/api/conversations/{conv}/call", json={"handler": "refuser"})
        assert r.status_code == 409
        assert r.json() == {"error": "call_failed", "message": "The PBX refused: extension None may not call out."}
        row = api.get(f"/api/conversations/{conv}/messages").json()["items"][-1]
        assert row["kind"] == "call" and row["text"].startswith("Call to +14155559020 failed: The PBX refused")
        assert row["meta"]["started"] is False and row["meta"]["handler"] == "refuser"
        assert row["meta"]["reason"] == "The PBX refused: extension None may not call out."


class UnsetPbx(RefusingHandler):
    name, label = "pbx", "A PBX that is not set up"

    def available(self) -> bool:
        return False

    def status(self) -> str:
        return "not set up: pbx_url is not set"


def test_when_no_handler_can_call_the_failed_attempt_names_each_ones_reason(desktop, home, clock, fake_channels):
    from tray_agent.app import App
    from tray_agent.channels import InboundMessage
    from tray_agent.config import load
    from tray_agent.default_plugins import tel_call_handler
    from tray_agent.plugins import PluginHost

    host = PluginHost()
    host.register(fake_channels, name="fake_channels")
    host.register(tel_call_handler, name="tel_call_handler")
    host.register(UnsetPbx(), name="unset_pbx")
    app = App(home, load(home), clock=clock, plugins=host, load_entry_points=False)
    try:
        sms = app.inbox.add_channel("fake-sms", "SMS", "+14155550100")
        app.inbox.receive(sms.id, InboundMessage("SM1", "+14155550199", "call me"))
        conv = app.inbox.list_inbox(app.agent.id).items[0].id
        with pytest.raises(TrayAgentError) as exc:
            app.inbox.elevate_to_call(app.agent.id, conv)
        assert exc.value.message.startswith("No call handler can place calls on this machine (pbx: not set up: "
                                            "pbx_url is not set; tel: no application is registered for tel: links")
        row = app.inbox.history(app.agent.id, conv).items[-1]
        assert row.meta["started"] is False and row.meta["handler"] == "none" and row.meta["reason"] == exc.value.message
    finally:
        app.close()


def test_the_call_plan_names_number_and_handler_and_dials_nothing(tmp_path):
    from tests.api.live import live_agent

    refuser = RefusingHandler()
    with live_agent(tmp_path, plugins=(refuser,)) as agent, agent.client() as api:
        conv = agent.conversation_of(agent.inbound(agent.sms, "+14155559021", "call me"))
        plan = api.get(f"/api/conversations/{conv}/call").json()
        assert plan == {"number": "+14155559021", "handler": "refuser", "label": "Refusing PBX",
                        "available": True, "detail": ""}
        assert api.get(f"/api/conversations/{conv}/call", params={"handler": "tel"}).json()["handler"] == "tel"
        assert api.get(f"/api/conversations/{conv}/call", params={"handler": "pbx"}).status_code == 404
        assert not [m for m in agent.inbox.history(agent.me.id, conv).items if m.kind == "call"]
