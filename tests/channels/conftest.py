"""Fixtures for agent-level channel tests: one sandbox for the session (wiped and put back
at the test clock's start before each test) and a live agent served over loopback HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tray_agent.api.thread import ServerThread
from tray_agent.app import App
from tray_agent.core.clock import FrozenClock
from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.credentials import env_name
from tests.channels.keyring_memory import MemoryKeyring, installed
from tests.channels.live import Live, add_channels, channel_secrets


@pytest.fixture
def sandbox(sandbox: Sandbox, clock: FrozenClock) -> Sandbox:
    """The kit's wiped sandbox, its clock put at the test clock's start: moving one alone
    is how a test makes the provider see a reply window the agent thinks is open."""
    sandbox.state.clock.base = FrozenClock(clock.now())
    return sandbox


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed() as kr:
        yield kr


@pytest.fixture
def agent_env(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> None:
    """No auto-started sandbox, and the channels' credentials as a server would pass them."""
    monkeypatch.setenv("TRAY_AGENT_SANDBOX_MODE", "off")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    for (channel, name), value in channel_secrets(sandbox).items():
        monkeypatch.setenv(env_name(channel, name), value)


@pytest.fixture
def start_live(agent_env: None, make_app: Callable[..., App], clock: FrozenClock, sandbox: Sandbox,
               admin: SandboxAdmin) -> Iterator[Callable[[], Live]]:
    """Start (or, called again, restart on the same store) the agent with both channels."""
    servers: list[ServerThread] = []

    def start() -> Live:
        app = make_app()
        existing = {c.name: c.id for c in app.inbox.list_channels()}
        sms, wa = (existing["Test SMS"], existing["Test WhatsApp"]) if existing else add_channels(app, sandbox)
        server = ServerThread(app).start()
        servers.append(server)
        live = Live(app, clock, sandbox, admin, server, sms, wa)
        live.wire()
        return live

    yield start
    for s in servers:
        if s._thread.is_alive():
            s.stop()


@pytest.fixture
def live(start_live: Callable[[], Live]) -> Live:
    return start_live()
