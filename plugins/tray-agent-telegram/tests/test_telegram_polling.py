"""Receiving from Telegram: long-polled getUpdates with offset acknowledgement, the
webhook alternative, and customers' files."""

from __future__ import annotations

import threading
import time

import pytest

from fake_telegram_botapi import BOT_USERNAME, TOKEN, FakeTelegram
from tray_agent.core.errors import ProviderError
from tray_agent.testing import AgentUnderTest

CHAT = 777001


def polling_channel(agent: AgentUnderTest, fake: FakeTelegram, **settings: str) -> int:
    agent.set_secret("tg", "bot_token", TOKEN)
    agent.set_secret("tg", "webhook_secret", "hook_secret")
    cid = agent.add_channel("telegram", "tg", f"@{BOT_USERNAME}",
                            {"api_base": fake.url, "poll_timeout": "1", **settings})
    agent.start_channels()
    return cid


@pytest.fixture
def agent(agent_under_test) -> AgentUnderTest:  # type: ignore[no-untyped-def]
    return agent_under_test(["telegram"])


def inbound_texts(agent: AgentUnderTest) -> list[str]:
    return [m.text for c in agent.conversations() for m in agent.messages(c.id) if m.direction == "in"]


def test_poll_stores_updates_and_acknowledges_them_with_the_next_offset(agent, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    cid = polling_channel(agent, fake_telegram)
    fake_telegram.customer_writes(CHAT, "Hello")
    last = fake_telegram.customer_writes(CHAT, "Is my order shipped?")
    agent.poll(cid)
    assert inbound_texts(agent) == ["Hello", "Is my order shipped?"]
    conv = agent.conversations()[0]
    assert conv.customer_name == "Ada Lovelace"
    assert agent.adapter(cid).offset == last["update_id"] + 1
    agent.poll(cid)
    assert fake_telegram.polls[-1] == (last["update_id"] + 1, 1)  # offset confirms, timeout long-polls
    assert fake_telegram.updates == []  # Telegram forgot the confirmed updates
    assert len(inbound_texts(agent)) == 2


def test_a_long_poll_returns_as_soon_as_the_customer_writes(agent, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    cid = polling_channel(agent, fake_telegram, poll_timeout="20")
    poller = threading.Thread(target=agent.poll, args=(cid,))
    started = time.monotonic()
    poller.start()
    time.sleep(0.3)
    fake_telegram.customer_writes(CHAT, "Anyone there?")
    poller.join(10)
    assert not poller.is_alive() and time.monotonic() - started < 5
    assert inbound_texts(agent) == ["Anyone there?"]


def test_updates_fetched_again_after_a_restart_are_stored_once(agent, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    cid = polling_channel(agent, fake_telegram)
    update = fake_telegram.customer_writes(CHAT, "Only once")
    agent.poll(cid)
    agent.adapter(cid).offset = None  # a restart before the offset was confirmed
    fake_telegram.updates.append(update)
    agent.poll(cid)
    assert inbound_texts(agent) == ["Only once"]


def test_group_chats_and_edits_are_acknowledged_but_not_stored(agent, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    cid = polling_channel(agent, fake_telegram)
    group = fake_telegram.customer_writes(-100200, "hi all", chat_type="group")
    agent.poll(cid)
    assert inbound_texts(agent) == []
    assert agent.adapter(cid).offset == group["update_id"] + 1


def test_polling_while_a_webhook_is_set_says_so(agent, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    cid = polling_channel(agent, fake_telegram)
    fake_telegram.webhook = {"url": "https://example.invalid/hook"}
    with pytest.raises(ProviderError, match="webhook is set"):
        agent.poll(cid)
    ok, detail = agent.check_health(cid)
    assert not ok and "webhook is set" in detail


def test_webhook_mode_registers_the_webhook_with_its_secret_token(agent, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    cid = polling_channel(agent, fake_telegram, mode="webhook")
    agent.poll(cid)
    assert fake_telegram.webhook["url"] == agent.webhook_url(cid, "update")
    assert fake_telegram.webhook["secret_token"] == "hook_secret"
    assert fake_telegram.webhook["allowed_updates"] == ["message"]
    assert agent.check_health(cid) == (True, f"@{BOT_USERNAME} (webhook)")


def test_health_reports_a_wrong_token(agent, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    agent.set_secret("tg", "bot_token", "999:wrong")
    agent.set_secret("tg", "webhook_secret", "x")
    cid = agent.add_channel("telegram", "tg", "@bot", {"api_base": fake_telegram.url})
    agent.start_channels()
    ok, detail = agent.check_health(cid)
    assert not ok and detail == "Telegram refused getMe: Unauthorized"


def test_a_customers_document_is_downloaded_with_the_message(agent, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    cid = polling_channel(agent, fake_telegram)
    fake_telegram.customer_writes(CHAT, "My invoice", document=("invoice.pdf", b"%PDF-1.7 invoice", "application/pdf"))
    agent.poll(cid)
    msg = agent.messages(agent.conversations()[0].id)[-1]
    assert msg.text == "My invoice"
    assert [(a.file_name, a.mime_type, a.size) for a in msg.attachments] == [("invoice.pdf", "application/pdf", 16)]


def test_a_file_over_the_bot_download_limit_is_noted_not_fetched(agent, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    cid = polling_channel(agent, fake_telegram)
    fake_telegram.customer_writes(CHAT, "Big video", document=("film.mp4", b"x", "video/mp4"), file_size=25 * 2**20)
    agent.poll(cid)
    msg = agent.messages(agent.conversations()[0].id)[-1]
    assert msg.attachments == []
    assert msg.text == "Big video\n[film.mp4 was not downloaded: bots can fetch files up to 20 MB]"
