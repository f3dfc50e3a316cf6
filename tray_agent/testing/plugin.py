"""The pytest plugin (entry point ``pytest11``): fixtures for channel plugins' own tests.

Kept light: importing it loads no part of the agent, so it costs nothing in test sessions
that do not use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a Tray Agent channel conformance test")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from tray_agent.testing.conformance import ChannelConformance

    for item in items:
        cls = getattr(item, "cls", None)
        if cls is not None and issubclass(cls, ChannelConformance):
            item.add_marker(pytest.mark.conformance)


@pytest.fixture
def agent_under_test(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start agents on loopback: ``agent_under_test(["my-channel"])`` loads only that
    entry point (None loads every installed plugin). Each is stopped after the test."""
    from tray_agent.testing.agent import AgentUnderTest

    started: list[AgentUnderTest] = []

    def start(entry_points: list[str] | None = None) -> AgentUnderTest:
        agent = AgentUnderTest(tmp_path / f"tray-agent-home-{len(started)}", entry_points).start()
        started.append(agent)
        return agent

    yield start
    for agent in reversed(started):
        agent.close()


@pytest.fixture
def agent_logs(tmp_path: Path) -> Iterator[Any]:
    """The agent's logging set-up at DEBUG in this test: ``agent_logs.text()`` is what its
    log file and console hold (e.g. to assert that no credential reaches them)."""
    from tray_agent.testing.logcapture import AgentLogs

    with AgentLogs(tmp_path / "agent-logs", "DEBUG") as logs:
        yield logs


@pytest.fixture
def loopback_server() -> Iterator[Callable[[Any], Any]]:
    """Serve an ASGI app (your fake provider) on 127.0.0.1: ``url = loopback_server(app).url``."""
    from tray_agent.testing.loopback import LoopbackServer

    servers: list[LoopbackServer] = []

    def serve(app: Any) -> LoopbackServer:
        server = LoopbackServer(app).start()
        servers.append(server)
        return server

    yield serve
    for server in reversed(servers):
        server.stop()


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Any]:
    """The local provider sandbox (fake Twilio + WhatsApp Cloud API) on loopback, one per
    test session. Use ``sandbox`` in tests: it wipes this server first."""
    from tray_agent.sandbox import Sandbox

    sb = Sandbox().start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def sandbox(sandbox_server: Any) -> Any:
    """The session's sandbox, wiped clean for this test."""
    return sandbox_server.reset()


@pytest.fixture
def admin(sandbox: Any) -> Iterator[Any]:
    """The sandbox's admin client: inject faults, act as a customer, read what it received."""
    from tray_agent.sandbox.client import SandboxAdmin

    client = SandboxAdmin(sandbox.url)
    try:
        yield client
    finally:
        client.close()
