"""Fixtures for the sandbox's own tests: one sandbox for the session (wiped before each
test), its admin client, and a recording receiver standing in for the agent's webhooks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.testing.loopback import LoopbackServer
from tests.sandbox.receiver import Receiver


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


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[tuple[Receiver, LoopbackServer]]:
    receiver = Receiver()
    server = LoopbackServer(receiver.app()).start()
    try:
        yield receiver, server
    finally:
        server.stop()


@pytest.fixture
def receiver(receiver_server: tuple[Receiver, LoopbackServer]) -> Receiver:
    receiver, server = receiver_server
    receiver.reset(server.url)
    return receiver
