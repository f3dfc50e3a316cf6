"""Fixtures for the WhatsApp plugin's tests: the local provider sandbox playing Meta on
loopback (one server for the session, wiped before each test), and its admin client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    sb = Sandbox().start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Sandbox:
    sandbox_server.state.reset()
    sandbox_server.handle.deliverer.held.clear()
    for hooks in [*sandbox_server.state.sms_hooks.values(), *sandbox_server.state.wa_hooks.values()]:
        hooks.url, hooks.verified = "", False
    return sandbox_server


@pytest.fixture
def admin(sandbox: Sandbox) -> Iterator[SandboxAdmin]:
    client = SandboxAdmin(sandbox.url)
    try:
        yield client
    finally:
        client.close()
