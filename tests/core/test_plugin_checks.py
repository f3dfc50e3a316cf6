"""What the plugin host checks and shows: a plugin's commands are part of the command line
(``--help`` included), a misspelled hook or a broken ``register_commands`` is that
plugin's error in ``plugins`` and ``doctor``, and ``TRAY_AGENT_TRACE_PLUGINS`` logs hook calls.

The plugins here are installed the way a user installs one: a distribution with entry
points in group ``tray_agent``, found by ``importlib.metadata`` in a real ``tray-agent``
process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from tray_agent import hookimpl
from tray_agent.plugins import PluginHost

PLUGINS = {
    "acme_commands": '''
        import click
        from tray_agent import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command("acme-sync")
            def acme_sync():
                """Copy the inbox's contacts to Acme CRM."""
                click.echo("synced with Acme")
    ''',
    "acme_typo": '''
        from tray_agent import hookimpl

        @hookimpl
        def inbox_evnt(event, inbox):
            pass
    ''',
    "acme_broken": '''
        from tray_agent import hookimpl

        @hookimpl
        def register_commands(cli):
            raise RuntimeError("acme-sdk is not installed")
    ''',
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the distribution tray-agent-acme, as pip would leave it."""
    root = tmp_path_factory.mktemp("site")
    for module, source in PLUGINS.items():
        (root / f"{module}.py").write_text(dedent(source))
    dist = root / "tray_agent_acme-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tray-agent-acme\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tray_agent]\n" + "".join(f"{m} = {m}\n" for m in PLUGINS))
    return root


def tray_agent(site: Path, home: Path, load: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "TRAY_AGENT_LOAD_PLUGINS": load, "TRAY_AGENT_HOME": str(home)}
    env.pop("TRAY_AGENT_TRACE_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "tray_agent", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def listed(result: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    assert result.returncode == 0, result.stderr
    return {p["name"]: p["errors"] for p in json.loads(result.stdout)}


def test_a_plugins_command_is_in_help_and_runs(site: Path, tmp_path: Path) -> None:
    helped = tray_agent(site, tmp_path, "acme_commands", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "acme-sync" in helped.stdout and "Copy the inbox's contacts to Acme CRM." in helped.stdout
    ran = tray_agent(site, tmp_path, "acme_commands", "acme-sync")
    assert (ran.returncode, ran.stdout.strip()) == (0, "synced with Acme"), ran.stderr


def test_a_misspelled_hook_is_that_plugins_error_in_plugins(site: Path, tmp_path: Path) -> None:
    errors = listed(tray_agent(site, tmp_path, "acme_typo", "plugins", "--json"))
    assert errors["acme_typo"][0] == ("inbox_evnt: 'inbox_evnt' is not a Tray Agent hook "
                                      "(did you mean 'inbox_event'?), so it is never called")


def test_a_broken_register_commands_is_in_plugins_and_doctor_and_spares_the_others(
        site: Path, tmp_path: Path) -> None:
    load = "acme_broken,acme_commands"
    helped = tray_agent(site, tmp_path, load, "--help")
    assert helped.returncode == 0 and "acme-sync" in helped.stdout, helped.stderr
    errors = listed(tray_agent(site, tmp_path, load, "plugins", "--json"))
    assert errors["acme_broken"][0] == "register_commands: RuntimeError: acme-sdk is not installed"
    assert errors["acme_commands"] == []
    doctor = tray_agent(site, tmp_path, load, "doctor", "--json")
    assert doctor.returncode == 0, doctor.stderr
    assert {(e["plugin"], e["hook"]) for e in json.loads(doctor.stdout)["plugin_errors"]} == {
        ("acme_broken", "register_commands")}


class Listener:
    @hookimpl
    def inbox_event(self, event, inbox):  # type: ignore[no-untyped-def]
        self.last = event.type


def test_tracing_logs_each_hook_call_with_no_arguments_values(
        make_app, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    from tray_agent.channels import InboundMessage

    monkeypatch.setenv("TRAY_AGENT_TRACE_PLUGINS", "1")
    app = make_app(entry_points=False)
    app.plugins.register(Listener(), name="listener")
    sms = app.inbox.add_channel("fake-sms", "SMS", "+14155550100")
    with caplog.at_level(logging.INFO, logger="tray_agent.plugins"):
        app.inbox.receive(sms.id, InboundMessage("SM1", "+14155550199", "my secret order"))
        app.flush_events()
    traced = [r.getMessage() for r in caplog.records if r.name == "tray_agent.plugins"]
    assert any(m.startswith("plugin listener: inbox_event(event, inbox) returned in ") for m in traced), traced
    assert not any("secret order" in m for m in traced)


def test_no_trace_unless_asked(make_app, monkeypatch: pytest.MonkeyPatch,
                               caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("TRAY_AGENT_TRACE_PLUGINS", raising=False)
    with caplog.at_level(logging.INFO, logger="tray_agent.plugins"):
        make_app(entry_points=False)
    assert [r for r in caplog.records if r.name == "tray_agent.plugins"] == []


def test_has_impls_says_whether_anyone_implements_a_hook() -> None:
    host = PluginHost()
    assert host.has_impls("inbox_event") is False
    host.register(Listener(), name="listener")
    assert host.has_impls("inbox_event") is True and host.has_impls("register_commands") is False
