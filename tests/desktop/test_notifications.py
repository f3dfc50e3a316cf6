"""Native notifications on a real session bus: each ``Notify`` call is read from
``dbus-monitor``; dunst shows them on the Xvfb screen for screenshots."""

from __future__ import annotations

import os
import time
import wave
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.desktop.conftest import notifications_since, window_toplevel

pytestmark = pytest.mark.desktop

ALICE = "+14155550123"
BOB = "+14155550124"
COALESCE = 3.0  # tray_agent.desktop.notification_engine.COALESCE_SECONDS


def _quiet(desktop, since: int, seconds: float = 1.5) -> list:
    time.sleep(seconds)
    return notifications_since(desktop, since)


def test_customer_message_notifies_with_sender_and_text(desktop_env, desktop, start_daemon, artifacts_dir):
    d = start_daemon(desktop_env)
    since = len(desktop.notifications())
    d.inbound(ALICE, "Is my order on its way?", name="Alice Example")
    n = desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    assert n.summary == "New conversation: Alice Example · Fake SMS"
    assert n.body == "Is my order on its way?"
    assert n.app_icon.endswith("tray_agent/assets/icon.png")
    popup = desktop.wait_for_popup()
    desktop.screenshot(artifacts_dir / "popup.png", crop=(popup["WIDTH"], popup["HEIGHT"], popup["X"], popup["Y"]))
    desktop.screenshot(artifacts_dir / "screen.png")

    time.sleep(COALESCE + 0.3)  # a later message in the same conversation
    since = len(desktop.notifications())
    d.inbound(ALICE, "Order #1042 <urgent> & paid", name="Alice Example")
    n = desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    assert n.summary == "Alice Example · Fake SMS"
    assert n.body == "Order #1042 &lt;urgent&gt; &amp; paid"  # dunst reads bodies as markup


def test_no_popup_when_popups_are_off(desktop_env, desktop, start_daemon):
    d = start_daemon(desktop_env)
    d.settings(popup=False)
    since = len(desktop.notifications())
    d.inbound(ALICE, "Hello?", name="Alice Example")
    assert _quiet(desktop, since) == []
    st = d.wait_status(lambda s: s["notifications"])
    assert st["notifications"][-1]["outcome"] == "popup-off"


def test_no_popup_in_do_not_disturb_now_until_or_on_schedule(desktop_env, desktop, start_daemon):
    d = start_daemon(desktop_env)
    d.settings(dnd=True)
    since = len(desktop.notifications())
    d.inbound(ALICE, "one", name="Alice Example")
    assert _quiet(desktop, since) == []

    until = (datetime.now().astimezone() + timedelta(minutes=30)).isoformat(timespec="seconds")
    d.settings(dnd=False, dnd_until=until)
    time.sleep(COALESCE + 0.2)
    d.inbound(BOB, "two", name="Bob")
    assert _quiet(desktop, since) == []

    now = datetime.now()
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")
    d.settings(dnd_until=None, dnd_schedule={"enabled": True, "start": start, "end": end})
    time.sleep(COALESCE + 0.2)
    d.inbound(ALICE, "three", name="Alice Example")
    assert _quiet(desktop, since) == []
    outcomes = [n["outcome"] for n in d.status()["notifications"]]
    assert outcomes == ["dnd", "dnd", "dnd"]

    d.settings(dnd_schedule={"enabled": False})  # and back on, at once
    time.sleep(COALESCE + 0.2)
    d.inbound(BOB, "four", name="Bob")
    n = desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    assert (n.summary, n.body) == ("Bob · Fake SMS", "four")


def test_a_burst_of_fifty_messages_is_one_summary(desktop_env, desktop, start_daemon, artifacts_dir):
    d = start_daemon(desktop_env)
    since = len(desktop.notifications())
    d.inbound(ALICE, "part", name="Alice Example", count=30)  # 30 separate commits
    d.inbound(BOB, "part", name="Bob", count=20)
    time.sleep(COALESCE + 1.5)
    seen = notifications_since(desktop, since)
    assert 1 <= len(seen) <= 2, [(n.summary, n.body) for n in seen]
    last = seen[-1]
    assert last.summary == "50 new messages"
    assert last.body == "2 conversations: Bob, Alice Example"
    if len(seen) == 2:  # the first pop-up went out at once; the summary replaced it
        first_id = d.status()["notifications"][0]["id"]
        assert seen[1].replaces_id == first_id != 0
    assert desktop.run("dunstctl", "count", "displayed").stdout.strip() == "1"
    popup = desktop.wait_for_popup()
    desktop.screenshot(artifacts_dir / "summary.png", crop=(popup["WIDTH"], popup["HEIGHT"], popup["X"], popup["Y"]))


def test_not_notified_for_a_colleagues_conversation(desktop_env, desktop, start_daemon):
    d = start_daemon(desktop_env)
    since = len(desktop.notifications())
    conv = d.inbound(ALICE, "hi", name="Alice Example")["conversation_id"]
    desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    d.api("POST", "/plugins/test/colleague-claims", {"conversation_id": conv})
    time.sleep(COALESCE + 0.3)
    since = len(desktop.notifications())
    d.inbound(ALICE, "are you there?", name="Alice Example")  # now the colleague's, not mine
    assert _quiet(desktop, since, 2.0) == []


def test_transfer_to_me_and_failed_send_notify(desktop_env, desktop, start_daemon):
    d = start_daemon(desktop_env)
    since = len(desktop.notifications())
    conv = d.inbound(ALICE, "hi", name="Alice Example")["conversation_id"]
    desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    time.sleep(COALESCE + 0.3)

    since = len(desktop.notifications())
    d.api("POST", "/plugins/test/transfer-to-me", {"conversation_id": conv, "note": "please call her back"})
    n = desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    assert n.summary == "Transferred to you: Alice Example · Fake SMS"
    assert n.body == "From Colleague: please call her back"
    time.sleep(COALESCE + 0.3)

    since = len(desktop.notifications())
    d.api("POST", "/plugins/test/failed-send", {"conversation_id": conv, "reason": "The number is not reachable."})
    n = desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    assert n.summary == "Not sent to Alice Example · Fake SMS"
    assert n.body == "The number is not reachable."


def test_clicking_a_notification_opens_its_conversation(desktop_env, desktop, start_daemon, artifacts_dir):
    d = start_daemon(desktop_env)
    since = len(desktop.notifications())
    conv = d.inbound(BOB, "Can you call me?", name="Bob")["conversation_id"]
    desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    desktop.wait_for_popup()
    # dunst's "do_action": the server emits ActionInvoked(id, "default") for our pop-up.
    desktop.run("dunstctl", "action", "0")
    st = d.wait_status(lambda s: s["window"]["open"], timeout=20)
    assert st["window"]["last_fragment"] == f"#/conversation/{conv}"
    window_toplevel(desktop)
    time.sleep(1.5)
    desktop.screenshot(artifacts_dir / "window-at-conversation.png")


def test_restart_catches_up_in_one_summary_and_never_repeats(desktop_env, desktop, start_daemon, scratch,
                                                             monkeypatch):
    home = scratch / "home"
    d = start_daemon(desktop_env, home=home)
    since = len(desktop.notifications())
    d.inbound(ALICE, "before the restart", name="Alice Example")
    desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    assert d.stop() == 0

    # While the daemon is down, three messages arrive (another process commits them).
    monkeypatch.setenv("TRAY_AGENT_HOME", str(home))
    monkeypatch.setenv("TRAY_AGENT_LOAD_PLUGINS", "")
    from tray_agent.channels import InboundMessage
    from tests.desktop.harness import build_app

    app = build_app()
    try:
        ch = next(c.id for c in app.inbox.list_channels())
        for i, (who, name) in enumerate([(ALICE, "Alice Example"), (BOB, "Bob"), (BOB, "Bob")]):
            app.inbox.receive(ch, InboundMessage(f"offline-{i}", who, f"offline {i}", customer_name=name))
    finally:
        app.close()

    since = len(desktop.notifications())
    d2 = start_daemon(desktop_env, home=home)
    n = desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    assert n.summary == "3 new messages"
    assert n.body == "2 conversations: Bob, Alice Example"
    assert len(_quiet(desktop, since, 1.0)) == 1
    assert d2.stop() == 0

    since = len(desktop.notifications())
    start_daemon(desktop_env, home=home)
    assert _quiet(desktop, since, 2.0) == []  # nothing is notified twice


def test_the_bundled_chime_plays_unless_sound_is_off(desktop_env, desktop, start_daemon, scratch):
    from tests.desktop.conftest import daemon_env

    played = scratch / "played.txt"
    bin_dir = scratch / "bin"
    bin_dir.mkdir()
    player = bin_dir / "paplay"  # stands in for PulseAudio/PipeWire's player
    player.write_text(f'#!/bin/sh\necho "$@" >> {played}\n')
    player.chmod(0o755)
    home = scratch / "home"
    env = daemon_env(desktop_env, home, PATH=f"{bin_dir}{os.pathsep}{desktop_env['PATH']}")
    d = start_daemon(env, home=home)
    since = len(desktop.notifications())
    d.inbound(ALICE, "ding", name="Alice Example")
    desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    deadline = time.monotonic() + 5
    while not played.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    wav = Path(played.read_text().split()[0])
    assert wav.name == "notify.wav" and wav.parent.name == "assets"
    with wave.open(str(wav)) as w:  # a short, real sound
        assert w.getnchannels() == 1 and 0.2 < w.getnframes() / w.getframerate() < 1.0

    d.settings(sound=False)
    time.sleep(COALESCE + 0.3)
    since = len(desktop.notifications())
    d.inbound(BOB, "silent", name="Bob")
    desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    time.sleep(0.5)
    assert len(played.read_text().splitlines()) == 1


def test_without_pygobject_plyer_sends_it_through_notify_send(desktop_env, desktop, start_daemon, scratch):
    from tests.desktop.conftest import daemon_env

    stub = scratch / "no-gi"
    for name, what in (("gi", "PyGObject"), ("dbus", "dbus-python")):  # plyer's own D-Bus back-end needs dbus
        (stub / name).mkdir(parents=True)
        (stub / name / "__init__.py").write_text(f"raise ImportError('{what} is not installed (test)')\n")
    home = scratch / "home"
    env = daemon_env(desktop_env, home)
    env["PYTHONPATH"] = f"{stub}{os.pathsep}{env['PYTHONPATH']}"
    d = start_daemon(env, home=home)
    assert d.status()["tray"] is None  # no GTK either: headless
    since = len(desktop.notifications())
    d.inbound(ALICE, "via notify-send", name="Alice Example")
    n = desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    assert (n.summary, n.body) == ("New conversation: Alice Example · Fake SMS", "via notify-send")
    assert d.status()["notifications"][-1]["outcome"] == "shown"


def test_bidi_controls_never_reach_a_notification_or_the_tray_menu(desktop_env, desktop, start_daemon):
    """A name or a file name with a right-to-left override would show reordered
    ("invoice\u202efdp.exe" as "invoiceexe.pdf") in the pop-up and the tray's recent list."""
    import re

    bidi = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
    d = start_daemon(desktop_env)
    since = len(desktop.notifications())
    d.inbound(ALICE, "see invoice\u202efdp.exe", name="Eve\u202e\u2067lanruoj")
    n = desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    assert n.summary == "New conversation: Evelanruoj · Fake SMS"
    assert n.body == "see invoicefdp.exe"
    st = d.wait_status(lambda s: s["state"] and s["state"]["recent"])
    labels = [label for _cid, label in st["state"]["recent"]]
    assert labels and not any(bidi.search(label) for label in labels), labels
    assert not any(bidi.search(r["title"] + r["body"]) for r in st["notifications"])
