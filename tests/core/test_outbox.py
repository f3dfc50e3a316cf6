"""The outbox worker: committed before the provider is called, retried with backoff on
429/5xx, failed with the provider's reason otherwise, and safe across a crash."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from tray_agent.core.errors import ProviderError
from tray_agent.core.models import OutboxItem
from tray_agent.run.runtime import INTERRUPTED, Runtime


def _runtime(world) -> Runtime:  # type: ignore[no-untyped-def]
    rt = Runtime(world.app, "http://127.0.0.1:9")
    rt.start_adapters()
    return rt


def _msg(world, mid):  # type: ignore[no-untyped-def]
    conv = world.conv_of(mid)
    return [m for m in world.inbox.history(world.me.id, conv).items if m.id == mid][0]


def test_queued_reply_is_sent_once_and_marked_sent(world, fake_channels):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    msg = world.inbox.reply(world.me.id, conv, "hello")
    rt = _runtime(world)
    assert asyncio.run(rt.drain_outbox()) == 1
    assert asyncio.run(rt.drain_outbox()) == 0
    sent = fake_channels.adapters[world.sms.id].sent
    assert [(m.message_id, m.customer_address, m.text) for m in sent] == [(msg.id, "+14155550199", "hello")]
    assert _msg(world, msg.id).status == "sent"


def test_rate_limited_send_waits_for_retry_after_then_goes_through(world, fake_channels):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    msg = world.inbox.reply(world.me.id, conv, "hello")
    rt = _runtime(world)
    fake_channels.adapters[world.sms.id].failures.append(
        ProviderError("Too Many Requests (20429)", retryable=True, provider_code=20429, retry_after=7))
    asyncio.run(rt.drain_outbox())
    m = _msg(world, msg.id)
    assert m.status == "queued" and "Too Many Requests" in m.status_reason
    assert world.inbox.outbox_next_due_at() == world.clock.now() + timedelta(seconds=7)
    world.clock.advance(6)
    assert asyncio.run(rt.drain_outbox()) == 0
    world.clock.advance(1)
    assert asyncio.run(rt.drain_outbox()) == 1
    assert _msg(world, msg.id).status == "sent"


def test_client_error_fails_with_the_providers_message_and_can_be_retried(world, fake_channels):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    msg = world.inbox.reply(world.me.id, conv, "hello")
    rt = _runtime(world)
    fake_channels.adapters[world.sms.id].failures.append(
        ProviderError("The 'To' number is not a valid phone number.", retryable=False, provider_code=21211))
    asyncio.run(rt.drain_outbox())
    m = _msg(world, msg.id)
    assert (m.status, m.error_code, m.can_retry) == ("failed", "21211", True)
    assert m.status_reason == "The 'To' number is not a valid phone number."
    world.inbox.retry(world.me.id, msg.id)
    asyncio.run(rt.drain_outbox())
    assert _msg(world, msg.id).status == "sent"


def test_rule_refusal_is_final_and_offers_no_retry(world, fake_channels):
    conv = world.conv_of(world.customer_says(world.wa, "14155550199", "hi"))
    msg = world.inbox.reply(world.me.id, conv, "hello")
    rt = _runtime(world)
    fake_channels.adapters[world.wa.id].failures.append(ProviderError(
        "More than 24 hours have passed since the customer last replied (131047).",
        retryable=False, provider_code=131047, permanent_rule=True))
    asyncio.run(rt.drain_outbox())
    m = _msg(world, msg.id)
    assert m.status == "failed" and not m.can_retry and "24 hours" in m.status_reason


def test_send_interrupted_by_a_crash_is_not_sent_again_blindly(world, fake_channels):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    msg = world.inbox.reply(world.me.id, conv, "hello")
    assert world.inbox.outbox_claim(msg.id) is not None  # ...and the process dies here
    rt = _runtime(world)
    asyncio.run(rt.recover_interrupted())
    asyncio.run(rt.drain_outbox())
    assert fake_channels.adapters[world.sms.id].sent == []
    m = _msg(world, msg.id)
    assert m.status == "failed" and m.status_reason == INTERRUPTED and m.can_retry


def test_interrupted_send_the_provider_has_is_marked_sent_without_resending(world, fake_channels):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    msg = world.inbox.reply(world.me.id, conv, "hello")
    world.inbox.outbox_claim(msg.id)
    rt = _runtime(world)
    adapter = fake_channels.adapters[world.sms.id]

    async def find_sent(message_id: int) -> str | None:
        return "SMalready" if message_id == msg.id else None

    adapter.find_sent = find_sent  # type: ignore[attr-defined]
    asyncio.run(rt.recover_interrupted())
    assert adapter.sent == [] and _msg(world, msg.id).status == "sent"
    with world.app.db.read() as s:
        assert s.get(OutboxItem, msg.id).state == "done"


def test_channel_without_a_running_adapter_fails_the_message_visibly(world, fake_channels, monkeypatch):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    msg = world.inbox.reply(world.me.id, conv, "hello")

    def broken(cfg, ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("the plugin cannot start")

    kind = world.app.channel_types["fake-sms"]
    monkeypatch.setitem(world.app.channel_types, "fake-sms", dataclasses.replace(kind, factory=broken))
    rt = Runtime(world.app)  # adapters never started: the send tries to start it, and cannot
    asyncio.run(rt.drain_outbox())
    assert "not running" in _msg(world, msg.id).status_reason
    assert world.sms.id not in fake_channels.adapters


def test_a_send_on_a_channel_not_started_yet_starts_it_and_goes_out(world, fake_channels):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    msg = world.inbox.reply(world.me.id, conv, "hello")
    rt = Runtime(world.app)  # as for a channel added while it runs: not started yet
    asyncio.run(rt.drain_outbox())
    assert _msg(world, msg.id).status == "sent"
    assert [m.text for m in fake_channels.adapters[world.sms.id].sent] == ["hello"]


def test_recovery_never_takes_another_messages_provider_id_and_goes_on_with_the_rest(world, fake_channels):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    first = world.inbox.reply(world.me.id, conv, "Thanks!")
    world.inbox.outbox_claim(first.id)
    world.inbox.outbox_sent(first.id, "SMfirst")
    second = world.inbox.reply(world.me.id, conv, "Thanks!")
    third = world.inbox.reply(world.me.id, conv, "OK")
    for m in (second, third):
        world.inbox.outbox_claim(m.id)
    rt = _runtime(world)
    adapter = fake_channels.adapters[world.sms.id]

    async def find_sent(message_id: int) -> str | None:  # a careless plugin: same text, first match
        return "SMfirst" if message_id == second.id else "SMthird"

    adapter.find_sent = find_sent  # type: ignore[attr-defined]
    asyncio.run(rt.recover_interrupted())
    m2, m3 = _msg(world, second.id), _msg(world, third.id)
    assert m2.status == "failed" and m2.status_reason == INTERRUPTED and m2.can_retry
    assert m3.status == "sent" and _msg(world, first.id).status == "sent"
    with world.app.db.read() as s:
        assert s.get(OutboxItem, third.id).state == "done"
