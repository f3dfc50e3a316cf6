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


def twilio_takes(live: Live, text: str) -> httpx.Response:
    """Twilio accepts a send of ``text`` to the customer, as the agent's lost request would."""
    c = live.sandbox.creds
    r = httpx.post(f"{live.sandbox.url}/2010-04-01/Accounts/{c.twilio_account_sid}/Messages.json",
                   data={"To": CUSTOMER, "From": c.sms_number, "Body": text},
                   auth=(c.twilio_account_sid, c.twilio_auth_token))
    assert r.status_code == 201
    return r


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
    r = twilio_takes(live, "Accepted by Twilio just before the crash")

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


def sms_sids(live: Live, text: str) -> list[str]:
    return [m["id"] for m in live.admin.outbound("sms") if m["text"] == text]


def test_a_repeated_text_interrupted_by_a_crash_is_sent_and_the_outbox_carries_on(
        start_live: Callable[[], Live]) -> None:
    # "Thanks!" twice is normal: recovery must not take the first one's SID for the second.
    live = start_live()
    live.admin.customer_sends("sms", CUSTOMER, "Hi")
    conv = live.conversation(live.sms)
    first = live.wait_status(live.app.inbox.reply(live.me, conv.id, "Thanks!").id, "sent", "delivered").id
    live.server.stop()
    inbox, me = live.app.inbox, live.me
    second = inbox.reply(me, conv.id, "Thanks!").id
    inbox.outbox_claim(second)  # the crash came before Twilio had it
    later = inbox.reply(me, conv.id, "Queued after the crash").id

    again = start_live()
    again.wait_status(second, "sent", "delivered")
    again.wait_status(later, "sent", "delivered")
    assert len(sms_sids(again, "Thanks!")) == 2
    assert {provider_id(again, first), provider_id(again, second)} == set(sms_sids(again, "Thanks!"))
    assert sms_sids(again, "Queued after the crash") == [provider_id(again, later)]


def test_a_repeated_text_whose_connection_dropped_is_sent_once_more_not_matched_to_the_first(
        live: Live) -> None:
    live.admin.customer_sends("sms", CUSTOMER, "Hi")
    conv = live.conversation(live.sms)
    first = live.wait_status(live.app.inbox.reply(live.me, conv.id, "Thanks!").id, "sent", "delivered").id
    live.admin.fault(provider="twilio", kind="drop", method="POST", path="/Messages.json")
    second = live.app.inbox.reply(live.me, conv.id, "Thanks!").id
    live.retry_until(second, "sent", "delivered")
    assert len(sms_sids(live, "Thanks!")) == 2
    assert provider_id(live, second) != provider_id(live, first)
    after = live.app.inbox.reply(live.me, conv.id, "And the outbox still runs").id
    live.wait_status(after, "sent", "delivered")


def test_two_interrupted_identical_texts_twilio_has_both_fail_visibly_and_nothing_is_resent(
        start_live: Callable[[], Live]) -> None:
    live = start_live()
    live.admin.customer_sends("sms", CUSTOMER, "Hi")
    conv = live.conversation(live.sms)
    live.server.stop()
    inbox, me = live.app.inbox, live.me
    ids = [inbox.reply(me, conv.id, "OK").id for _ in range(2)]
    for mid in ids:
        inbox.outbox_claim(mid)
    for _ in ids:  # both reached Twilio before the crash: which is which cannot be told
        twilio_takes(live, "OK")
    later = inbox.reply(me, conv.id, "Still sending").id

    again = start_live()
    for mid in ids:
        m = again.wait_status(mid, "failed")
        assert "stopped while this message was being sent" in m.status_reason and m.can_retry
    again.wait_status(later, "sent", "delivered")
    assert len(sms_sids(again, "OK")) == 2
