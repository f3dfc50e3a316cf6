"""Team notifications and presence, driven step by step on a real store: a conversation a
colleague hands to my queue is offered to me (with their note, as text); each kind of pop-up
can be switched off on its own; do-not-disturb makes me busy and its end (by hand, by the
hour running out, by the schedule) makes me available again."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tray_agent.channels import InboundMessage
from tray_agent.core.errors import InvalidInput
from tray_agent.desktop.dnd import BusyWhileQuiet
from tray_agent.desktop.state import StateWatcher
from tests.desktop.test_engine import FakeNotifier, Mono


@pytest.fixture
def team(make_app, tmp_path: Path):
    from tray_agent.desktop.notification_engine import Notifications

    app = make_app()
    inbox = app.inbox
    me = app.agent.id
    bea = inbox.add_agent("Bea Colleague", "bea@example.com").id
    sales = inbox.add_queue("Sales", [me, bea])
    ch = inbox.add_channel("fake-sms", "SMS", "+14155550100").id
    notifier, mono = FakeNotifier(), Mono()
    e = Notifications(app, me, [notifier], state_path=tmp_path / "state.json", monotonic=mono)
    e._start_cursor()
    ids = iter(range(10_000))

    def receive(who: str, text: str, name: str) -> int:
        inbox.receive(ch, InboundMessage(f"p{next(ids)}", who, text, customer_name=name))
        return _conv(inbox, me, who)

    def settle() -> None:
        mono.t += 10  # past the coalescing window: the next item pops up on its own
        e.step()

    return app, me, bea, sales, notifier, e, receive, settle


def _conv(inbox, agent_id: int, who: str) -> int:
    return next(c.id for c in inbox.list_inbox(agent_id, "all", limit=200).items if c.customer_address == who)


def test_a_conversation_handed_to_my_queue_is_offered_with_the_note(team):
    app, me, bea, sales, notifier, e, receive, settle = team
    conv = receive("+14155550123", "hello", "Alice")
    settle()
    app.inbox.claim(bea, conv)
    app.inbox.transfer(bea, conv, to_queue_id=sales.id, note="VIP <b>call</b> first")
    settle()
    assert notifier.shown[-1]["title"] == "Offered to Sales: Alice · Fake SMS"
    assert notifier.shown[-1]["body"] == "From Bea Colleague: VIP <b>call</b> first"  # text: escaped by the notifier
    assert notifier.shown[-1]["conversation_id"] == conv
    # My own hand-over to my queue is not news to me.
    app.inbox.claim(me, conv)
    app.inbox.transfer(me, conv, to_queue_id=sales.id)
    before = len(notifier.shown)
    settle()
    assert len(notifier.shown) == before


def test_transferred_to_me_carries_the_note(team):
    app, me, bea, sales, notifier, e, receive, settle = team
    conv = receive("+14155550124", "hi", "Bob")
    settle()
    app.inbox.claim(bea, conv)
    app.inbox.transfer(bea, conv, to_agent_id=me, note="he wants a refund")
    settle()
    assert (notifier.shown[-1]["title"], notifier.shown[-1]["body"]) == \
        ("Transferred to you: Bob · Fake SMS", "From Bea Colleague: he wants a refund")


@pytest.mark.parametrize("switch,act", [
    ("new_conversation", "new"), ("new_conversation", "offer"), ("message", "message"),
    ("transferred", "transfer"), ("failed", "fail"),
])
def test_each_kind_of_pop_up_can_be_switched_off_alone(team, switch, act):
    app, me, bea, sales, notifier, e, receive, settle = team
    conv = receive("+14155550125", "first", "Carol")
    settle()
    app.inbox.update_settings(me, {"notify": {switch: False}})
    assert app.inbox.get_settings(me)["notify"] == {**{k: True for k in
                                                      ("new_conversation", "message", "transferred", "failed")},
                                                   switch: False}
    before = len(notifier.shown)

    def do(what: str) -> None:
        if what == "new":
            receive("+14155550126", "a new one", "Dan")
        elif what == "offer":
            app.inbox.claim(bea, conv)
            app.inbox.transfer(bea, conv, to_queue_id=sales.id)
        elif what == "message":
            receive("+14155550125", "again", "Carol")
        elif what == "transfer":
            app.inbox.claim(bea, conv)
            app.inbox.transfer(bea, conv, to_agent_id=me)
        else:
            mid = app.inbox.reply(me, conv, "will fail").id
            app.inbox.outbox_claim(mid)
            app.inbox.outbox_failed(mid, "The number is not reachable.")

    do(act)
    settle()
    assert len(notifier.shown) == before, notifier.shown[before:]
    # The other kinds still pop up.
    other = "message" if switch != "message" else "new"
    app.inbox.update_settings(me, {"notify": {switch: True}})
    app.inbox.update_settings(me, {"notify": {"new_conversation" if other == "message" else "message": False}})
    do(other)
    settle()
    assert len(notifier.shown) == before + 1


def test_a_wrong_notify_setting_is_refused_with_one_line(team):
    app, me = team[0], team[1]
    for bad in ({"nope": True}, {"message": "yes"}, ["message"]):
        with pytest.raises(InvalidInput, match="notify takes"):
            app.inbox.update_settings(me, {"notify": bad})


def test_do_not_disturb_makes_me_busy_and_its_end_available_again(make_app, clock):
    """The daemon's wiring (daemon._follow_dnd) on a real store: the tray's state watcher
    tells ``BusyWhileQuiet``, which calls the service layer's ``set_status`` (recorded here)."""
    app = make_app()
    me = app.agent.id
    said: list[str] = []
    changed = threading.Event()
    presence = BusyWhileQuiet(lambda status: said.append(status))

    def on_change(state) -> None:
        presence.observe(state.dnd_active)
        changed.set()

    def expect(statuses: list[str]) -> None:
        deadline = time.monotonic() + 5
        while said != statuses:
            assert time.monotonic() < deadline, said
            time.sleep(0.05)

    w = StateWatcher(app, me, on_change, heartbeat=0.2)
    w.start()
    try:
        assert changed.wait(5)
        assert said == []  # starting outside do-not-disturb leaves my status alone
        app.inbox.update_settings(me, {"dnd": True})                       # the tray's toggle
        expect(["busy"])
        app.inbox.update_settings(me, {"dnd": False})
        expect(["busy", "available"])
        until = (clock.now() + timedelta(hours=1)).astimezone().isoformat(timespec="seconds")
        app.inbox.update_settings(me, {"dnd_until": until})                 # "for 1 hour"
        expect(["busy", "available", "busy"])
        clock.advance(timedelta(hours=1, seconds=1))                        # ... runs out by itself
        expect(["busy", "available", "busy", "available"])
        local = clock.now().astimezone()
        start = (local + timedelta(minutes=1)).strftime("%H:%M")
        end = (local + timedelta(minutes=31)).strftime("%H:%M")
        app.inbox.update_settings(me, {"dnd_until": None, "dnd_schedule": {"enabled": True, "start": start,
                                                                          "end": end}})
        clock.advance(timedelta(minutes=2))                                 # the schedule starts
        expect(["busy", "available", "busy", "available", "busy"])
        clock.advance(timedelta(minutes=30))                                # ... and ends
        expect(["busy", "available", "busy", "available", "busy", "available"])
    finally:
        w.stop()


def test_a_presence_that_could_not_be_set_is_tried_again_when_next_observed():
    calls: list[str] = []

    def flaky(status: str) -> None:
        calls.append(status)
        if len(calls) == 1:
            raise OSError("the server is not reachable")

    p = BusyWhileQuiet(flaky)
    p.observe(True)  # fails: logged
    p.observe(True)  # told again: tries again
    assert calls == ["busy", "busy"]
    p.observe(False)
    assert calls == ["busy", "busy", "available"]


def test_starting_inside_do_not_disturb_says_busy_at_once():
    calls: list[str] = []
    p = BusyWhileQuiet(calls.append)
    p.observe(True)
    assert calls == ["busy"]



def test_on_a_single_desktop_do_not_disturb_stores_busy_through_the_service_layer(make_app):
    """The daemon's wiring with the real ``inbox.set_status`` (a single desktop keeps it on my
    agent row; a team desktop sends it upstream)."""
    app = make_app()
    me = app.agent.id
    presence = BusyWhileQuiet(lambda status: app.inbox.set_status(me, status))
    w = StateWatcher(app, me, lambda state: presence.observe(state.dnd_active), heartbeat=0.2)
    w.start()
    try:
        app.inbox.update_settings(me, {"dnd": True})
        deadline = time.monotonic() + 5
        while app.inbox.get_agent(me).status != "busy":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        app.inbox.update_settings(me, {"dnd": False})
        while app.inbox.get_agent(me).status != "available":
            assert time.monotonic() < deadline + 5
            time.sleep(0.05)
    finally:
        w.stop()
