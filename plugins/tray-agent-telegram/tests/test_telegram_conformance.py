"""The Tray Agent channel conformance suite, run against the fake Telegram Bot API with
the channel in webhook mode (the long-poll path has its own tests)."""

from __future__ import annotations

import itertools
import json

import pytest

from fake_telegram_botapi import BOT_USERNAME, TOKEN, FakeTelegram
from tray_agent.testing import AgentUnderTest, ChannelConformance, ChannelHarness, WebhookRequest
from tray_agent_telegram.adapter import SECRET_HEADER

WEBHOOK_SECRET = "conformance_Secret-token"
CHAT_ID = 424242


class TelegramHarness(ChannelHarness):
    entry_point = "telegram"
    channel_type = "telegram"
    signature_headers = (SECRET_HEADER,)
    status_callbacks = False  # the Bot API reports no delivery statuses
    customer = str(CHAT_ID)

    def __init__(self, fake: FakeTelegram, **settings: str) -> None:
        self.fake = fake
        self.settings = settings
        self._message_ids: dict[str, int] = {}
        self._next = itertools.count(1)

    def make_channel(self, agent: AgentUnderTest) -> int:
        agent.set_secret("conformance", "bot_token", TOKEN)
        agent.set_secret("conformance", "webhook_secret", WEBHOOK_SECRET)
        settings = {"api_base": self.fake.url, "mode": "webhook", "register_webhook": "false", **self.settings}
        return agent.add_channel("telegram", "conformance", f"@{BOT_USERNAME}", settings)

    def inbound_request(self, agent, channel_id, *, provider_message_id, text):  # type: ignore[no-untyped-def]
        # Telegram's own id for a message is (chat, message_id): map the suite's ids onto it.
        message_id = self._message_ids.setdefault(provider_message_id, next(self._next))
        update = self.fake.webhook_update(CHAT_ID, text, message_id)
        return self.sign(agent, channel_id, WebhookRequest(
            "update", json.dumps(update).encode(), {"Content-Type": "application/json"}))

    def sign(self, agent, channel_id, request):  # type: ignore[no-untyped-def]
        return request.with_headers(**{SECRET_HEADER: WEBHOOK_SECRET})

    def fake_provider_fail_next(self, status, retry_after=None):  # type: ignore[no-untyped-def]
        self.fake.fail_next.append((status, retry_after))

    def sent_texts(self) -> list[str]:
        return self.fake.texts()

    def bad_payloads(self, inbound: WebhookRequest) -> list[WebhookRequest]:
        shaped = [
            {"update_id": "not a number"},
            {"update_id": 9, "message": {"chat": {"id": "abc", "type": "private"}, "message_id": 1}},
            {"update_id": 10, "edited_message": {"message_id": 1, "chat": {"id": CHAT_ID, "type": "private"}}},
            {"update_id": 11, "message": {"message_id": 2, "chat": {"id": -100, "type": "group"}, "text": "hi"}},
            {"update_id": 12, "message": {"message_id": 3, "date": "yesterday", "chat": {"id": CHAT_ID,
                                          "type": "private"}, "document": {"file_id": "NO-SUCH-FILE"}}},
        ]
        return super().bad_payloads(inbound) + [
            WebhookRequest("update", json.dumps(u).encode(), {"Content-Type": "application/json"}) for u in shaped]


class TestTelegramConformance(ChannelConformance):
    @pytest.fixture
    def channel_harness(self, fake_telegram: FakeTelegram) -> TelegramHarness:
        return TelegramHarness(fake_telegram)
