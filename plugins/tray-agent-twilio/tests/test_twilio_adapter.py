"""The SMS adapter against the sandbox's Twilio over real HTTP: media both ways, polling
with paging, the MMS size budget, lost answers, opt-outs and delivery failures."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.testing import AgentUnderTest
from twilio_harness import NAME, add_sms_channel, signed

CUSTOMER = "+14155550123"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a0a0a7b50000000049454e44ae426082")


@pytest.fixture
def agent(agent_under_test: Callable[..., AgentUnderTest]) -> AgentUnderTest:
    return agent_under_test(["twilio"])


@pytest.fixture
def sms(agent: AgentUnderTest, sandbox: Sandbox) -> int:
    cid = add_sms_channel(agent, sandbox)
    agent.start_channels()
    return cid


def wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def only_conversation(agent: AgentUnderTest, channel: int) -> Any:
    [conv] = agent.conversations(channel)
    return conv


def test_inbound_mms_is_fetched_with_basic_auth_through_twilios_redirect(
        agent: AgentUnderTest, sms: int, sandbox: Sandbox, admin: SandboxAdmin) -> None:
    out = admin.customer_sends("sms", CUSTOMER, "Here is the photo", files=[("p.png", "image/png", PNG)])
    assert [d["status"] for d in out["deliveries"]] == [200]
    [msg] = agent.messages(only_conversation(agent, sms).id)
    assert msg.text == "Here is the photo" and msg.attachments[0].mime_type == "image/png"
    assert msg.attachments[0].size == len(PNG)
    media = f"{sandbox.url}/2010-04-01/Accounts/{sandbox.creds.twilio_account_sid}/Messages/{out['ids'][0]}/Media"
    listed = httpx.get(f"{media}.json", auth=(sandbox.creds.twilio_account_sid, sandbox.creds.twilio_auth_token)).json()
    assert httpx.get(listed["media_list"][0]["uri"].join([sandbox.url, ""]).removesuffix(".json")).status_code == 401


def test_polling_reads_every_page_and_stores_each_message_once(
        agent: AgentUnderTest, sandbox: Sandbox, admin: SandboxAdmin) -> None:
    cid = add_sms_channel(agent, sandbox, poll="on")
    sandbox.register_sms("")  # no webhook: the Messages list is the only way in
    agent.start_channels()
    for i in range(5):
        admin.customer_sends("sms", f"+1415555{i:04d}", f"polled {i}")
    agent.adapter(cid).page_size = 2  # three pages, followed by next_page_uri
    agent.poll(cid)
    agent.poll(cid)
    agent.start_channels()  # a restart: the new adapter remembers nothing; the store dedupes
    agent.poll(cid)
    texts = sorted(m.text for c in agent.conversations(cid) for m in agent.messages(c.id))
    assert texts == [f"polled {i}" for i in range(5)]


def test_files_over_the_mms_budget_go_as_download_links(
        agent: AgentUnderTest, sms: int, admin: SandboxAdmin, tmp_path: Path) -> None:
    admin.customer_sends("sms", CUSTOMER, "Send me the files")
    conv = only_conversation(agent, sms)
    small, mid, big = tmp_path / "small.png", tmp_path / "mid.pdf", tmp_path / "big.zip"
    small.write_bytes(PNG)
    mid.write_bytes(b"m" * 4_999_950)  # fits alone, not next to the text and the picture
    big.write_bytes(b"b" * 6_000_000)  # over Twilio's ~5 MB: a link by the channel's rules
    reply = agent.reply(conv.id, "Your files", [small, mid, big])
    assert agent.drain_outbox() == 1
    assert agent.message(reply.id).status == "sent"
    [sent] = admin.outbound("sms")
    assert [f["size"] for f in sent["files"]] == [len(PNG)]
    lines = sent["text"].splitlines()
    assert lines[0] == "Your files"
    assert [line.split(": ")[0] for line in lines[1:]] == ["mid.pdf", "big.zip"]
    link = lines[-1].split(": ", 1)[1]
    assert httpx.get(link).content == big.read_bytes()  # the agent serves it to the customer


def test_a_lost_answer_is_looked_up_instead_of_sending_twice(
        agent: AgentUnderTest, sms: int, admin: SandboxAdmin) -> None:
    admin.customer_sends("sms", CUSTOMER, "Hi")
    conv = only_conversation(agent, sms)
    admin.fault(provider="twilio", kind="drop_after", method="POST", path="/Messages.json")
    reply = agent.reply(conv.id, "Answer that was lost on the way back")
    agent.drain_outbox()
    assert agent.message(reply.id).status == "queued"  # ambiguous: try again, but look first
    agent.clock.advance(600)
    agent.drain_outbox()
    sent = [m for m in admin.outbound("sms") if m["text"] == "Answer that was lost on the way back"]
    assert len(sent) == 1
    assert agent.message(reply.id).status in ("sent", "delivered")


def test_find_sent_tells_an_accepted_send_from_one_that_never_left(
        agent: AgentUnderTest, sms: int, admin: SandboxAdmin) -> None:
    admin.customer_sends("sms", CUSTOMER, "Hi")
    conv = only_conversation(agent, sms)
    inbox = agent.app.inbox
    accepted = agent.reply(conv.id, "Accepted before the crash").id
    _, out = inbox.outbox_claim(accepted)
    result = agent.server.run(agent.adapter(sms).send(out))
    never = agent.reply(conv.id, "Claimed, never sent").id
    inbox.outbox_claim(never)
    adapter = agent.adapter(sms)
    assert agent.server.run(adapter.find_sent(accepted)) == result.provider_message_id
    assert agent.server.run(adapter.find_sent(never)) is None


def test_wrong_auth_token_makes_the_channel_unhealthy_with_twilios_message(
        agent: AgentUnderTest, sms: int) -> None:
    assert agent.check_health(sms)[0] is True
    agent.set_secret(NAME, "auth_token", "0" * 32)
    agent.start_channels()
    ok, detail = agent.check_health(sms)
    assert not ok and "Authenticate" in detail and "20003" in detail
    assert agent.app.inbox.get_channel(sms).healthy is False


def test_a_customer_who_sent_stop_is_refused_as_a_rule(agent: AgentUnderTest, sms: int, admin: SandboxAdmin) -> None:
    admin.customer_sends("sms", CUSTOMER, "STOP")
    reply = agent.reply(only_conversation(agent, sms).id, "Are you sure?")
    agent.drain_outbox()
    m = agent.message(reply.id)
    assert m.status == "failed" and "STOP" in m.status_reason and m.can_retry is False


def test_undelivered_callback_fails_the_message_with_the_reason(
        agent: AgentUnderTest, sms: int, admin: SandboxAdmin) -> None:
    admin.options(auto_status=False)
    admin.customer_sends("sms", CUSTOMER, "Hi")
    reply = agent.reply(only_conversation(agent, sms).id, "This one bounces")
    agent.drain_outbox()
    [sent] = admin.outbound("sms")
    admin.status("sms", sent["id"], "undelivered", 30003)
    m = wait_for(lambda: (msg := agent.message(reply.id)).status == "failed" and msg)
    assert m.error_code == "30003" and "unreachable" in m.status_reason


def test_an_alphanumeric_sender_is_stored_and_the_composer_says_it_cannot_be_replied_to(
        agent: AgentUnderTest, sms: int, sandbox: Sandbox) -> None:
    params = [("MessageSid", "SMalpha"), ("From", "VERIFY"), ("To", sandbox.creds.sms_number), ("Body", "code 1234")]
    r = agent.post(sms, signed(sandbox.creds.twilio_auth_token, agent.webhook_url(sms, "inbound"), params, "inbound"))
    assert r.status_code == 200 and r.text == "<Response/>"
    conv = only_conversation(agent, sms)
    assert (conv.customer_address, conv.customer_display) == ("VERIFY", "VERIFY (sender ID)")
    assert [m.text for m in agent.messages(conv.id)] == ["code 1234"]
    composer = agent.app.inbox.get_conversation(agent.agent_id, conv.id).composer
    assert not composer.can_reply and "sender ID" in (composer.reason or "")


def test_a_sender_no_address_kind_fits_is_acknowledged_and_recorded(agent: AgentUnderTest, sms: int, sandbox: Sandbox) -> None:
    params = [("MessageSid", "SMbad"), ("From", "+1 (000) not-a-number"), ("To", sandbox.creds.sms_number),
              ("Body", "code 1234")]
    r = agent.post(sms, signed(sandbox.creds.twilio_auth_token, agent.webhook_url(sms, "inbound"), params, "inbound"))
    assert r.status_code == 200 and agent.conversations(sms) == []
    [err] = [e for e in agent.app.recent_plugin_errors() if e.hook == "webhook"]
    assert "SMbad" in err.error and "not a valid phone number" in err.error and "code 1234" not in err.error


@pytest.mark.parametrize("public,api_base,polls", [
    ("http://127.0.0.1:8080", "https://api.twilio.com", True),  # a desktop with no tunnel
    ("https://agent.example.com", "https://api.twilio.com", False),  # webhooks reach it
    ("http://127.0.0.1:8080", "http://127.0.0.1:9000", False),  # the local sandbox reaches loopback
])
def test_auto_polling_when_twilio_cannot_reach_the_webhooks(public: str, api_base: str, polls: bool) -> None:
    from types import SimpleNamespace

    from tray_agent.channels import ChannelConfig, OutboundMessage
    from tray_agent_twilio.adapter import TwilioAdapter

    ctx = SimpleNamespace(public_base_url=public, channel_id=3, secret=lambda name: "t")
    cfg = ChannelConfig(3, "sms", "S", "+14155550100", {"account_sid": "AC1", "api_base": api_base})
    adapter = TwilioAdapter(cfg, ctx)  # type: ignore[arg-type]
    assert adapter._polling() is polls
    form = dict(adapter._form(OutboundMessage(1, CUSTOMER, "hi")))
    assert ("StatusCallback" in form) is not polls
