"""The background rules, judged by moving the clock: idle closure and file retention."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tray_agent.channels import InboundFile, InboundMessage


def test_whatsapp_conversation_closes_after_24h_without_activity(world):
    conv = world.conv_of(world.customer_says(world.wa, "14155550199", "hi"))
    world.clock.advance(timedelta(hours=23, minutes=59))
    assert world.inbox.close_idle() == 0
    world.clock.advance(timedelta(minutes=1))
    assert world.inbox.close_idle() == 1
    detail = world.inbox.get_conversation(world.me.id, conv)
    assert detail.status == "closed"
    assert world.inbox.history(world.me.id, conv).items[-1].text == "Closed automatically after 24 hours without activity"
    assert world.inbox.close_idle() == 0


def test_sms_never_closes_by_default_and_closes_as_the_administrator_configures(world):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    world.clock.advance(timedelta(days=30))
    assert world.inbox.close_idle() == 0
    world.inbox.update_channel(world.sms.id, auto_close_seconds=3 * 3600)
    assert world.inbox.close_idle() == 1
    assert world.inbox.get_conversation(world.me.id, conv).status == "closed"


def test_agent_reply_counts_as_activity(world):
    conv = world.conv_of(world.customer_says(world.wa, "14155550199", "hi"))
    world.clock.advance(timedelta(hours=20))
    world.inbox.reply(world.me.id, conv, "on it")
    world.clock.advance(timedelta(hours=20))
    assert world.inbox.close_idle() == 0


def test_files_are_deleted_after_24h_and_the_message_stays_marked_expired(world):
    mid = world.inbox.receive(world.sms.id, InboundMessage(
        "SMf", "+14155550199", "see photo", files=(InboundFile("photo.png", "image/png", b"\x89PNG data"),)))
    conv = world.conv_of(mid)
    stored = list(Path(world.inbox.files.root).rglob("*"))
    on_disk = [p for p in stored if p.is_file() and "staging" not in p.parts]
    assert len(on_disk) == 1
    world.clock.advance(timedelta(hours=23))
    assert world.inbox.expire_files() == 0
    world.clock.advance(timedelta(hours=1))
    seq = world.inbox.last_seq()
    assert world.inbox.expire_files() == 1
    assert not on_disk[0].exists()
    msg = world.inbox.history(world.me.id, conv).items[0]
    assert msg.text == "see photo" and msg.attachments[0].expired
    assert any(e.data.get("change") == "file_expired" for e in world.inbox.events_since(world.me.id, seq))


def test_sent_files_expire_too(world):
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "invoice?"))
    f = world.inbox.files.stage([b"%PDF"], "invoice.pdf", "application/pdf", 10**8)
    msg = world.inbox.reply(world.me.id, conv, "here", [f])
    world.clock.advance(timedelta(hours=24))
    assert world.inbox.expire_files() == 1
    assert [m for m in world.inbox.history(world.me.id, conv).items if m.id == msg.id][0].attachments[0].expired


def test_abandoned_uploads_are_swept_from_staging(world):
    import os
    import time

    stale = world.inbox.files.stage([b"draft"], "draft.pdf", "application/pdf", 10**6)
    fresh = world.inbox.files.stage([b"new"], "new.pdf", "application/pdf", 10**6)
    day_ago = time.time() - 25 * 3600
    os.utime(stale.path, (day_ago, day_ago))
    assert world.inbox.files.discard_staging_older_than(24 * 3600, time.time()) == 1
    assert not stale.path.exists() and fresh.path.exists()


def test_a_status_callback_no_send_claims_is_kept_a_week_then_forgotten(world):
    from tray_agent.channels import StatusUpdate

    assert world.inbox.update_status(world.sms.id, StatusUpdate("SMnobody-knows", "delivered")) is False
    world.clock.advance(timedelta(days=6, hours=23))
    assert world.inbox.expire_early_statuses() == 0
    world.clock.advance(timedelta(hours=1))
    assert world.inbox.expire_early_statuses() == 1


def test_an_early_callback_moves_the_reply_on_when_its_send_is_recorded(world):
    from tray_agent.channels import StatusUpdate

    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    msg = world.inbox.reply(world.me.id, conv, "hello")
    world.inbox.outbox_claim(msg.id)
    world.inbox.update_status(world.sms.id, StatusUpdate("SMearly", "delivered"))
    world.inbox.outbox_sent(msg.id, "SMearly")
    [m] = [m for m in world.inbox.history(world.me.id, conv, limit=10).items if m.id == msg.id]
    assert m.status == "delivered" and world.inbox.expire_early_statuses(world.clock.now() + timedelta(days=8)) == 0
