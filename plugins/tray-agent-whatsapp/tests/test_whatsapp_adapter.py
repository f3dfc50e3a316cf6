"""The WhatsApp adapter against the sandbox's Cloud API over real HTTP: media both ways,
Meta's per-type limits, the 24-hour rule (at once and later), rate limits and lost answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tray_agent.core.clock import utc
from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.testing import AgentUnderTest
from whatsapp_harness import NAME, add_whatsapp_channel

CUSTOMER = "+14155550123"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a0a0a7b50000000049454e44ae426082")


@pytest.fixture
def agent(agent_under_test: Callable[..., AgentUnderTest]) -> AgentUnderTest:
    return agent_under_test(["whatsapp"])


@pytest.fixture
def wa(agent: AgentUnderTest, sandbox: Sandbox) -> int:
    cid = add_whatsapp_channel(agent, sandbox)
    agent.start_channels()
    return cid


def wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def conversation(agent: AgentUnderTest, channel: int, admin: SandboxAdmin, text: str = "Hi") -> int:
    admin.customer_sends("whatsapp", CUSTOMER, text, name="Sam")
    [conv] = agent.conversations(channel)
    return conv.id


def test_inbound_document_is_looked_up_then_downloaded_with_the_token(
        agent: AgentUnderTest, wa: int, sandbox: Sandbox, admin: SandboxAdmin) -> None:
    out = admin.customer_sends("whatsapp", CUSTOMER, "The invoice", files=[("invoice.pdf", "application/pdf", b"%PDF-1.4 x")])
    assert [d["status"] for d in out["deliveries"]] == [200]
    [conv] = agent.conversations(wa)
    [msg] = agent.messages(conv.id)
    assert msg.text == "The invoice"
    assert [(a.file_name, a.mime_type, a.size) for a in msg.attachments] == [("invoice.pdf", "application/pdf", 10)]
    media_id = next(iter(sandbox.state.wa_media))
    assert httpx.get(f"{sandbox.url}/_sandbox/wa-media/{media_id}").status_code == 401  # the URL needs the token


def test_a_file_whose_download_fails_for_now_is_delivered_again_by_meta(
        agent: AgentUnderTest, wa: int, admin: SandboxAdmin) -> None:
    admin.fault(provider="meta", status=500, method="GET", path="/_sandbox/wa-media/")
    out = admin.customer_sends("whatsapp", CUSTOMER, "", files=[("a.png", "image/png", PNG)])
    assert [d["status"] for d in out["deliveries"]] == [503, 200]
    [conv] = agent.conversations(wa)
    [msg] = agent.messages(conv.id)
    assert msg.attachments[0].size == len(PNG)


@pytest.mark.parametrize("mode", ["upload", "link"])
def test_reply_with_a_picture_carries_the_text_as_caption(agent: AgentUnderTest, sandbox: Sandbox, admin: SandboxAdmin,
                                                          tmp_path: Path, mode: str) -> None:
    cid = add_whatsapp_channel(agent, sandbox, media_mode=mode)
    agent.start_channels()
    conv = conversation(agent, cid, admin)
    pic = tmp_path / "map.png"
    pic.write_bytes(PNG)
    reply = agent.reply(conv, "Here is the map", [pic])
    assert agent.drain_outbox() == 1
    assert agent.message(reply.id).status == "sent"
    [sent] = admin.outbound("whatsapp")
    assert (sent["type"], sent["text"], sent["files"][0]["size"]) == ("image", "Here is the map", len(PNG))


def test_files_over_metas_limit_for_their_type_go_as_links(
        agent: AgentUnderTest, wa: int, admin: SandboxAdmin, tmp_path: Path) -> None:
    conv = conversation(agent, wa, admin)
    photo, doc = tmp_path / "huge.png", tmp_path / "manual.pdf"
    photo.write_bytes(PNG + b"\0" * 6_000_000)  # images stop at 5 MB
    doc.write_bytes(b"%PDF" + b"\0" * 6_000_000)  # documents go up to 100 MB
    agent.reply(conv, "Two files", [photo, doc])
    agent.drain_outbox()
    sent = admin.outbound("whatsapp")
    assert sent[0]["type"] == "document" and sent[0]["files"][0]["name"] == "manual.pdf"
    assert sent[0]["text"].splitlines()[0] == "Two files"
    assert sent[0]["text"].splitlines()[1].startswith("huge.png: http://127.0.0.1:")


def test_131047_at_once_fails_the_reply_as_a_rule(agent: AgentUnderTest, wa: int, admin: SandboxAdmin) -> None:
    conv = conversation(agent, wa, admin)
    admin.options(window_mode="sync")
    admin.advance(25 * 3600)  # the sandbox's clock only: the agent still thinks the window is open
    reply = agent.reply(conv, "Are you still there?")
    agent.drain_outbox()
    m = agent.message(reply.id)
    assert m.status == "failed" and m.error_code == "131047" and "24 hours" in m.status_reason
    assert m.can_retry is False and agent.app.inbox.outbox_next_due_at() is None
    assert admin.outbound("whatsapp") == []


def test_131047_in_a_later_status_fails_the_sent_reply_as_a_rule(agent: AgentUnderTest, wa: int, admin: SandboxAdmin) -> None:
    conv = conversation(agent, wa, admin)
    admin.advance(25 * 3600)
    reply = agent.reply(conv, "Are you still there?")
    agent.drain_outbox()
    m = wait_for(lambda: (msg := agent.message(reply.id)).status == "failed" and msg)
    assert m and m.error_code == "131047" and "24 hours" in m.status_reason and m.can_retry is False
    assert [s["status"] for s in admin.outbound("whatsapp")] == ["failed"]


def test_pair_rate_limit_backs_off_4_to_the_attempt(agent: AgentUnderTest, wa: int, admin: SandboxAdmin) -> None:
    conv = conversation(agent, wa, admin)
    admin.fault(provider="meta", status=400, code=131056, method="POST", path="/messages")
    reply = agent.reply(conv, "Slow down")
    agent.drain_outbox()
    assert agent.message(reply.id).status == "queued"
    wait = (utc(agent.app.inbox.outbox_next_due_at()) - agent.clock.now()).total_seconds()
    assert 2.5 <= wait <= 4.5
    agent.clock.advance(5)
    agent.drain_outbox()
    assert [s["text"] for s in admin.outbound("whatsapp")] == ["Slow down"]


def test_a_lost_answer_fails_visibly_instead_of_risking_a_duplicate(agent: AgentUnderTest, wa: int, admin: SandboxAdmin) -> None:
    conv = conversation(agent, wa, admin)
    admin.fault(provider="meta", kind="drop_after", method="POST", path="/messages")
    reply = agent.reply(conv, "Did this arrive?")
    agent.drain_outbox()
    m = agent.message(reply.id)
    assert m.status == "failed" and "may have arrived" in m.status_reason and m.can_retry is True
    assert [s["text"] for s in admin.outbound("whatsapp")] == ["Did this arrive?"]  # Meta did take it, once


def test_a_retry_sends_only_the_parts_meta_has_not_taken(agent: AgentUnderTest, wa: int, admin: SandboxAdmin,
                                                        tmp_path: Path) -> None:
    conv = conversation(agent, wa, admin)
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    a.write_bytes(b"%PDF a")
    b.write_bytes(b"%PDF b")
    admin.fault(provider="meta", status=500, method="POST", path="/media", times=1)
    agent.reply(conv, "Two documents", [a, b])
    agent.drain_outbox()  # the text goes, the first upload fails: retried later
    agent.clock.advance(600)
    agent.drain_outbox()
    sent = admin.outbound("whatsapp")
    assert [(s["type"], s["text"]) for s in sent] == [("text", "Two documents"), ("document", ""), ("document", "")]


def test_wrong_access_token_makes_the_channel_unhealthy_with_metas_message(agent: AgentUnderTest, wa: int) -> None:
    assert agent.check_health(wa)[0] is True
    agent.set_secret(NAME, "access_token", "EAAwrong")
    agent.start_channels()
    ok, detail = agent.check_health(wa)
    assert not ok and "Invalid OAuth access token" in detail
