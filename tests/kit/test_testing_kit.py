"""tray_agent.testing itself: installed as a pytest plugin, a loopback server that really
serves and really stops, an agent that loads only the plugins it is told to."""

from __future__ import annotations

import socket
from importlib import metadata

import httpx
import pytest
from fastapi import FastAPI

from tray_agent.testing import LoopbackServer, OffsetClock, WebhookRequest


def test_the_kit_is_a_pytest_plugin_by_entry_point(request: pytest.FixtureRequest) -> None:
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="pytest11")}
    assert eps.get("tray_agent") == "tray_agent.testing.plugin"
    assert request.config.pluginmanager.has_plugin("tray_agent")  # loaded in this very session


def test_loopback_server_serves_an_asgi_app_and_frees_its_port() -> None:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    with LoopbackServer(app) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{server.url}/ping").json() == {"pong": "yes"}
        port = server.port
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # would raise if the server still held it


def test_loopback_server_runs_coroutines_in_its_own_loop() -> None:
    import asyncio
    import threading

    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    with LoopbackServer(FastAPI()) as server:
        assert server.run(where()) == f"loopback-{server.port}"


def test_webhook_request_headers_are_replaced_and_removed_case_insensitively() -> None:
    req = WebhookRequest("inbound", b"{}", {"Content-Type": "application/json", "X-Signature": "abc"})
    assert req.with_headers(x_signature="def").headers == {"Content-Type": "application/json", "X-Signature": "def"}
    assert req.with_headers(**{"x-signature": None}).headers == {"Content-Type": "application/json"}
    assert req.headers["X-Signature"] == "abc"  # the original is unchanged


def test_offset_clock_moves_only_forward_when_told() -> None:
    clock = OffsetClock()
    before = clock.now()
    after = clock.advance(3600)
    assert 3599 <= (after - before).total_seconds() < 3660


def test_agent_under_test_loads_only_the_named_entry_points(agent_under_test) -> None:  # type: ignore[no-untyped-def]
    only_telegram = agent_under_test(["telegram"])
    assert set(only_telegram.app.channel_types) == {"telegram"}
    assert only_telegram.app.call_handlers == {}
    nothing = agent_under_test([])
    assert nothing.app.channel_types == {} and nothing.alive()


def test_agent_under_test_keeps_secrets_in_the_environment_and_restores_it(agent_under_test) -> None:  # type: ignore[no-untyped-def]
    import os

    from tray_agent import credentials

    agent = agent_under_test([])
    agent.set_secret("my channel", "api_key", "s3cret")
    assert credentials.get("my channel", "api_key") == "s3cret"
    agent.close()
    assert "TRAY_AGENT_SECRET_MY_CHANNEL_API_KEY" not in os.environ
