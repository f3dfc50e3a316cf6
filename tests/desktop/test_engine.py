"""The desktop shell's logic without a desktop: the badge drawing, do-not-disturb, and the
notification engine's choices (coalescing, settings, restart) driven step by step."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tray_agent.channels import InboundMessage
from tray_agent.desktop import dnd
from tray_agent.desktop import icon as drawing
from tray_agent.desktop.notification_engine import BACKLOG_AGE, Notifications, classify

UTC = timezone.utc


# -- the badge ----------------------------------------------------------------------------

@pytest.mark.parametrize("count,text", [(0, ""), (1, "1"), (99, "99"), (100, "99+"), (12345, "99+")])
def test_badge_text_caps_at_99_plus(count, text):
    assert drawing.badge_text(count) == text


def test_badge_and_do_not_disturb_are_visible_in_the_pixels():
    plain, badged, quiet = drawing.render(0), drawing.render(7), drawing.render(7, dnd=True)
    assert plain.getpixel(drawing.BADGE_PROBE)[3] == 0
    assert badged.getpixel(drawing.BADGE_PROBE)[:3] == drawing.RED[:3]
    assert badged.getpixel(drawing.BUBBLE_PROBE)[:3] == drawing.BLUE[:3]
    assert quiet.getpixel(drawing.BUBBLE_PROBE)[:3] == drawing.GREY[:3]
    assert quiet.getpixel(drawing.BADGE_PROBE)[:3] == drawing.RED[:3]
    assert drawing.render(100).tobytes() != drawing.render(99).tobytes()


def test_the_committed_tray_sheet_holds_every_badge_as_drawn(tmp_path: Path):
    import io
    import zipfile

    from PIL import Image

    def pixels(data: bytes) -> bytes:
        return Image.open(io.BytesIO(data)).convert("RGBA").tobytes()

    drawing.write_sheet(tmp_path)
    stale = "tray_agent/assets/tray-icons.zip is stale: run python -m tray_agent.desktop.icon"
    with zipfile.ZipFile(tmp_path / drawing.SHEET) as fresh, zipfile.ZipFile(drawing.ASSETS / drawing.SHEET) as kept:
        assert sorted(fresh.namelist()) == sorted(kept.namelist()), stale
        for name in fresh.namelist():
            diff = [abs(a - b) for a, b in zip(pixels(fresh.read(name)), pixels(kept.read(name)), strict=True)]
            assert sum(diff) / len(diff) < 2, f"{name}: {stale}"
    for count, quiet in ((0, False), (7, True), (100, False)):
        diff = [abs(a - b) for a, b in zip(pixels(drawing.png(count, quiet)), drawing.render(count, quiet).tobytes(),
                                           strict=True)]
        assert sum(diff) / len(diff) < 2, (count, quiet)
    assert drawing.png(1000) == drawing.png(100)  # "99+" from 100 on


# -- do not disturb -----------------------------------------------------------------------

BASE = {"dnd": False, "dnd_until": None, "dnd_schedule": {"enabled": False, "start": "22:00", "end": "08:00"}}


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 10, hour, minute, tzinfo=UTC)


def test_dnd_schedule_crosses_midnight_in_local_time():
    s = {**BASE, "dnd_schedule": {"enabled": True, "start": "22:00", "end": "08:00"}}
    assert dnd.active(s, _at(23), tz=UTC) and dnd.active(s, _at(7, 59), tz=UTC)
    assert not dnd.active(s, _at(8), tz=UTC) and not dnd.active(s, _at(12), tz=UTC)
    # The same instant is 09:00 in UTC+2: outside the window there.
    assert not dnd.active(s, _at(7), tz=timezone(timedelta(hours=2)))
    assert dnd.next_change(s, _at(12), tz=UTC) == _at(22)


def test_dnd_until_expires_by_itself_and_manual_wins():
    s = {**BASE, "dnd_until": _at(13).isoformat()}
    assert dnd.reason(s, _at(12), tz=UTC) == "until 13:00"
    assert dnd.manual(s, _at(12)) and not dnd.active(s, _at(13, 1), tz=UTC)
    assert dnd.next_change(s, _at(12), tz=UTC) == _at(13)
    assert dnd.reason({**BASE, "dnd": True}, _at(12)) == "on"


# -- the engine ---------------------------------------------------------------------------

class FakeSound:
    played = 0

    def play(self) -> bool:
        self.played += 1
        return True


class FakeNotifier:
    name = "fake"
    supports_replace = True

    def __init__(self) -> None:
        self.shown: list[dict] = []
        self.sound = FakeSound()

    def available(self) -> bool:
        return True

    def notify(self, title, body, *, sound, conversation_id, replaces=None):
        self.shown.append(dict(title=title, body=body, sound=sound, conversation_id=conversation_id,
                               replaces=replaces))
        return len(self.shown)


class Mono:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def rig(make_app, clock, tmp_path: Path):
    app = make_app()
    ch = app.inbox.add_channel("fake-sms", "SMS", "+14155550100").id
    me = app.agent.id
    notifier, mono = FakeNotifier(), Mono()
    counter = iter(range(10_000))

    def engine() -> Notifications:
        e = Notifications(app, me, [notifier], state_path=tmp_path / "state.json", monotonic=mono)
        e._start_cursor()
        return e

    def receive(who: str = "+14155550123", text: str = "hi", name: str | None = "Alice") -> int:
        return app.inbox.receive(ch, InboundMessage(f"p{next(counter)}", who, text, customer_name=name))

    return app, me, notifier, mono, engine, receive


def test_first_message_pops_up_at_once_and_a_burst_becomes_one_replacing_summary(rig):
    app, me, notifier, mono, engine, receive = rig
    e = engine()
    receive(text="first")
    e.step()
    assert notifier.shown == [dict(title="New conversation: Alice · Fake SMS", body="first", sound=True,
                                   conversation_id=1, replaces=None)]
    for i in range(49):
        receive("+14155550124" if i % 2 else "+14155550123", f"more {i}", "Bob" if i % 2 else "Alice")
        mono.t += 0.01
        e.step()
    assert len(notifier.shown) == 1  # held for the summary
    mono.t += 3.0
    e.step()
    assert notifier.shown[1] == dict(title="50 new messages", body="2 conversations: Alice, Bob", sound=False,
                                     conversation_id=None, replaces=1)
    mono.t += 10
    receive(text="later")
    e.step()
    assert notifier.shown[2]["title"] == "Alice · Fake SMS" and notifier.shown[2]["replaces"] is None


def test_a_transfer_within_a_burst_keeps_its_note_in_the_pop_up(rig):
    """Issue 13: the pop-up of a transfer carries its note, even when it lands within
    seconds of that conversation's own message (one updated pop-up, not a count)."""
    app, me, notifier, mono, engine, receive = rig
    bea = app.inbox.add_agent("Bea Colleague", "bea@example.com").id
    e = engine()
    receive(text="I was charged twice")
    e.step()
    assert notifier.shown[-1]["title"] == "New conversation: Alice · Fake SMS"
    conv = notifier.shown[-1]["conversation_id"]
    app.inbox.claim(bea, conv)
    app.inbox.transfer(bea, conv, to_agent_id=me, note="She paid twice; refund one")
    mono.t += 0.5
    e.step()
    mono.t += 3.0
    e.step()
    assert notifier.shown[-1] == dict(title="Transferred to you: Alice · Fake SMS", conversation_id=conv,
                                      body="From Bea Colleague: She paid twice; refund one", sound=False,
                                      replaces=1)
    receive("+14155550124", "another", "Bob")  # two conversations now: counted, the note kept
    mono.t += 0.5
    e.step()
    mono.t += 3.0
    e.step()
    assert notifier.shown[-1]["title"] == "2 new messages, 1 transferred to you"
    assert notifier.shown[-1]["body"].endswith(" · From Bea Colleague: She paid twice; refund one")


def test_settings_are_honoured_per_notification(rig):
    app, me, notifier, mono, engine, receive = rig
    e = engine()
    app.inbox.update_settings(me, {"popup": False})
    receive()
    e.step()
    assert notifier.shown == [] and notifier.sound.played == 1 and e.recent[-1]["outcome"] == "popup-off"
    app.inbox.update_settings(me, {"popup": True, "sound": False, "dnd": True})
    mono.t += 10
    receive()
    e.step()
    assert notifier.shown == [] and notifier.sound.played == 1 and e.recent[-1]["outcome"] == "dnd"
    app.inbox.update_settings(me, {"dnd": False})
    mono.t += 10
    receive(text="now")
    e.step()
    assert notifier.shown[-1]["sound"] is False and notifier.shown[-1]["body"] == "now"


def test_the_cursor_survives_a_restart_nothing_lost_nothing_repeated(rig):
    app, me, notifier, mono, engine, receive = rig
    e = engine()
    receive(text="seen")
    e.step()
    assert len(notifier.shown) == 1
    receive(text="while down 1")
    receive("+14155550124", "while down 2", "Bob")
    e2 = engine()  # a restart: reads from the saved cursor
    e2._catch_up()
    assert notifier.shown[-1]["title"] == "2 new messages"
    e3 = engine()
    e3._catch_up()
    e3.step()
    assert len(notifier.shown) == 2


def test_a_backlog_or_a_resume_from_sleep_is_one_summary(rig, clock):
    app, me, notifier, mono, engine, receive = rig
    e = engine()
    for i in range(5):
        receive(text=f"old {i}")
    clock.advance(BACKLOG_AGE + timedelta(seconds=1))  # first seen long after they were logged
    e.step()
    assert notifier.shown == []
    mono.t += 5
    e.step()
    assert [n["title"] for n in notifier.shown] == ["5 new messages"]
    assert notifier.shown[0]["replaces"] is None


def test_only_notable_events_count():
    from tray_agent.core.views import EventView

    now = datetime(2026, 1, 1, tzinfo=UTC)

    def ev(seq, type, cid=1, **data):
        return EventView(seq=seq, type=type, conversation_id=cid, message_id=seq, created_at=now, data=data)

    items = classify([
        ev(1, "conversation.created", started_by="customer"), ev(2, "message.created", direction="in"),
        ev(3, "message.created", direction="in"), ev(4, "message.created", direction="out"),
        ev(5, "conversation.created", cid=2, started_by="agent"), ev(6, "message.created", cid=2, direction="out"),
        ev(7, "conversation.transferred", to_agent_id=9), ev(8, "conversation.transferred", to_agent_id=1),
        ev(9, "message.updated", status="delivered"), ev(10, "message.updated", status="failed"),
        ev(11, "settings.updated"),
    ], agent_id=1)
    assert [(i.kind, i.seq) for i in items] == [("new_conversation", 2), ("message", 3), ("transferred", 8),
                                               ("failed", 10)]


def test_tray_state_follows_commits_other_processes_and_gives_memory_back(make_app, clock):
    import threading
    import time

    from tray_agent.desktop.state import StateWatcher

    app = make_app()
    ch = app.inbox.add_channel("fake-sms", "SMS", "+14155550100").id
    other = make_app()  # another process's writes: they do not wake this one's event bus
    shown: list = []
    changed = threading.Event()

    def on_change(state) -> None:
        shown.append(state)
        changed.set()

    w = StateWatcher(app, app.agent.id, on_change, heartbeat=0.3, release_after=0.5)
    w.start()
    try:
        assert changed.wait(5) and shown[-1].unread == 0
        changed.clear()
        app.inbox.receive(ch, InboundMessage("a", "+14155550123", "hello", customer_name="Alice"))
        assert changed.wait(5) and shown[-1].unread == 1 and shown[-1].recent[0][1] == "Alice — hello"
        changed.clear()
        other.inbox.receive(ch, InboundMessage("b", "+14155550124", "hi", customer_name="Bob"))
        assert changed.wait(5) and shown[-1].unread == 2
        deadline = time.monotonic() + 5
        while w.releases == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        app.inbox.update_settings(app.agent.id, {"dnd": True})  # the store still works after a release
        changed.clear()
        assert changed.wait(5) and shown[-1].dnd_active
    finally:
        w.stop()


def _reachable(*roots: object) -> int:
    """How many objects hang off ``roots`` (the engine's burst state), counted by walking them."""
    import gc

    seen: set[int] = set()
    todo = list(roots)
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        todo.extend(gc.get_referents(obj))
    return len(seen)


def test_an_unbroken_burst_of_ten_thousand_keeps_the_engine_small_and_the_summary_right(rig):
    app, me, notifier, mono, engine, receive = rig
    e = engine()
    people = [(f"+1415555{n:04d}", f"Customer {n}") for n in range(8)]
    sizes = {}
    for i in range(10_000):
        who, name = people[i % len(people)]
        receive(who, f"message {i}", name)
        if i % 25 == 0:  # the engine reads in passes; traffic never pauses for `coalesce` seconds
            mono.t += 1.0
            e.step()
        if i + 1 in (1_000, 10_000):
            sizes[i + 1] = _reachable(e._held, e._episode)
    mono.t += 1.0
    e.step()  # the last arrivals, within the burst
    mono.t += 3.0
    e.step()  # the traffic pauses: they join the summary
    assert sizes[10_000] <= sizes[1_000], sizes  # held state does not grow with the burst
    assert notifier.shown[0]["title"].startswith("New conversation: Customer 0")
    last = notifier.shown[-1]
    assert last["title"] == "10000 new messages" and last["replaces"] == len(notifier.shown) - 1  # replaces the last
    assert last["body"] == "8 conversations: Customer 7, Customer 6, Customer 5 and 5 more"
    assert e.recent[-1]["items"] == 10_000


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the process's RSS from /proc")
def test_the_tray_state_returns_freed_heap_while_traffic_never_pauses(make_app):
    """A busy inbox never goes quiet long enough for the idle release; the heap that
    transactions free between live objects must still go back to the OS meanwhile."""
    import threading
    import time

    from tray_agent.desktop.state import StateWatcher

    app = make_app()
    ch = app.inbox.add_channel("fake-sms", "SMS", "+14155550100").id
    w = StateWatcher(app, app.agent.id, lambda _state: None, heartbeat=0.3, release_after=3.0, trim_every=0.5)
    # 48 MB freed in 4 KB blocks between blocks still alive: resident until trimmed.
    blocks = [bytearray(4200) for _ in range(12_000)]
    kept = blocks[::8]
    del blocks
    before = _rss_mb()
    stop = threading.Event()

    def traffic() -> None:  # a message every 0.1 s: never 3 s quiet
        n = 0
        while not stop.is_set():
            app.inbox.receive(ch, InboundMessage(f"t{n}", f"+1415555{n % 50:04d}", "hello"))
            n += 1
            stop.wait(0.1)

    feeder = threading.Thread(target=traffic, daemon=True)
    w.start()
    feeder.start()
    try:
        deadline = time.monotonic() + 2.5
        while _rss_mb() > before - 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        after = _rss_mb()
        assert w.releases == 0, "traffic paused: this measured the idle release, not the trim"
        assert after <= before - 20, f"RSS {before:.1f} MB -> {after:.1f} MB under traffic"
    finally:
        stop.set()
        feeder.join(5)
        w.stop()
    assert len(kept) == 1500
