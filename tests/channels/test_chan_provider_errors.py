"""The provider says no, or not now: WhatsApp's 24-hour rule at once (HTTP 400) or later (a
failed status), rate limits with Retry-After, server errors and other refusals — each
handled by the outbox the way the provider asks, with the provider's reason shown."""

from __future__ import annotations

import pytest

from tests.channels.live import CUSTOMER, Live, wait_for


def reply_to_customer(live: Live, channel: int, text: str) -> int:
    live.admin.customer_sends("sms" if channel == live.sms else "whatsapp", CUSTOMER, "Hello?")
    conv = live.conversation(channel)
    return live.app.inbox.reply(live.me, conv.id, text).id


def test_131047_refused_at_once_fails_the_reply_as_a_rule(live: Live) -> None:
    live.admin.customer_sends("whatsapp", CUSTOMER, "Hello?")
    live.admin.options(window_mode="sync")
    live.admin.advance(24 * 3600 + 60)  # only the provider's clock: the agent still sees an open window
    conv = live.conversation(live.wa)
    m = live.wait_status(live.app.inbox.reply(live.me, conv.id, "Still there?").id, "failed")
    assert m.error_code == "131047" and "24 hours" in m.status_reason and m.can_retry is False
    assert live.admin.outbound("whatsapp") == []


def test_131047_in_a_later_status_fails_the_sent_reply_as_a_rule(live: Live) -> None:
    live.admin.customer_sends("whatsapp", CUSTOMER, "Hello?")
    live.admin.advance(24 * 3600 + 60)
    conv = live.conversation(live.wa)
    m = live.wait_status(live.app.inbox.reply(live.me, conv.id, "Still there?").id, "failed")
    assert m.error_code == "131047" and "24 hours" in m.status_reason and m.can_retry is False
    [sent] = live.admin.outbound("whatsapp")
    assert sent["status"] == "failed" and sent["error_code"] == 131047


@pytest.mark.parametrize("provider", ["twilio", "meta"])
def test_429_is_retried_when_the_provider_says(live: Live, provider: str) -> None:
    channel, kind, path = ((live.sms, "sms", "/Messages.json") if provider == "twilio"
                           else (live.wa, "whatsapp", "/messages"))
    live.admin.fault(provider=provider, status=429, retry_after=7, method="POST", path=path)
    mid = reply_to_customer(live, channel, "After the rate limit")
    live.wait_retry_scheduled(mid)
    assert 6.5 <= live.outbox_due_in() <= 7.5  # Retry-After: 7
    assert live.admin.outbound(kind) == []
    live.advance(7)
    live.wait_status(mid, "sent", "delivered", "read")
    assert [s["text"] for s in live.admin.outbound(kind)] == ["After the rate limit"]


def test_500_is_retried_with_backoff(live: Live) -> None:
    live.admin.fault(provider="twilio", status=500, method="POST", path="/Messages.json")
    mid = reply_to_customer(live, live.sms, "After a server error")
    live.wait_retry_scheduled(mid)
    assert 1 <= live.outbox_due_in() <= 3  # the first backoff step: 2 s, with jitter
    live.advance(3)
    live.wait_status(mid, "sent", "delivered")
    assert [s["text"] for s in live.admin.outbound("sms")] == ["After a server error"]


@pytest.mark.parametrize("provider,expected", [
    ("twilio", "Twilio refused the message: Invalid 'To' Phone Number (error 21211)"),
    ("meta", "WhatsApp refused the message: (#100) Invalid parameter"),
])
def test_other_4xx_fails_at_once_with_the_providers_message(live: Live, provider: str, expected: str) -> None:
    channel = live.sms if provider == "twilio" else live.wa
    live.admin.fault(provider=provider, status=400, method="POST", path="/Messages.json" if provider == "twilio" else "/messages")
    m = live.wait_status(reply_to_customer(live, channel, "Refused"), "failed")
    assert m.status_reason.startswith(expected) and "\n" not in m.status_reason
    assert m.can_retry is True and live.app.inbox.outbox_next_due_at() is None


def test_a_provider_that_is_down_loses_nothing_and_sends_once(live: Live) -> None:
    # Dropped before it was read, then dropped after Twilio had taken it: the third
    # attempt looks the message up first instead of sending it again.
    live.admin.fault(provider="twilio", kind="drop", method="POST", path="/Messages.json")
    live.admin.fault(provider="twilio", kind="drop_after", method="POST", path="/Messages.json")
    mid = reply_to_customer(live, live.sms, "Through a flaky network")
    live.retry_until(mid, "sent", "delivered")
    assert [s["text"] for s in live.admin.outbound("sms")] == ["Through a flaky network"]


def test_status_callbacks_before_the_sends_answer_are_kept_and_applied_once_the_sid_is_known(live: Live) -> None:
    # Twilio takes the message and calls back "sent", "delivered" (signed), but its answer
    # to the send is lost: the callbacks name a SID the agent does not know yet.
    from sqlalchemy import func, select

    from tray_agent.core.models import EarlyStatus

    def kept() -> int:
        with live.app.db.read() as s:
            return int(s.execute(select(func.count()).select_from(EarlyStatus)).scalar_one())

    live.admin.fault(provider="twilio", kind="drop_after", method="POST", path="/Messages.json")
    mid = reply_to_customer(live, live.sms, "Delivered before the answer")
    live.wait_retry_scheduled(mid)
    wait_for(lambda: kept() == 2, what="both early callbacks to be kept")
    assert live.message(mid).status == "queued"
    live.advance(300)  # the retry looks the message up instead of sending it again
    live.wait_status(mid, "delivered")
    [sent] = live.admin.outbound("sms")
    assert sent["text"] == "Delivered before the answer" and kept() == 0
