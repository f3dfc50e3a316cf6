"""What an agent does to a conversation, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from tray_agent.core.errors import (
    AlreadyTaken, Conflict, FileTooLarge, Forbidden, InvalidInput, NotFound, ReplyWindowClosed, RuleViolation,
)
from tray_agent.core.rules import MB


def test_reply_is_queued_in_the_outbox_and_marks_the_conversation_read(world):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    msg = world.inbox.reply(world.me.id, conv, "  Hello Ada  ")
    assert (msg.direction, msg.status, msg.text, msg.sender_name) == ("out", "queued", "Hello Ada", world.me.name)
    assert world.inbox.outbox_due() == [msg.id]
    view = world.inbox.list_inbox(world.me.id).items[0]
    assert not view.unread and view.assigned_agent_id == world.me.id


def test_empty_reply_is_refused(world):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    with pytest.raises(InvalidInput, match="empty"):
        world.inbox.reply(world.me.id, conv, "   ")
    assert world.inbox.outbox_due() == []


def test_reply_inside_whatsapp_window_is_accepted_until_the_last_second(world):
    conv = world.conv_of(world.customer_says(world.wa, "14155550199", "hi"))
    world.clock.advance(timedelta(hours=23, minutes=59, seconds=59))
    assert world.inbox.reply(world.me.id, conv, "still in time").status == "queued"


def test_reply_outside_whatsapp_window_is_refused_with_closing_time(world):
    conv = world.conv_of(world.customer_says(world.wa, "14155550199", "hi"))
    opened = world.clock.now()
    world.clock.advance(timedelta(hours=24))
    with pytest.raises(ReplyWindowClosed) as err:
        world.inbox.reply(world.me.id, conv, "too late")
    assert err.value.closed_at == opened + timedelta(hours=24)
    assert "closed at" in err.value.message
    detail = world.inbox.get_conversation(world.me.id, conv)
    assert not detail.composer.can_reply and detail.composer.window_closes_at == opened + timedelta(hours=24)


def test_customer_message_restarts_the_whatsapp_window(world):
    world.customer_says(world.wa, "14155550199", "hi")
    world.clock.advance(timedelta(hours=20))
    conv = world.conv_of(world.customer_says(world.wa, "14155550199", "still there?"))
    world.clock.advance(timedelta(hours=20))
    assert world.inbox.reply(world.me.id, conv, "yes").status == "queued"


def test_start_on_whatsapp_is_refused_because_only_customers_start(world):
    with pytest.raises(RuleViolation, match="only be started by the customer"):
        world.inbox.start_conversation(world.me.id, world.wa.id, "+14155550199", "hello")


def test_start_sms_from_business_number_normalises_the_customer_number(world):
    conv, msg = world.inbox.start_conversation(world.me.id, world.sms.id, "(415) 555-0199".replace("(", "+1 ("),
                                               "Your order shipped")
    assert conv.customer_address == "+14155550199" and conv.assigned_agent_id == world.me.id
    assert msg.status == "queued"
    again, _ = world.inbox.start_conversation(world.me.id, world.sms.id, "+14155550199", "and one more thing")
    assert again.id == conv.id  # one open conversation per customer and channel


def test_start_to_malformed_number_is_refused(world):
    with pytest.raises(InvalidInput, match="not a .*phone number"):
        world.inbox.start_conversation(world.me.id, world.sms.id, "12", "hi")


def test_reply_to_unknown_conversation_says_so(world):
    with pytest.raises(NotFound, match="no conversation 999"):
        world.inbox.reply(world.me.id, 999, "hi")


def test_file_over_100mb_is_refused_and_over_native_limit_goes_as_link(world):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "send the manual"))
    big = world.inbox.files.stage([b"x" * (6 * MB)], "manual.pdf", "application/pdf", 100 * MB)
    msg = world.inbox.reply(world.me.id, conv, "", [big])
    assert msg.kind == "file" and msg.meta["as_link"] == [msg.attachments[0].id]
    with pytest.raises(FileTooLarge, match="100 MB"):
        world.inbox.files.stage([b"x" * MB] * 101, "huge.bin", "application/octet-stream", 100 * MB)
    assert list(world.inbox.files.staging.iterdir()) == []  # the partial upload is gone


def test_whatsapp_image_over_5mb_is_refused_with_the_reason(world):
    conv = world.conv_of(world.customer_says(world.wa, "14155550199", "photo?"))
    img = world.inbox.files.stage([b"x" * (6 * MB)], "photo.jpg", "image/jpeg", 100 * MB)
    with pytest.raises(FileTooLarge, match="image/jpeg files up to 5 MB"):
        world.inbox.reply(world.me.id, conv, "", [img])


def test_queue_members_all_see_a_new_conversation_until_one_takes_it_over(world):
    bob = world.inbox.add_agent("Bob", "bob@example.com")
    q = world.inbox.add_queue("Support", [world.me.id, bob.id])
    world.inbox.update_channel(world.sms.id, route_queue_id=q.id)
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "help"))
    assert [c.id for c in world.inbox.list_inbox(bob.id, "unassigned").items] == [conv]
    assert [c.id for c in world.inbox.list_inbox(world.me.id, "unassigned").items] == [conv]
    seq = world.inbox.last_seq()
    world.inbox.claim(bob.id, conv)
    assert world.inbox.list_inbox(world.me.id).items == []
    # The other member is told it left their list.
    assert any(e.type == "conversation.updated" and e.data["change"] == "claimed"
               for e in world.inbox.events_since(world.me.id, seq))
    # A member who replies too late is told who took it, not that it does not exist.
    with pytest.raises(AlreadyTaken, match="Bob has already taken over"):
        world.inbox.reply(world.me.id, conv, "me too")


def test_two_agents_claiming_at_once_one_wins_the_other_is_told_who(world):
    agents = [world.inbox.add_agent(f"Agent {i}", f"a{i}@example.com") for i in range(2)]
    q = world.inbox.add_queue("Sales", [a.id for a in agents])
    world.inbox.update_channel(world.sms.id, route_queue_id=q.id)
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "price?"))
    barrier = threading.Barrier(2)
    results: dict[int, object] = {}

    def claim(agent_id: int) -> None:
        barrier.wait()
        try:
            results[agent_id] = world.inbox.claim(agent_id, conv).assigned_agent_id
        except Conflict as exc:
            results[agent_id] = exc

    threads = [threading.Thread(target=claim, args=(a.id,)) for a in agents]
    [t.start() for t in threads]
    [t.join() for t in threads]
    winners = [v for v in results.values() if not isinstance(v, Exception)]
    losers = [v for v in results.values() if isinstance(v, Conflict)]
    assert len(winners) == 1 and len(losers) == 1
    winner_name = next(a.name for a in agents if a.id == winners[0])
    assert f"{winner_name} has already taken over" in losers[0].message


def test_transfer_moves_the_conversation_with_its_history_and_note(world):
    bob = world.inbox.add_agent("Bob", "bob@example.com")
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "refund please"))
    world.inbox.reply(world.me.id, conv, "Let me check")
    seq = world.inbox.last_seq()
    world.inbox.transfer(world.me.id, conv, to_agent_id=bob.id, note="VIP, handle gently")
    assert world.inbox.list_inbox(world.me.id).items == []
    assert [c.id for c in world.inbox.list_inbox(bob.id, "mine").items] == [conv]
    texts = [m.text for m in world.inbox.history(bob.id, conv).items]
    assert texts[:2] == ["refund please", "Let me check"]
    assert texts[-1] == f"{world.me.name} transferred this conversation to Bob: VIP, handle gently"
    bob_events = world.inbox.events_since(bob.id, seq)
    assert any(e.type == "conversation.transferred" and e.data["to_agent_id"] == bob.id for e in bob_events)
    assert any(e.type == "conversation.transferred" for e in world.inbox.events_since(world.me.id, seq))


def test_transfer_to_a_queue_and_refusals(world):
    q = world.inbox.add_queue("Billing", [world.me.id])
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "invoice"))
    with pytest.raises(InvalidInput):
        world.inbox.transfer(world.me.id, conv)
    with pytest.raises(NotFound):
        world.inbox.transfer(world.me.id, conv, to_agent_id=4242)
    with pytest.raises(InvalidInput, match="already yours"):
        world.inbox.claim(world.me.id, conv) and world.inbox.transfer(world.me.id, conv, to_agent_id=world.me.id)
    view = world.inbox.transfer(world.me.id, conv, to_queue_id=q.id)
    assert view.assigned_agent_id is None and view.queue_name == "Billing"


def test_only_the_owner_can_transfer(world):
    bob = world.inbox.add_agent("Bob", "bob@example.com")
    carol = world.inbox.add_agent("Carol", "carol@example.com")
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    world.inbox.claim(bob.id, conv)
    with pytest.raises(NotFound):
        world.inbox.transfer(carol.id, conv, to_agent_id=carol.id)


def test_close_reopen_and_reply_to_closed_conversation(world):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    world.inbox.close(world.me.id, conv)
    with pytest.raises(RuleViolation, match="closed"):
        world.inbox.reply(world.me.id, conv, "hello?")
    assert world.inbox.reopen(world.me.id, conv).status == "open"
    assert world.inbox.reply(world.me.id, conv, "hello again").status == "queued"


def test_reopen_refused_when_customer_already_has_a_newer_open_conversation(world):
    first = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    world.inbox.close(world.me.id, first)
    second = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi again"))
    with pytest.raises(Conflict, match=f"open conversation \\({second}\\)"):
        world.inbox.reopen(world.me.id, first)


def test_read_and_unread_are_per_agent(world):
    bob = world.inbox.add_agent("Bob", "bob@example.com")
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    world.inbox.mark_read(world.me.id, conv)
    assert world.inbox.list_inbox(world.me.id, "unread").items == []
    assert [c.id for c in world.inbox.list_inbox(bob.id, "unread").items] == [conv]
    world.inbox.mark_unread(world.me.id, conv)
    assert world.inbox.unread_summary(world.me.id) == (1, [conv])
    world.customer_says(world.sms, "+14155550199", "hello?")
    world.inbox.mark_read(world.me.id, conv)
    assert world.inbox.unread_summary(world.me.id) == (0, [])


def test_save_contact_ties_conversations_on_every_channel_together(world):
    sms = world.conv_of(world.customer_says(world.sms, "+14155550199", "sms hello"))
    wa = world.conv_of(world.customer_says(world.wa, "14155550199", "wa hello"))
    contact = world.inbox.save_contact(world.me.id, sms, name="Ada Lovelace")
    assert contact.points == [{"kind": "phone", "address": "+14155550199"}]
    detail = world.inbox.get_conversation(world.me.id, wa)
    assert detail.contact_name == "Ada Lovelace" and detail.earlier_conversation_ids == [sms]
    assert [m.text for m in world.inbox.history(world.me.id, wa).items] == ["sms hello", "wa hello"]
    other = world.conv_of(world.customer_says(world.sms, "+442071838750", "hi from London"))
    added = world.inbox.save_contact(world.me.id, other, contact_id=contact.id)
    assert {p["address"] for p in added.points} == {"+14155550199", "+442071838750"}
    fresh = world.inbox.save_contact(world.me.id, world.conv_of(world.customer_says(world.sms, "+14155550142", "x")), name="Bob")
    with pytest.raises(Conflict, match="already belongs"):
        world.inbox.save_contact(world.me.id, sms, contact_id=fresh.id)


def test_search_finds_words_newest_first_and_only_in_visible_conversations(world):
    bob = world.inbox.add_agent("Bob", "bob@example.com")
    a = world.customer_says(world.sms, "+14155550199", "my parcel is late")
    b = world.customer_says(world.wa, "14155550142", "Parcel arrived damaged")
    hidden = world.conv_of(world.customer_says(world.sms, "+14155550143", "parcel for bob"))
    world.inbox.claim(bob.id, hidden)
    hits = world.inbox.search(world.me.id, "parc*")
    assert [h.message.id for h in hits] == [b, a]
    assert [h.message.id for h in world.inbox.search(world.me.id, "parcel late")] == [a]
    # The last word matches as a prefix while it is being typed; the words before it are whole.
    assert [h.message.id for h in world.inbox.search(world.me.id, "parc")] == [b, a]
    assert world.inbox.search(world.me.id, "parc late") == []
    with pytest.raises(InvalidInput):
        world.inbox.search(world.me.id, "  ")
    assert [h.message.text for h in world.inbox.search(world.me.id, '"); DROP TABLE message; --')] == []


def test_inbox_filters_and_keyset_pagination(world):
    for i in range(7):
        world.customer_says(world.sms, f"+1415555{100 + i:04d}", f"m{i}")
        world.clock.advance(60)
    wa = world.conv_of(world.customer_says(world.wa, "14155550142", "wa"))
    seen, cursor = [], None
    while True:
        page = world.inbox.list_inbox(world.me.id, limit=3, cursor=cursor)
        seen += [c.last_message_preview for c in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == ["wa"] + [f"m{i}" for i in reversed(range(7))]
    assert [c.id for c in world.inbox.list_inbox(world.me.id, channel_id=world.wa.id).items] == [wa]
    world.inbox.reply(world.me.id, wa, "mine now")
    assert [c.id for c in world.inbox.list_inbox(world.me.id, "mine").items] == [wa]
    assert len(world.inbox.list_inbox(world.me.id, "unassigned").items) == 7
    with pytest.raises(InvalidInput):
        world.inbox.list_inbox(world.me.id, "favourites")
    with pytest.raises(InvalidInput, match="cursor"):
        world.inbox.list_inbox(world.me.id, cursor="garbage!")


def test_history_pages_backwards_through_a_long_conversation(world):
    for i in range(120):
        world.customer_says(world.sms, "+14155550199", f"line {i}")
    conv = world.inbox.list_inbox(world.me.id).items[0].id
    page = world.inbox.history(world.me.id, conv, limit=50)
    texts = [m.text for m in page.items]
    assert texts[0] == "line 70" and texts[-1] == "line 119"
    older = world.inbox.history(world.me.id, conv, before=page.next_before, limit=50)
    assert older.items[-1].text == "line 69"
    oldest = world.inbox.history(world.me.id, conv, before=older.next_before, limit=50)
    assert oldest.items[0].text == "line 0" and oldest.next_before is None


def test_every_change_is_an_event_with_increasing_sequence_numbers(world):
    before = world.inbox.last_seq()
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    world.inbox.reply(world.me.id, conv, "hello")
    world.inbox.archive(world.me.id, conv)
    evs = world.inbox.events_since(world.me.id, before)
    assert [e.type for e in evs] == ["conversation.created", "message.created", "conversation.updated",
                                      "message.created", "conversation.updated"]
    seqs = [e.seq for e in evs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert world.inbox.events_since(world.me.id, seqs[2]) == evs[3:]


def test_forbidden_when_a_colleague_holds_the_conversation_and_i_start_to_same_customer(world):
    bob = world.inbox.add_agent("Bob", "bob@example.com")
    world.inbox.start_conversation(bob.id, world.sms.id, "+14155550199", "hi from Bob")
    with pytest.raises(Forbidden, match="Bob already has an open conversation"):
        world.inbox.start_conversation(world.me.id, world.sms.id, "+14155550199", "hi from me")
