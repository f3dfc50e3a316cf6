"""Getting into the window in a browser under `tray-agent serve`: the start says how,
`tray-agent open` prints the ready-to-open address, and a browser without the key gets a
page that says how to get in (API clients still get JSON)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tray_agent", *args], env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, str], str, str]]:
    env = {**os.environ, "TRAY_AGENT_HOME": str(tmp_path / "home"), "TRAY_AGENT_SANDBOX_MODE": "off"}
    env.pop("TRAY_AGENT_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "tray_agent", "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        first = ""
        while "Tray Agent is running at" not in first:  # after any plugin's warnings
            first = proc.stdout.readline()  # type: ignore[union-attr]
            assert first, "serve exited"
        url = first.split(" at ", 1)[1].split("/ ", 1)[0].strip().rstrip("/")
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.1)
        yield env, url, first
    finally:
        proc.terminate()
        proc.wait(15)


def test_a_browser_without_the_key_is_told_how_to_get_in_and_open_lets_it_in(served, page, artifacts_dir):  # type: ignore[no-untyped-def]
    env, url, first = served
    # Not a terminal (a service's journal): the key stays out of the output.
    assert "tray-agent open" in first and "token=" not in first

    page.goto(url + "/")
    assert page.locator("h1").inner_text() == "This address needs the window's key"
    assert "tray-agent open --browser" in page.inner_text("body")
    page.screenshot(path=str(artifacts_dir / "tokenless-browser.png"))
    api = httpx.get(url + "/api/conversations")
    assert api.status_code == 401 and api.json()["error"] == "unauthorized"

    opened = _cli(env, "open")
    assert opened.returncode == 0, opened.stderr
    address = opened.stdout.strip()
    assert address.startswith(url + "/?token=")
    page.goto(address)
    page.wait_for_selector("#inbox-empty:not([hidden]), .row", state="attached")
    assert "token=" not in page.url  # traded for the cookie, out of the address bar
    page.screenshot(path=str(artifacts_dir / "opened-with-tray-agent-open.png"))


def test_open_without_a_running_agent_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "TRAY_AGENT_HOME": str(tmp_path / "home")}
    r = _cli(env, "open")
    assert r.returncode == 1
    assert r.stdout.strip().splitlines() + r.stderr.strip().splitlines() == [
        "error: Tray Agent is not running; start it with `tray-agent` (or `tray-agent serve`)."]
