"""What a notification reads to word its pop-up: a conversation's list row and one of its
messages, in one read, never another conversation's message nor one the agent cannot see."""

from __future__ import annotations

import pytest

from tray_agent.core.errors import NotFound


def test_a_glance_gives_the_row_and_that_conversations_message_only(world):
    first = world.customer_says(world.sms, "+14155550199", "where is my parcel", customer_name="Ada")
    conv = world.conv_of(first)
    other = world.customer_says(world.sms, "+14155550142", "another customer")
    row, msg = world.inbox.glance(world.me.id, conv, first)
    assert (row.id, row.customer_name, row.channel_label) == (conv, "Ada", "Fake SMS")
    assert msg is not None and msg.text == "where is my parcel"
    assert world.inbox.glance(world.me.id, conv, other)[1] is None  # not this conversation's
    assert world.inbox.glance(world.me.id, conv)[1] is None


def test_a_glance_at_a_conversation_out_of_sight_is_not_found(world):
    bea = world.inbox.add_agent("Bea", "bea@example.com")
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    world.inbox.claim(world.me.id, conv)
    with pytest.raises(NotFound):
        world.inbox.glance(bea.id, conv)
