"""The command line drives every feature without a window; user errors are one line and a
non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from tray_agent import __version__
from tray_agent.cli import cli
from tray_agent.core.db import HEAD_REVISION


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
