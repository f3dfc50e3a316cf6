"""Sending to Telegram: sendMessage, sendDocument under the 50 MB upload limit, links over
it, errors mapped to ProviderError, and the channel's rules."""

from __future__ import annotations


import pytest

from fake_telegram_botapi import BOT_USERNAME, TOKEN, FakeTelegram
from tray_agent.channels import OutboundFile, OutboundMessage
from tray_agent.core.errors import ProviderError, RuleViolation
from tray_agent.testing import AgentUnderTest

CHAT = 555123


@pytest.fixture
def agent(agent_under_test) -> AgentUnderTest:  # type: ignore[no-untyped-def]
    return agent_under_test(["telegram"])


@pytest.fixture
def conversation(agent: AgentUnderTest, fake_telegram: FakeTelegram) -> int:
    agent.set_secret("tg", "bot_token", TOKEN)
    cid = agent.add_channel("telegram", "tg", f"@{BOT_USERNAME}", {"api_base": fake_telegram.url, "poll_timeout": "0"})
    agent.start_channels()
    fake_telegram.customer_writes(CHAT, "Hi, I need help")
    agent.poll(cid)
    return agent.conversations()[0].id


def send_now(agent: AgentUnderTest, adapter_channel: int, text: str, files: tuple[OutboundFile, ...] = ()):  # type: ignore[no-untyped-def]
    return agent.server.run(agent.adapter(adapter_channel).send(
        OutboundMessage(message_id=99, customer_address=str(CHAT), text=text, files=files)))


def test_chat_ids_are_kept_as_given_not_read_as_phone_numbers(agent, conversation) -> None:  # type: ignore[no-untyped-def]
    assert agent.conversations()[0].customer_address == str(CHAT)


def test_the_business_cannot_start_a_conversation(agent, conversation) -> None:  # type: ignore[no-untyped-def]
    channel = agent.conversations()[0].channel_id
    with pytest.raises(RuleViolation, match="only be started by the customer"):
        agent.app.inbox.start_conversation(agent.agent_id, channel, "123456", "Hello from the bot")


def test_a_reply_goes_out_with_send_message(agent, fake_telegram, conversation) -> None:  # type: ignore[no-untyped-def]
    mid = agent.reply(conversation, "Sure, what is your order number?").id
    agent.drain_outbox()
    assert [(s.method, s.chat_id, s.text) for s in fake_telegram.sent] == [
        ("sendMessage", str(CHAT), "Sure, what is your order number?")]
    assert agent.message(mid).status == "sent"


def test_a_file_goes_out_with_send_document_and_the_text_as_caption(agent, fake_telegram, conversation, tmp_path) -> None:  # type: ignore[no-untyped-def]
    receipt = tmp_path / "receipt.pdf"
    receipt.write_bytes(b"%PDF-1.4 receipt")
    agent.reply(conversation, "Your receipt", [receipt])
    agent.drain_outbox()
    sent = fake_telegram.sent[-1]
    assert (sent.method, sent.caption, sent.document_name, sent.document) == (
        "sendDocument", "Your receipt", "receipt.pdf", b"%PDF-1.4 receipt")


def test_a_file_over_the_50_mb_upload_limit_goes_as_a_download_link(agent, fake_telegram, conversation, tmp_path) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "catalogue.zip"
    with big.open("wb") as f:
        f.truncate(51 * 1000 * 1000)
    agent.reply(conversation, "The catalogue", [big])
    agent.drain_outbox()
    sent = fake_telegram.sent[-1]
    assert sent.method == "sendMessage"
    assert sent.text.startswith(f"The catalogue\ncatalogue.zip: {agent.url}/files/")
    link = sent.text.split(": ", 1)[1]
    with agent.http.stream("GET", link) as r:
        assert r.status_code == 200 and int(r.headers["content-length"]) == 51 * 1000 * 1000


def test_an_oversized_file_without_a_link_is_refused_with_the_reason(agent, conversation, tmp_path) -> None:  # type: ignore[no-untyped-def]
    huge = OutboundFile("video.mp4", "video/mp4", 60 * 1000 * 1000, str(tmp_path / "video.mp4"))
    with pytest.raises(ProviderError, match="over Telegram's 50 MB upload limit") as err:
        send_now(agent, agent.conversations()[0].channel_id, "", (huge,))
    assert not err.value.retryable


def test_429_becomes_a_retryable_error_with_telegrams_retry_after(agent, fake_telegram, conversation) -> None:  # type: ignore[no-untyped-def]
    fake_telegram.fail_next.append((429, 12))
    with pytest.raises(ProviderError) as err:
        send_now(agent, agent.conversations()[0].channel_id, "hello")
    assert (err.value.retryable, err.value.retry_after, err.value.provider_code) == (True, 12.0, 429)
    assert "Too Many Requests" in err.value.message


def test_a_user_who_never_wrote_is_a_permanent_refusal(agent, fake_telegram, conversation) -> None:  # type: ignore[no-untyped-def]
    msg = OutboundMessage(message_id=7, customer_address="31337", text="hello")
    with pytest.raises(ProviderError, match="can't initiate conversation") as err:
        agent.server.run(agent.adapter(agent.conversations()[0].channel_id).send(msg))
    assert not err.value.retryable and err.value.provider_code == 403


def test_a_retry_after_a_partial_send_does_not_repeat_the_text(agent, fake_telegram, conversation, tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "terms.txt"
    doc.write_text("terms")
    long_text = "Please read our terms carefully." * 40  # over the 1024-character caption limit
    mid = agent.reply(conversation, long_text, [doc]).id
    # The text goes through; the document is rate-limited once.
    original = fake_telegram._m_sendDocument
    calls = {"n": 0}

    async def flaky(p, u):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            fake_telegram.fail_next.append((429, 1))
        return await original(p, u)

    fake_telegram._m_sendDocument = flaky  # type: ignore[method-assign]
    agent.drain_outbox()
    assert agent.message(mid).status == "queued"
    agent.clock.advance(5)
    agent.drain_outbox()
    assert agent.message(mid).status == "sent"
    assert [s.method for s in fake_telegram.sent] == ["sendMessage", "sendDocument"]
    assert fake_telegram.sent[0].text == long_text and fake_telegram.sent[1].document == b"terms"
