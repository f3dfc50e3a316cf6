"""The sandbox as a day-long companion: its memory is a ring of recent messages per
customer number (with their files), and out of the box it runs in a process of its own
that stops with the agent — even when the agent is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin

ALICE, BOB = "+14155550123", "+14155550124"


def test_the_sandbox_keeps_the_latest_messages_per_number_and_drops_their_files(
        sandbox: Sandbox, admin: SandboxAdmin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.state.sms, "per_group", 5)
    for i in range(8):
        admin.customer_sends("sms", ALICE, f"alice {i}", files=[(f"f{i}.txt", "text/plain", b"x" * 1000)])
    admin.customer_sends("sms", BOB, "bob 0")
    texts = [m["text"] for m in admin.messages("sms")]
    assert texts == ["alice 3", "alice 4", "alice 5", "alice 6", "alice 7", "bob 0"]
    assert len(sandbox.state.blobs) == 5  # the dropped messages' files went with them
    admin.customer_sends("sms", BOB, "bob 1")
    assert [m["text"] for m in admin.messages("sms")][-2:] == ["bob 0", "bob 1"]  # Bob's ring is his own


def test_the_whatsapp_side_has_an_overall_cap_too(sandbox: Sandbox, admin: SandboxAdmin,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.state.wa, "total", 4)
    for i, who in enumerate([ALICE, BOB, ALICE, BOB, ALICE, BOB]):
        admin.customer_sends("whatsapp", who, f"wa {i}")
    assert [m["text"] for m in admin.messages("whatsapp")] == ["wa 2", "wa 3", "wa 4", "wa 5"]


PARENT = """
import json, sys, time
from tray_agent.sandbox.process import SandboxProcess
sb = SandboxProcess().start()
print(json.dumps({"pid": sb.pid, "url": sb.url, "sid": sb.creds.twilio_account_sid}), flush=True)
time.sleep(600)
"""


def _gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    return True  # exited; only its entry is left for the reaper
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.1)
    return False


def test_the_sandbox_process_serves_the_fake_credentials_and_dies_with_a_killed_agent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(parent.stdout.readline())  # type: ignore[union-attr]
        child = info["pid"]
        # It answers as Twilio for the credentials the parent generated and handed over.
        r = httpx.get(f"{info['url']}/2010-04-01/Accounts/{info['sid']}/Messages.json", auth=(info["sid"], "wrong"))
        assert r.status_code == 401 and r.json()["code"] == 20003
        assert info["sid"] not in Path(f"/proc/{child}/cmdline").read_text()
        assert info["sid"] not in Path(f"/proc/{child}/environ").read_bytes().decode(errors="replace")
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        assert _gone(child), "the sandbox outlived the agent"
        with pytest.raises(httpx.ConnectError):
            httpx.get(info["url"] + "/_sandbox/info")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


def test_stopping_the_sandbox_process_frees_its_port() -> None:
    from tray_agent.sandbox.process import SandboxProcess

    sb = SandboxProcess().start()
    assert httpx.get(sb.url + "/_sandbox/info").status_code == 200
    pid = sb.pid
    sb.stop()
    assert pid is not None and _gone(pid)
    with pytest.raises(httpx.ConnectError):
        httpx.get(sb.url + "/_sandbox/info")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_the_sandbox_process_stops_quietly_when_signalled_beside_the_agent(sig: signal.Signals) -> None:
    """systemd's stop, Ctrl+C in a terminal and the session's end signal the whole group:
    the sandbox gets the signal itself while the agent still holds its pipe open."""
    from dataclasses import asdict

    from tray_agent.sandbox.state import SandboxCredentials

    child = subprocess.Popen([sys.executable, "-m", "tray_agent.sandbox.process"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps({"port": 0, "creds": asdict(SandboxCredentials.generate())}).encode() + b"\n")
        child.stdin.flush()
        url = json.loads(child.stdout.readline())["url"]
        assert httpx.get(url + "/_sandbox/info").status_code == 200
        child.send_signal(sig)
        child.wait(15)  # with the agent's end of the pipe still open: the signal alone stops it
        assert child.stderr is not None
        err = child.stderr.read()
        assert child.returncode == 0, err.decode(errors="replace")[-2000:]
        assert b"Fatal Python error" not in err and b"Traceback" not in err, err.decode(errors="replace")[-2000:]
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/_sandbox/info")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
