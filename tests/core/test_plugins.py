"""The plugin contract: hooks documented, built-ins loaded by entry point, and a plugin
that raises never takes the agent down or loses a message."""

from __future__ import annotations

import inspect
import json

from click.testing import CliRunner

from tray_agent import hookspecs
from tray_agent.channels import ChannelType
from tray_agent.cli import cli
from tray_agent.core.rules import ChannelRules
from tray_agent.hookspecs import hookimpl
from tray_agent.plugins import PluginHost
from tests.support import ICON


def test_every_hook_is_documented():
    hooks = [f for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "tray_agent_spec")]
    assert {h.__name__ for h in hooks} >= {"register_channel_types", "register_call_handlers",
                                           "inbox_event", "register_commands", "register_notifiers"}
    for h in hooks:
        assert h.__doc__ and len(h.__doc__.strip()) > 40, h.__name__


def test_builtin_call_handler_is_loaded_through_the_entry_point_group(make_app):
    app = make_app()
    info = {i.name: i for i in app.plugins.info()}
    assert info["tel_call_handler"].distribution == "tray-agent"
    assert "register_call_handlers" in info["tel_call_handler"].hooks
    assert "tel" in app.call_handlers


def test_load_plugins_variable_selects_which_plugins_load(make_app, monkeypatch):
    monkeypatch.setenv("TRAY_AGENT_LOAD_PLUGINS", "")
    assert make_app().call_handlers == {}


class ExplodingPlugin:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def inbox_event(self, event, inbox):  # type: ignore[no-untyped-def]
        raise RuntimeError("CRM is down")


class ListeningPlugin:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def inbox_event(self, event, inbox):  # type: ignore[no-untyped-def]
        self.seen.append(event.type)


def test_a_raising_plugin_is_recorded_and_others_keep_working(make_app, home):
    app = make_app(entry_points=False)
    bad, good = ExplodingPlugin(), ListeningPlugin()
    app.plugins.register(bad, name="crm_sync")
    app.plugins.register(good, name="listener")
    sms = app.inbox.add_channel("fake-sms", "SMS", "+14155550100")
    from tray_agent.channels import InboundMessage

    mid = app.inbox.receive(sms.id, InboundMessage("SM1", "+14155550199", "hello"))
    app.flush_events()
    assert mid and "message.created" in good.seen
    assert any(e.plugin == "crm_sync" and "CRM is down" in e.error for e in app.recent_plugin_errors())
    # `doctor` (another process in real life) shows it from the store.
    result = CliRunner().invoke(cli, ["--home", str(home.data.parent), "doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert any(e["plugin"] == "crm_sync" for e in report["plugin_errors"])
    listed = json.loads(CliRunner().invoke(cli, ["--home", str(home.data.parent), "plugins", "--json"]).output)
    assert any(p["name"] == "crm_sync" and "inbox_event: RuntimeError: CRM is down" in p["errors"][0] for p in listed)


def test_duplicate_channel_type_is_refused_and_reported(make_app):
    class Dup:
        @hookimpl
        def register_channel_types(self, register):  # type: ignore[no-untyped-def]
            register(ChannelType("fake-sms", "Impostor", ChannelRules(business_can_start=True), ICON, lambda c, x: None))

    host = PluginHost()
    host.register(Dup(), name="impostor")
    from tests.support import FakeChannels

    host.register(FakeChannels(), name="fake_channels")
    from tray_agent.app import App

    app = App(plugins=host, load_entry_points=False)
    try:
        assert app.channel_types["fake-sms"].label == "Fake SMS"
        assert any(f.plugin == "impostor" and "already registered" in f.error for f in host.failures)
    finally:
        app.close()


def test_a_plugin_failing_to_register_does_not_stop_the_others():
    class Broken:
        @hookimpl
        def register_call_handlers(self, register):  # type: ignore[no-untyped-def]
            raise ImportError("missing SDK")

    host = PluginHost()
    host.register(Broken(), name="broken")
    host.load_entry_points()
    names = [getattr(h, "name", None) for _, h in host.collect("register_call_handlers")]
    assert "tel" in names
    assert [i.errors for i in host.info() if i.name == "broken"] == [["register_call_handlers: ImportError: missing SDK"]]
