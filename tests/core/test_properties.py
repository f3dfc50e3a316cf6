"""Property tests: the rule engine around its boundaries in any time zone (DST included),
and ingest that stays idempotent under duplicates and reordering."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tray_agent.channels import InboundMessage, StatusUpdate
from tray_agent.core import rules as R
from tray_agent.core.errors import ReplyWindowClosed
from tray_agent.core.models import STATUS_ORDER, Message

WA = R.ChannelRules(business_can_start=False, reply_window=timedelta(hours=24), auto_close_after=timedelta(hours=24))
SMS = R.ChannelRules(business_can_start=True, auto_close_configurable=True)
ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "America/Sao_Paulo"]

instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                        timezones=st.sampled_from([ZoneInfo(z) for z in ZONES]))
offsets = st.integers(min_value=-3 * 86400, max_value=3 * 86400)


def later(last: datetime, seconds: int, zone: str) -> datetime:
    """``seconds`` of real time after ``last``, expressed in another zone."""
    return (last.astimezone(timezone.utc) + timedelta(seconds=seconds)).astimezone(ZoneInfo(zone))


zones = st.sampled_from(ZONES)


@given(last=instants, delta=offsets, zone=zones)
def test_reply_window_is_exactly_24_elapsed_hours_in_any_zone(last, delta, zone):
    now = later(last, delta, zone)
    if delta < 24 * 3600:
        R.check_reply(WA, last, now)
    else:
        with pytest.raises(ReplyWindowClosed) as err:
            R.check_reply(WA, last, now)
        assert err.value.closed_at == last.astimezone(timezone.utc) + timedelta(hours=24)
        assert err.value.closed_at.tzinfo == timezone.utc  # the message says UTC and means it


@given(last=instants, delta=offsets, zone=zones)
def test_whatsapp_auto_close_is_due_exactly_at_24_hours_idle(last, delta, zone):
    now = later(last, delta, zone)
    assert R.auto_close_due(WA, None, last, now) == (delta >= 24 * 3600)


@given(last=instants, delta=offsets, zone=zones, override=st.one_of(st.none(), st.integers(0, 10 * 86400)))
def test_sms_closes_only_as_configured(last, delta, zone, override):
    now = later(last, delta, zone)
    over = None if override is None else timedelta(seconds=override)
    expected = override is not None and override > 0 and delta >= override
    assert R.auto_close_due(SMS, over, last, now) == expected


def test_window_across_a_dst_change_counts_real_hours():
    ny = ZoneInfo("America/New_York")
    last = datetime(2026, 3, 7, 12, 0, tzinfo=ny)  # the clocks spring forward on 8 March
    closes = R.window_closes_at(WA, last)
    assert closes is not None and closes.astimezone(ny).hour == 13  # 24 real hours, 25 on the wall
    with pytest.raises(ReplyWindowClosed):
        R.check_reply(WA, last, datetime(2026, 3, 8, 13, 0, tzinfo=ny))
    R.check_reply(WA, last, datetime(2026, 3, 8, 12, 59, tzinfo=ny))  # 23 h 59 real minutes


@given(size=st.integers(1, 200 * R.MB), mime=st.sampled_from(["image/jpeg", "video/mp4", "application/pdf", "audio/ogg"]))
def test_file_checks_never_let_a_file_over_a_limit_through_silently(size, mime):
    rules = R.ChannelRules(business_can_start=False, native_file_limits={"image/": 5 * R.MB, "video/": 16 * R.MB},
                           files_as_links=False)
    limit = R.native_limit(rules, mime)
    try:
        as_link = R.check_file(rules, size, mime, "WhatsApp")
    except R.FileTooLarge:
        assert size > rules.max_file_bytes or (limit is not None and size > limit)
    else:
        assert size <= rules.max_file_bytes and (limit is None or size <= limit) and as_link is False


deliveries = st.lists(st.integers(0, 7), min_size=1, max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=deliveries)
def test_ingest_is_idempotent_under_duplicates_and_reordering(sqlite_world, order):
    w = sqlite_world
    channel = w.inbox.add_channel("fake-sms", f"SMS {w.inbox.last_seq()}", "+14155550100")
    for i in order:
        w.inbox.receive(channel.id, InboundMessage(f"SM{i}", "+14155550199", f"message {i}",
                                                   sent_at=w.clock.now() + timedelta(seconds=i)))
    with w.app.db.read() as s:
        stored = s.query(Message.provider_message_id).filter(Message.channel_id == channel.id).all()
    assert sorted(p for (p,) in stored) == sorted({f"SM{i}" for i in order})


statuses = st.lists(st.sampled_from([*STATUS_ORDER, "failed"]), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(callbacks=statuses)
def test_status_never_moves_backwards_whatever_arrives(sqlite_world, callbacks):
    w = sqlite_world
    conv = w.conv_of(w.customer_says(w.sms, "+14155550199", "hi"))
    msg = w.inbox.reply(w.me.id, conv, "hello")
    w.inbox.outbox_claim(msg.id)
    pid = f"SMout{msg.id}"
    w.inbox.outbox_sent(msg.id, pid)
    rank = {**STATUS_ORDER, "failed": -1}
    seen = ["sent"]
    for status in callbacks:
        w.inbox.update_status(w.sms.id, StatusUpdate(pid, status))
        with w.app.db.read() as s:
            now_status = s.get(Message, msg.id).status
        prev = seen[-1]
        if prev == "failed":
            assert now_status == "failed"
        elif now_status != "failed":
            assert rank[now_status] >= rank[prev]
        else:
            assert prev not in ("delivered", "read")
        seen.append(now_status)
