"""Webhooks as providers really deliver them: twice, late, out of order. Nothing is lost,
nothing is stored twice, and a delivery status only ever moves forward."""

from __future__ import annotations

import pytest

from tests.channels.live import CUSTOMER, Live, wait_for


@pytest.mark.parametrize("kind", ["sms", "whatsapp"])
def test_every_webhook_delivered_twice_stores_each_message_once(live: Live, kind: str) -> None:
    live.admin.options(duplicate=True)
    for i in range(3):
        out = live.admin.customer_sends(kind, CUSTOMER, f"twice {i}")
        assert [d["status"] for d in out["deliveries"]] == [200, 200]
    conv = live.conversation(live.sms if kind == "sms" else live.wa)
    assert [m.text for m in live.messages(conv.id)] == ["twice 0", "twice 1", "twice 2"]


def test_held_webhooks_released_in_reverse_lose_nothing(live: Live) -> None:
    live.admin.options(hold=True)
    for i in range(5):
        live.admin.customer_sends("whatsapp", CUSTOMER, f"held {i}")
        live.admin.advance(1)
        live.admin.customer_sends("sms", f"+1415555{1000 + i}", f"sms {i}")
    assert live.stored() == 0
    live.admin.options(hold=False, duplicate=True)
    deliveries = live.admin.flush("reverse")
    assert len(deliveries) == 20 and {d["status"] for d in deliveries} == {200}
    conv = live.conversation(live.wa)
    # Stored once each, in the customer's order (by their timestamps), whatever the arrival order.
    assert sorted(m.text for m in live.messages(conv.id)) == [f"held {i}" for i in range(5)]
    assert len(live.conversations(live.sms)) == 5 and live.stored() == 10


@pytest.mark.parametrize("kind,final", [("sms", "delivered"), ("whatsapp", "read")])
def test_statuses_out_of_order_and_twice_only_move_forward(live: Live, kind: str, final: str) -> None:
    live.admin.options(reverse_statuses=True, duplicate=True)
    live.admin.customer_sends(kind, CUSTOMER, "Hi")
    conv = live.conversation(live.sms if kind == "sms" else live.wa)
    mid = live.app.inbox.reply(live.me, conv.id, "Statuses arrive backwards").id
    wait_for(lambda: len([r for r in live.admin.log() if r["kind"] == "status"]) >= (4 if kind == "sms" else 6),
             what="every status callback")
    assert live.message(mid).status == final


def test_a_late_failure_does_not_undo_a_delivery(live: Live) -> None:
    live.admin.options(auto_status=False)
    live.admin.customer_sends("sms", CUSTOMER, "Hi")
    conv = live.conversation(live.sms)
    mid = live.app.inbox.reply(live.me, conv.id, "Delivered, then a stale failure").id
    live.wait_status(mid, "sent")
    [sent] = live.admin.outbound("sms")
    live.admin.status("sms", sent["id"], "delivered")
    live.admin.status("sms", sent["id"], "undelivered", 30005)
    live.admin.status("sms", sent["id"], "sent")
    assert live.message(mid).status == "delivered"
