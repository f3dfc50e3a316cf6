"""Fixtures: the fake Telegram Bot API served on loopback (``loopback_server`` comes from
Tray Agent's pytest plugin, ``tray_agent.testing``)."""

from __future__ import annotations

from typing import Any

import pytest

from fake_telegram_botapi import FakeTelegram


@pytest.fixture
def fake_telegram(loopback_server: Any) -> FakeTelegram:
    fake = FakeTelegram()
    fake.url = loopback_server(fake.app()).url
    return fake
