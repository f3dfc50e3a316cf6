"""Whole round trips over loopback HTTP: the customer's phone → sandbox → signed webhook →
inbox → the agent's reply → outbox → sandbox → the customer's phone, text and files."""

from __future__ import annotations

import httpx

from tray_agent.core.files import StagedFile
from tests.channels.live import CUSTOMER, PNG, Live, wait_for

PDF = b"%PDF-1.4\n% a tiny document\n"


def staged(live: Live, name: str, mime: str, data: bytes) -> StagedFile:
    return live.app.inbox.files.stage_bytes(data, name, mime, 10**9)


def test_sms_round_trip_with_files(live: Live) -> None:
    out = live.admin.customer_sends("sms", CUSTOMER, "My order is broken <script>alert(1)</script>",
                                    files=[("broken.png", "image/png", PNG)])
    assert [d["status"] for d in out["deliveries"]] == [200]
    conv = live.conversation(live.sms)
    [msg] = live.messages(conv.id)
    assert msg.text == "My order is broken <script>alert(1)</script>"  # stored as given; shown as text
    att = msg.attachments[0]
    _view, path = live.app.inbox.attachment_file(live.me, att.id)
    assert path.read_bytes() == PNG

    reply = live.app.inbox.reply(live.me, conv.id, "Sorry! Here is the return label",
                                 [staged(live, "label.pdf", "application/pdf", PDF)])
    live.wait_status(reply.id, "delivered")
    thread = live.admin.thread("sms", CUSTOMER)
    assert [(m["from_customer"], m["text"]) for m in thread] == [
        (True, "My order is broken <script>alert(1)</script>"), (False, "Sorry! Here is the return label")]
    label = thread[1]["files"][0]
    assert label["size"] == len(PDF)
    assert httpx.get(live.sandbox.url + label["url"]).content == PDF  # MMS media fetched from the agent's link


def test_whatsapp_round_trip_with_files(live: Live) -> None:
    live.admin.customer_sends("whatsapp", CUSTOMER, "Can you check this?", name="Ana",
                              files=[("photo.png", "image/png", PNG)])
    conv = live.conversation(live.wa)
    assert conv.customer_name == "Ana"
    [msg] = live.messages(conv.id)
    assert msg.text == "Can you check this?" and msg.attachments[0].size == len(PNG)

    reply = live.app.inbox.reply(live.me, conv.id, "Checked, see the report",
                                 [staged(live, "report.pdf", "application/pdf", PDF)])
    live.wait_status(reply.id, "read")
    [sent] = live.admin.outbound("whatsapp")
    assert (sent["type"], sent["text"], sent["files"][0]["name"]) == ("document", "Checked, see the report", "report.pdf")
    assert sent["status"] == "read"


def test_a_customer_who_writes_again_joins_the_same_conversation(live: Live) -> None:
    for text in ("first", "second", "third"):
        live.admin.customer_sends("whatsapp", CUSTOMER, text)
    conv = live.conversation(live.wa)
    assert [m.text for m in live.messages(conv.id)] == ["first", "second", "third"]
    assert conv.unread_count == 3


def test_an_agent_can_start_an_sms_conversation_but_not_a_whatsapp_one(live: Live) -> None:
    import pytest

    from tray_agent.core.errors import RuleViolation

    _conv, msg = live.app.inbox.start_conversation(live.me, live.sms, "+14155550199", "Your parcel is ready")
    live.wait_status(msg.id, "delivered")
    assert [m["text"] for m in live.admin.thread("sms", "+14155550199")] == ["Your parcel is ready"]
    with pytest.raises(RuleViolation, match="only be started by the customer"):
        live.app.inbox.start_conversation(live.me, live.wa, "+14155550199", "Hello")
    assert wait_for(lambda: live.app.inbox.get_channel(live.sms).healthy, what="health check") is True
