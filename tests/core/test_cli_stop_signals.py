"""A headless agent (`tray-agent serve`) stopped the way people and service managers stop
it: Ctrl+C in the terminal (SIGINT), `systemctl stop` (SIGTERM) and a closed terminal
(SIGHUP) each reach the terminal's whole process group. The agent stops its sandbox
process itself (which runs in a group of its own, so a Ctrl+C cannot kill it half-way
through starting). Every one ends tidily: exit 0, nothing on the console but the log, no
process left — also when it comes while the agent is still starting."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.core.test_cli import TRAY_AGENT, _serve_env
from tests.desktop.procs import alive, descendants


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_to_the_whole_group_stops_the_agent_and_its_sandbox_tidily(tmp_path: Path, sig: signal.Signals) -> None:
    home = tmp_path / "home"
    out = tmp_path / "serve.out"
    with out.open("w") as sink:
        proc = subprocess.Popen([TRAY_AGENT, "serve"], env=_serve_env(home), stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        instance = home / "run" / "instance.json"
        deadline = time.monotonic() + 60
        while not (instance.exists() and "sandbox WhatsApp webhook verified" in out.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        assert json.loads(instance.read_text())["pid"] == proc.pid
        children = [p for p in descendants(proc.pid) if p != proc.pid]
        assert any(b"tray_agent.sandbox.process" in Path(f"/proc/{p}/cmdline").read_bytes() for p in children)
        code = _signal_group(proc, sig)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    _assert_tidy(code, out.read_text(), ("Traceback", "KeyboardInterrupt", "Fatal Python error"))
    assert not instance.exists()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in children):
        assert time.monotonic() < deadline, "the sandbox process outlived the agent"
        time.sleep(0.1)


@pytest.mark.parametrize("command", ["serve", "daemon"])
def test_ctrl_c_while_the_sandbox_starts_stops_the_start_tidily(tmp_path: Path, command: str) -> None:
    """The user changes their mind at once: the sandbox process is starting when Ctrl+C
    comes. The start stops there, exit 0, no traceback, nothing left running."""
    home = tmp_path / "home"
    out = tmp_path / "start.out"
    env = {**_serve_env(home), "DISPLAY": "", "WAYLAND_DISPLAY": ""}  # the daemon runs headless
    with out.open("w") as sink:
        proc = subprocess.Popen([TRAY_AGENT, command], env=env, stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    children: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not children:
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            children = [p for p in descendants(proc.pid) if p != proc.pid and _is_sandbox(p)]
            time.sleep(0.005)
        code = _signal_group(proc, signal.SIGINT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    _assert_tidy(code, out.read_text(), ("Traceback", "KeyboardInterrupt", "did not start", "ERROR"))
    assert not (home / "run" / "instance.json").exists()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in children):
        assert time.monotonic() < deadline, "the sandbox process outlived the agent"
        time.sleep(0.1)


def _is_sandbox(pid: int) -> bool:
    try:
        return b"tray_agent.sandbox.process" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> int:
    os.killpg(proc.pid, sig)
    return proc.wait(30)


def _assert_tidy(code: int, console: str, markers: tuple[str, ...]) -> None:
    assert code == 0, console[-3000:]
    for marker in markers:
        assert marker not in console, console[-3000:]
