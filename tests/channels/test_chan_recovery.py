"""A crash with sends in flight: after the restart, pending sends go out, a send the
provider had already accepted is recognised (find_sent) and never sent twice, and one
that cannot be checked fails visibly instead of risking a duplicate."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tray_agent.core.models import Message
from tests.channels.live import CUSTOMER, Live


def provider_id(live: Live, message_id: int) -> str | None:
    with live.app.db.read() as s:
        return s.get(Message, message_id).provider_message_id  # type: ignore[union-attr]


def test_restart_resumes_pending_sends_and_never_resends_an_accepted_one(start_live: Callable[[], Live]) -> None:
    live = start_live()
    live.admin.customer_sends("sms", CUSTOMER, "Hi")
    conv = live.conversation(live.sms)
    live.server.stop()  # the agent goes down with work in its outbox
    inbox, me = live.app.inbox, live.me
    pending = inbox.reply(me, conv.id, "Queued while the agent was down").id
    accepted = inbox.reply(me, conv.id, "Accepted by Twilio just before the crash").id
    lost = inbox.reply(me, conv.id, "Claimed, but the crash came first").id
    inbox.outbox_claim(accepted)
    inbox.outbox_claim(lost)
    c = live.sandbox.creds
    r = httpx.post(f"{live.sandbox.url}/2010-04-01/Accounts/{c.twilio_account_sid}/Messages.json",
                   data={"To": CUSTOMER, "From": c.sms_number, "Body": "Accepted by Twilio just before the crash"},
                   auth=(c.twilio_account_sid, c.twilio_auth_token))
    assert r.status_code == 201

    again = start_live()  # a new process on the same store
    for mid in (pending, accepted, lost):
        again.wait_status(mid, "sent", "delivered")
    texts = [m["text"] for m in again.admin.outbound("sms")]
    assert sorted(texts) == sorted(["Queued while the agent was down", "Accepted by Twilio just before the crash",
                                    "Claimed, but the crash came first"])
    assert provider_id(again, accepted) == r.json()["sid"]


def test_an_interrupted_whatsapp_send_fails_visibly_instead_of_risking_a_duplicate(
        start_live: Callable[[], Live]) -> None:
    live = start_live()
    live.admin.customer_sends("whatsapp", CUSTOMER, "Hi")
    conv = live.conversation(live.wa)
    live.server.stop()
    mid = live.app.inbox.reply(live.me, conv.id, "In flight at the crash").id
    live.app.inbox.outbox_claim(mid)

    again = start_live()
    m = again.wait_status(mid, "failed")
    assert "stopped while this message was being sent" in m.status_reason and m.can_retry
    assert again.admin.outbound("whatsapp") == []
    again.app.inbox.retry(again.me, mid)  # the agent decides; then it goes once
    again.wait_status(mid, "sent", "delivered", "read")
    assert [s["text"] for s in again.admin.outbound("whatsapp")] == ["In flight at the crash"]
