"""Customer messages and delivery statuses entering the inbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tray_agent.channels import InboundFile, InboundMessage, StatusUpdate
from tray_agent.core.errors import InvalidInput
from sqlmodel import col, select

from tray_agent.core.models import Event, Message


def test_first_customer_message_opens_a_conversation_in_the_inbox(world):
    mid = world.customer_says(world.sms, "+1 415 555 0199", "Hi, is my order shipped?", customer_name="Ada")
    page = world.inbox.list_inbox(world.me.id)
    assert [c.customer_address for c in page.items] == ["+14155550199"]
    conv = page.items[0]
    assert conv.customer_name == "Ada" and conv.channel_kind == "fake-sms" and conv.unread
    assert conv.last_message_preview == "Hi, is my order shipped?"
    hist = world.inbox.history(world.me.id, conv.id)
    assert [m.id for m in hist.items] == [mid]


def test_the_same_provider_message_twice_is_stored_once(world):
    a = world.customer_says(world.sms, "+14155550199", "hello", pid="SM1")
    b = world.customer_says(world.sms, "+14155550199", "hello", pid="SM1")
    assert a == b
    conv = world.inbox.list_inbox(world.me.id).items[0]
    assert len(world.inbox.history(world.me.id, conv.id).items) == 1
    assert conv.unread_count == 1


def test_further_messages_join_the_open_conversation(world):
    a = world.customer_says(world.sms, "+14155550199", "one")
    b = world.customer_says(world.sms, "+14155550199", "two")
    assert world.conv_of(a) == world.conv_of(b)
    assert world.inbox.list_inbox(world.me.id).items[0].unread_count == 2


def test_same_number_on_another_channel_is_another_conversation(world):
    a = world.customer_says(world.sms, "+14155550199", "sms")
    b = world.customer_says(world.wa, "14155550199", "wa")  # WhatsApp ids carry no '+'
    assert world.conv_of(a) != world.conv_of(b)


def test_malformed_number_is_refused_with_one_line_and_nothing_stored(world):
    with pytest.raises(InvalidInput, match="not a .*phone number"):
        world.customer_says(world.sms, "call me maybe", "hi")
    assert world.inbox.list_inbox(world.me.id).items == []


def test_archived_conversation_comes_back_on_a_new_customer_message(world):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    world.inbox.archive(world.me.id, conv)
    assert world.inbox.list_inbox(world.me.id).items == []
    assert [c.id for c in world.inbox.list_inbox(world.me.id, "archived").items] == [conv]
    world.customer_says(world.sms, "+14155550199", "anyone?")
    assert [c.id for c in world.inbox.list_inbox(world.me.id).items] == [conv]


def test_after_closing_the_next_message_opens_a_new_conversation_showing_earlier_history(world):
    first = world.conv_of(world.customer_says(world.sms, "+14155550199", "first visit"))
    world.inbox.close(world.me.id, first)
    second = world.conv_of(world.customer_says(world.sms, "+14155550199", "back again"))
    assert second != first
    detail = world.inbox.get_conversation(world.me.id, second)
    assert detail.earlier_conversation_ids == [first]
    texts = [m.text for m in world.inbox.history(world.me.id, second).items]
    assert texts[0] == "first visit" and texts[-1] == "back again"
    assert any(t.startswith("Closed by") for t in texts)


def test_inbound_file_is_stored_with_checksum_and_24h_expiry(world):
    data = b"%PDF-1.4 invoice"
    mid = world.inbox.receive(world.wa.id, InboundMessage(
        "wamid.1", "14155550199", "", files=(InboundFile("../../etc/passwd invoice.pdf", "application/pdf", data),)))
    msg = world.inbox.history(world.me.id, world.conv_of(mid)).items[0]
    att = msg.attachments[0]
    assert msg.kind == "file" and att.size == len(data) and att.file_name == "passwd invoice.pdf"
    assert att.expires_at == world.clock.now() + timedelta(hours=24)


def _sent_message(world) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    msg = world.inbox.reply(world.me.id, conv, "hello")
    world.inbox.outbox_claim(msg.id)
    world.inbox.outbox_sent(msg.id, "SMout1")
    return msg.id, "SMout1"


def test_status_only_moves_forward_whatever_order_callbacks_arrive_in(world):
    mid, pid = _sent_message(world)
    for status in ["delivered", "sent", "queued", "delivered"]:
        world.inbox.update_status(world.sms.id, StatusUpdate(pid, status))
    with world.app.db.read() as s:
        assert s.get(Message, mid).status == "delivered"
    world.inbox.update_status(world.sms.id, StatusUpdate(pid, "read"))
    world.inbox.update_status(world.sms.id, StatusUpdate(pid, "failed", error_message="late failure"))
    with world.app.db.read() as s:
        assert s.get(Message, mid).status == "read"


def test_failed_status_keeps_the_providers_reason(world):
    mid, pid = _sent_message(world)
    world.inbox.update_status(world.sms.id, StatusUpdate(pid, "failed", error_code="30003", error_message="Unreachable handset"))
    msg = [m for m in world.inbox.history(world.me.id, world.conv_of(mid)).items if m.id == mid][0]
    assert (msg.status, msg.status_reason, msg.error_code, msg.can_retry) == ("failed", "Unreachable handset", "30003", True)


def test_unknown_status_value_is_refused(world):
    _mid, pid = _sent_message(world)
    with pytest.raises(InvalidInput):
        world.inbox.update_status(world.sms.id, StatusUpdate(pid, "teleported"))


def test_status_for_unknown_message_changes_nothing(world):
    assert world.inbox.update_status(world.sms.id, StatusUpdate("nope", "delivered")) is False


def test_batch_ingest_matches_one_by_one_ingest(world):
    """The bulk path (imports, benchmarks) stores what receive() would: conversations,
    summaries, events, the search index, and skips provider ids already stored."""
    world.customer_says(world.sms, "+14155550199", "before the import", pid="SM0")
    before = world.inbox.last_seq()
    batch = [InboundMessage(f"SM{i}", n, f"imported parcel {i}", customer_name="Imp")
             for i, n in enumerate(["+14155550199", "+14155550142", "+14155550199", "+14155550143"])]
    assert world.inbox.receive_batch(world.sms.id, batch + batch[:1]) == 3  # SM0 exists; SM0 again in-batch
    convs = {c.customer_address: c for c in world.inbox.list_inbox(world.me.id).items}
    assert set(convs) == {"+14155550199", "+14155550142", "+14155550143"}
    ada = convs["+14155550199"]
    assert ada.unread_count == 2 and ada.last_message_preview == "imported parcel 2"
    assert [m.text for m in world.inbox.history(world.me.id, ada.id).items] == ["before the import", "imported parcel 2"]
    types = [e.type for e in world.inbox.events_since(world.me.id, before)]
    assert types.count("conversation.created") == 2 and types.count("message.created") == 3
    assert len(world.inbox.search(world.me.id, "imported")) == 3
    # A later single receive joins the conversation the batch opened.
    assert world.conv_of(world.customer_says(world.sms, "+14155550143", "later")) == convs["+14155550143"].id


def test_a_group_commit_across_channels_keeps_routing_owners_contacts_and_order(world):
    """The webhooks' group commit (one statement on PostgreSQL): a channel routed to a queue
    opens queued conversations; a known customer's conversation (claimed, archived, saved
    as a contact) comes back to its owner; the contact is linked on the other channel too;
    a message without a name keeps the one known; events follow arrival order."""
    queue = world.inbox.add_queue("Support", [world.me.id])
    routed = world.inbox.add_channel("fake-sms", "Routed SMS", "+14155550102", route_queue_id=queue.id)
    ada = world.conv_of(world.customer_says(routed, "+14155550199", "first", customer_name="Ada"))
    world.inbox.claim(world.me.id, ada)
    world.inbox.save_contact(world.me.id, ada, name="Ada Lovelace")
    world.inbox.archive(world.me.id, ada)
    before = world.inbox.last_seq()
    stored = world.inbox.receive_batches({
        routed.id: [InboundMessage("G1", "+14155550199", "one"), InboundMessage("G2", "+14155550177", "two", customer_name="Bo"),
                    InboundMessage("G3", "+14155550199", "three"), InboundMessage("G1", "+14155550199", "one again")],
        world.sms.id: [InboundMessage("G1", "+14155550199", "same id, other channel")],
    })
    assert stored == 4  # G1 twice in one channel is one message; the same id elsewhere is another
    mine = world.inbox.get_conversation(world.me.id, ada)
    assert not mine.archived and mine.assigned_agent_id == world.me.id and mine.customer_name == "Ada"
    assert mine.last_message_preview == "three"
    assert [m.text for m in world.inbox.history(world.me.id, ada).items
            if m.conversation_id == ada and m.direction == "in"] == ["first", "one", "three"]
    convs = {(c.channel_id, c.customer_address): c for c in world.inbox.list_inbox(world.me.id).items}
    bo = convs[(routed.id, "+14155550177")]
    assert bo.customer_name == "Bo" and bo.queue_id == queue.id and bo.assigned_agent_id is None
    other = convs[(world.sms.id, "+14155550199")]
    assert other.id != ada and other.contact_id == mine.contact_id is not None
    got = world.inbox.events_since(world.me.id, before)
    assert [e.seq for e in got] == sorted(e.seq for e in got)
    created = [e for e in got if e.type == "message.created"]
    texts = {m.id: m.text for c in (ada, bo.id, other.id) for m in world.inbox.history(world.me.id, c).items}
    assert [texts[e.message_id] for e in created if e.conversation_id == ada] == ["one", "three"]
    assert {e.conversation_id for e in got if e.type == "conversation.created"} == {bo.id, other.id}
    first_created = min(e.seq for e in got if e.type == "conversation.created" and e.conversation_id == bo.id)
    assert first_created < min(e.seq for e in created if e.conversation_id == bo.id)
    with world.app.db.read() as s:
        rows = {e.conversation_id: (e.visible_agent_id, e.visible_queue_id) for e in s.execute(
            select(Event).where(col(Event.seq) > before, col(Event.type) == "message.created")).scalars()}
    assert rows[ada] == (world.me.id, None) and rows[bo.id] == (None, queue.id) and rows[other.id] == (None, None)
    # The next single receive joins what the batch opened.
    assert world.conv_of(world.customer_says(routed, "+14155550177", "later")) == bo.id


def test_customer_messages_do_not_wake_the_outbox_and_a_reply_does(world):
    """The outbox wakes after a commit that may have queued a send (``inbox.sends``), not
    after each webhook's: on a busy server that was a look at the outbox per commit."""
    woken: list[int] = []
    world.inbox.sends.subscribe(woken.append)
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hello"))
    world.inbox.receive_batches({world.sms.id: [InboundMessage("W1", "+14155550142", "hi"),
                                                InboundMessage("W2", "+14155550199", "again")]})
    assert woken == []
    world.inbox.reply(world.me.id, conv, "On its way")
    assert woken == [world.inbox.last_seq()]


@pytest.mark.postgres
def test_events_commit_in_sequence_order_on_postgresql(make_app, postgres_db_url):
    """A reader resuming after seq N must never miss an event below N that commits later:
    a second writer waits until the first one's events are committed."""
    import threading
    import time

    from tray_agent.core import events as ev

    app = make_app(postgres_db_url, entry_points=False)
    first_appended, release = threading.Event(), threading.Event()
    seqs: dict[str, int] = {}
    done_at: dict[str, float] = {}

    def writer(name: str, hold: bool) -> None:
        with app.db.write() as s:
            seqs[name] = ev.append(s, "test.event", now=app.clock.now()).seq
            if hold:
                first_appended.set()
                release.wait(5)
        done_at[name] = time.monotonic()

    a = threading.Thread(target=writer, args=("a", True))
    a.start()
    first_appended.wait(5)
    b = threading.Thread(target=writer, args=("b", False))
    b.start()
    time.sleep(0.3)
    assert "b" not in done_at  # blocked behind the uncommitted first writer
    release.set()
    a.join(5)
    b.join(5)
    assert seqs["a"] < seqs["b"] and done_at["a"] <= done_at["b"]
