"""`tray-agent sandbox` runs the sandbox standalone in the foreground, on loopback."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tray_agent.net import free_port


def test_the_sandbox_command_serves_both_providers_and_the_phone_page() -> None:
    port = free_port()
    hook = "http://127.0.0.1:9/webhooks/1/inbound"
    proc = subprocess.Popen([sys.executable, "-m", "tray_agent", "sandbox", "--port", str(port), "--sms-webhook", hook],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert first.startswith(f"Provider sandbox at http://127.0.0.1:{port}/")
        for _ in range(200):
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/_sandbox/info").json()
                break
            except httpx.ConnectError:
                time.sleep(0.02)
        assert info["sms_numbers"]["+14155550100"]["url"] == hook
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
        advice = "".join(proc.stdout.readline() for _ in range(6))  # type: ignore[union-attr]
        # Its credentials change every run: never advise a restart; wire it while it runs.
        assert "restart" not in advice.replace("no restart", "")
        assert f"http://127.0.0.1:{port}/_sandbox/numbers/whatsapp" in advice
    finally:
        proc.terminate()
        proc.wait(10)
