"""The start-up log says truthfully why the provider sandbox runs: "no channel is
configured" only when none is; beside a configured channel it names that channel."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tray_agent.api.thread import ServerThread
from tray_agent.app import App


def _sandbox_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "provider sandbox" in r.getMessage()]


def test_sandbox_on_beside_telegram_does_not_claim_no_channel_is_configured(
        make_app: Callable[..., App], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("TRAY_AGENT_SANDBOX_MODE", "on")
    app = make_app()
    app.inbox.add_channel("telegram", "Shop Bot", "@shop_bot", {"bot_username": "@shop_bot",
                                                                "api_base": "http://127.0.0.1:9"})
    with caplog.at_level(logging.INFO, logger="tray_agent.sandbox.autostart"):
        server = ServerThread(app).start()
        server.stop()
    [line] = _sandbox_lines(caplog)
    assert "no channel is configured" not in line
    assert line.startswith("the provider sandbox runs beside Shop Bot ([sandbox] mode = on) at http://127.0.0.1:")


def test_with_nothing_configured_the_log_says_so(
        make_app: Callable[..., App], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    app = make_app()
    with caplog.at_level(logging.INFO, logger="tray_agent.sandbox.autostart"):
        server = ServerThread(app).start()
        server.stop()
    [line] = _sandbox_lines(caplog)
    assert line.startswith("no channel is configured: the provider sandbox runs at http://127.0.0.1:")
