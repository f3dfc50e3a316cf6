"""The command line drives every feature without a window; user errors are one line and a
non-zero exit."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from tray_agent import __version__
from tray_agent.cli import cli
from tray_agent.core.db import HEAD_REVISION

TRAY_AGENT = str(Path(sys.executable).with_name("tray-agent"))


def run(home, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--home", str(home.data.parent), *args])


def test_version_answers_fast_as_a_real_process():
    out = subprocess.run([sys.executable, "-m", "tray_agent", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"tray-agent, version {__version__}"


def test_doctor_reports_paths_database_and_schema(home):
    r = run(home, "doctor", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["database"]["schema_revision"] == HEAD_REVISION
    assert report["paths"]["data"] == str(home.data)
    assert any(h["name"] == "tel" for h in report["call_handlers"])


def test_plugins_lists_installed_plugins_with_versions(home):
    r = run(home, "plugins", "--json")
    info = {p["name"]: p for p in json.loads(r.output)}
    assert info["tel_call_handler"]["version"] == __version__


def test_unknown_conversation_is_one_line_and_exit_1(home):
    r = run(home, "show", "41")
    assert r.exit_code == 1
    assert r.output.strip() == "error: There is no conversation 41 in your inbox."


def test_inbox_send_show_close_round_trip(world_cli):
    home, conv = world_cli
    r = run(home, "inbox")
    assert "Ada" in r.output and "where is my parcel" in r.output
    assert run(home, "send", str(conv), "On its way!").output.strip().startswith("queued message")
    shown = run(home, "show", str(conv))
    assert "customer: where is my parcel" in shown.output and "On its way! (queued)" in shown.output
    assert run(home, "close", str(conv)).exit_code == 0
    r = run(home, "send", str(conv), "hello?")
    assert r.exit_code == 1 and "closed" in r.output
    assert run(home, "search", "parcel").output.count("where is my parcel") == 1


def test_send_with_a_missing_file_says_so(world_cli):
    home, conv = world_cli
    r = run(home, "send", str(conv), "see attached", "--file", "/nonexistent/report.pdf")
    assert r.exit_code == 1 and "is not a file" in r.output



def test_bidi_controls_in_names_and_file_names_cannot_reorder_cli_lines(world_cli, tmp_path):  # type: ignore[no-untyped-def]
    home, _conv = world_cli
    from tray_agent.app import App
    from tray_agent.channels import InboundFile, InboundMessage

    app = App(home)
    sms = app.inbox.list_channels()[0]
    app.inbox.receive(sms.id, InboundMessage("SM2", "+14155550198", "", customer_name="Eve\u202elanruoj",
                                             files=(InboundFile("invoice\u202efdp.exe", "application/pdf", b"%PDF"),)))
    app.close()
    listed = run(home, "inbox").output
    assert "Evelanruoj" in listed and "invoicefdp.exe" in listed
    assert not re.search("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]", listed)
    assert "\\u202e" in run(home, "inbox", "--json").output  # the data itself is kept, escaped

def _serve_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAY_AGENT_")}
    env.update(TRAY_AGENT_HOME=str(home), TRAY_AGENT_LOAD_PLUGINS="twilio,whatsapp", PYTHONUNBUFFERED="1",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", **extra)
    return env


def _tray_agent(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRAY_AGENT, *args], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_serve_logs_and_announces_itself_like_the_daemon_and_tidies_up_on_exit(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text('[log]\nlevel = "DEBUG"\n')
    env = _serve_env(home)
    out = tmp_path / "serve.out"
    with out.open("w") as sink:
        proc = subprocess.Popen([TRAY_AGENT, "serve"], env=env, stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True)
    try:
        instance = home / "run" / "instance.json"
        deadline = time.monotonic() + 60
        while not (instance.exists() and "customer phone" in out.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        info = json.loads(instance.read_text())
        assert info["pid"] == proc.pid
        url = info["url"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        console = out.read_text()
        assert f"Tray Agent is running at {url}/" in console
        assert " DEBUG " in console  # `[log] level` is obeyed
        assert "the provider sandbox runs at" in console and "customer phone:" in console
        assert "customer phone:" in (home / "logs" / "daemon.log").read_text()
        # `channel list` names the webhook addresses of the agent that is running.
        listed = _tray_agent(env, "channel", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        urls = [w["url"] for ch in json.loads(listed.stdout) for w in ch["webhooks"]]
        assert urls and all(u.startswith(url + "/webhooks/") for u in urls), urls
        # One agent per home, as with the daemon.
        second = _tray_agent(env, "serve")
        assert second.returncode == 1
        assert second.stderr.strip().splitlines()[-1] == (
            f"error: Tray Agent is already running (pid {proc.pid}, {url}); "
            "stop it before starting another on this home.")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, out.read_text()
    assert not (home / "run" / "instance.json").exists()


def test_serve_takes_its_log_level_from_the_environment_and_says_why_it_cannot_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = _serve_env(home, TRAY_AGENT_LOG_LEVEL="DEBUG", TRAY_AGENT_API_PORT=str(busy.getsockname()[1]))
        r = _tray_agent(env, "serve")
    assert r.returncode == 1
    assert " DEBUG " in r.stderr
    assert "address already in use" in r.stderr.lower()
    assert "running at" not in r.stdout  # it never was
    assert not (home / "run" / "instance.json").exists()
