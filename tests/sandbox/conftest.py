"""Fixtures for the sandbox's own tests: a recording receiver standing in for the agent's
webhooks. ``sandbox`` and ``admin`` come from the kit's pytest plugin (tray_agent.testing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tray_agent.testing.loopback import LoopbackServer
from tests.sandbox.receiver import Receiver


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
