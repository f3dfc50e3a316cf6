"""Group commit of inbound webhooks: what arrives together is committed together, across
channels, and one message that cannot be stored does not hold back the others."""

from __future__ import annotations

import asyncio

from tray_agent.channels import InboundMessage
from tray_agent.core.errors import InvalidInput
from tray_agent.run.runtime import Runtime, _Context


def _contexts(world):  # type: ignore[no-untyped-def]
    runtime = Runtime(world.app)
    return [_Context(runtime, c.id, c.name) for c in (world.sms, world.wa)]


def test_webhooks_arriving_together_on_different_channels_share_one_commit(world):
    sms, wa = _contexts(world)
    commits: list[int] = []
    world.inbox.bus.subscribe(commits.append)  # once per committed transaction that wrote events

    async def burst() -> list[list[BaseException | None]]:
        return await asyncio.gather(sms.store([InboundMessage("SMa", "+14155550199", "where is it?")]),
                                    wa.store([InboundMessage("wa-b", "+14155550142", "hello")]),
                                    sms.store([InboundMessage("SMc", "+14155550143", "any news?")]))

    assert asyncio.run(burst()) == [[None], [None], [None]]
    assert len(commits) == 1  # not one per channel: the event log's writers queue on one lock
    page = world.inbox.list_inbox(world.me.id).items
    assert sorted((c.channel_id, c.customer_address) for c in page) == sorted([
        (world.sms.id, "+14155550199"), (world.wa.id, "+14155550142"), (world.sms.id, "+14155550143")])


def test_a_message_that_cannot_be_stored_does_not_hold_back_the_others(world):
    sms, wa = _contexts(world)

    async def burst() -> list[list[BaseException | None]]:
        return await asyncio.gather(
            sms.store([InboundMessage("SM1", "+14155550199", "fine"), InboundMessage("SM2", "not a number", "x")]),
            wa.store([InboundMessage("wa-3", "+14155550142", "also fine")]))

    [[first, second], [third]] = asyncio.run(burst())
    assert first is None and third is None and isinstance(second, InvalidInput)
    page = world.inbox.list_inbox(world.me.id).items
    assert sorted(c.last_message_preview for c in page) == ["also fine", "fine"]
