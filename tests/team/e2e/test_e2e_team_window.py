"""End to end, what three agents see: the team server on PostgreSQL, three team-mode desktops
(Alice, Bea, Carl in one queue; their own homes and caches), each with its notification
engine, and headless Chromium windows on their local APIs. A customer writes: all three are
notified and see it; Bea takes it over: it leaves Alice's and Carl's windows within 500 ms;
Bea transfers it to Carl with a note: Carl's pop-up carries the note; offline, the window
says how many replies wait; a reply refused because a colleague took over shows why."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tray_agent.api.security import window_url
from tray_agent.desktop.notification_engine import Notifications
from tests.server.live import Team
from tests.team.desktop import Desktop, wait_for
from tests.team.e2e import window
from tests.team.e2e.window import row, take_over_leaves_windows, write
from tests.team.proxy import Relay



class Recorder:
    """The notifier a desktop's engine hands its pop-ups to (the D-Bus path has its own tests)."""

    name = "recorder"
    supports_replace = True

    def __init__(self) -> None:
        self.shown: list[dict[str, Any]] = []

    def available(self) -> bool:
        return True

    def notify(self, title: str, body: str, *, sound: bool, conversation_id: int | None,
               replaces: int | None = None) -> int:
        self.shown.append({"title": title, "body": body, "conversation_id": conversation_id})
        return len(self.shown)


@pytest.fixture(scope="module", autouse=True)
def carl_in_the_queue(team: Team) -> None:
    team.inbox.set_queue_members(team.queue.id, [team.agents[n].id for n in ("Alice", "Bea", "Carl")])


@pytest.fixture
def notified(tmp_path: Path) -> Iterator[Callable[[Desktop], Recorder]]:
    engines: list[Notifications] = []

    def start(d: Desktop) -> Recorder:
        rec = Recorder()
        me = d.get("/api/session")["agent"]["id"]
        e = Notifications(d.app, me, [rec], state_path=tmp_path / f"notify-{len(engines)}.json")
        e.start()
        assert e.ready.wait(10)
        engines.append(e)
        return rec

    yield start
    for e in engines:
        e.stop()


def open_window(chromium, d: Desktop, conversation_id: int | None = None):  # type: ignore[no-untyped-def]
    return window.open_window(chromium, window_url(d.thread.url, d.thread.token, conversation_id), conversation_id)


def offline_window(team: Team, desktops, relay: Relay, chromium, who: str, text: str):  # type: ignore[no-untyped-def]
    """A customer writes; ``who``'s desktop (through ``relay``) has it, its window shows it,
    then the server connection is cut. Returns (conversation id, desktop, page)."""
    cid = team.customer_says(text)
    d = desktops(who, relay.url)
    wait_for(lambda: cid in d.inbox_ids(), what=f"the conversation in {who}'s cache")
    page = open_window(chromium, d, cid)
    assert page.locator("#connection").is_hidden()  # online: nothing to say
    relay.block()
    page.wait_for_selector('#connection:not([hidden]) >> text="Offline"', timeout=30000)
    return cid, d, page


def test_all_three_are_notified_and_a_take_over_leaves_the_others_windows_at_once(
        team: Team, desktops, notified, chromium) -> None:  # type: ignore[no-untyped-def]
    alice, bea, carl = desktops("Alice"), desktops("Bea"), desktops("Carl")
    recs = {name: notified(d) for name, d in (("Alice", alice), ("Bea", bea), ("Carl", carl))}
    windows = {"Alice": open_window(chromium, alice), "Carl": open_window(chromium, carl)}
    cid = team.customer_says("is anyone there?")
    for name, rec in recs.items():
        n = wait_for(lambda rec=rec: [x for x in rec.shown if x["conversation_id"] == cid],  # type: ignore[misc]
                     what=f"{name}'s pop-up")
        assert n[0]["title"].startswith("New conversation: ") and n[0]["body"] == "is anyone there?"
    for page in windows.values():
        row(page, cid).wait_for(state="attached", timeout=10000)
    with bea.http() as c:
        take_over_leaves_windows(windows, cid, lambda: c.post(f"/api/conversations/{cid}/claim"))


def test_a_transfer_to_carl_with_a_note_pops_up_with_the_note(team: Team, desktops, notified, chromium) -> None:  # type: ignore[no-untyped-def]
    cid = team.customer_says("I need a refund")
    bea, carl = desktops("Bea"), desktops("Carl")
    rec = notified(carl)
    wait_for(lambda: cid in bea.inbox_ids(), what="the conversation in Bea's cache")
    page = open_window(chromium, carl)
    with bea.http() as c:
        assert c.post(f"/api/conversations/{cid}/claim").status_code == 200
        r = c.post(f"/api/conversations/{cid}/transfer",
                   json={"to_agent_id": team.agents["Carl"].id, "note": "She paid twice <b>!</b>"})
        assert r.status_code == 200, r.text
    n = wait_for(lambda: [x for x in rec.shown if x["title"].startswith("Transferred to you")],
                 what="Carl's transfer pop-up")
    assert n[-1]["body"] == "From Bea: She paid twice <b>!</b>"  # text; the native notifier escapes it
    assert n[-1]["conversation_id"] == cid
    # Carl's window lists it, and its history names the transfer and quotes the note.
    row(page, cid).wait_for(state="attached", timeout=10000)
    page.evaluate("id => { location.hash = `#/conversation/${id}` }", cid)
    step = page.locator('#history .msg.system[data-step="transferred"]')
    step.wait_for(timeout=10000)
    assert step.locator("q.note").inner_text() == "She paid twice <b>!</b>"
    assert page.locator('#history .msg.system[data-step="picked-up"]').count() == 1
    page.close()


def test_offline_the_window_says_how_many_replies_wait_and_clears_when_back(
        team: Team, desktops, relay: Relay, chromium) -> None:  # type: ignore[no-untyped-def]
    cid, alice, page = offline_window(team, desktops, relay, chromium, "Alice", "are you open today?")
    for text in ("yes", "until 6"):
        write(page, text)
    # The banner counts the replies waiting, not the read mark opening the conversation may
    # have queued beside them.
    wait_for(lambda: alice.connection()["pending_replies"] == 2, what="two replies pending")
    page.wait_for_selector('#connection >> text="Offline — 2 replies waiting"', timeout=10000)
    # Still readable: the history is there.
    assert page.locator('#history >> text="are you open today?"').count() == 1
    relay.unblock()
    page.wait_for_selector("#connection", state="hidden", timeout=40000)
    page.locator('#history .item:has-text("until 6") .status-queued').wait_for(state="detached", timeout=30000)
    assert not page.errors  # type: ignore[attr-defined]
    page.close()


def test_a_reply_refused_because_alice_took_over_shows_the_reason_without_retry(
        team: Team, desktops, relay: Relay, chromium) -> None:  # type: ignore[no-untyped-def]
    cid, _carl, page = offline_window(team, desktops, relay, chromium, "Carl", "who will answer?")
    write(page, "on it")
    with team.http("Alice") as a:
        assert a.post(f"/sync/v1/conversations/{cid}/claim", headers={"Idempotency-Key": f"a-{cid}"}).status_code == 200
    relay.unblock()
    failed = page.locator('#history .item:has-text("on it")')
    failed.locator(".status-failed").wait_for(timeout=40000)
    failure = failed.locator(".failure")
    assert "Alice" in failure.locator(".reason").inner_text()
    assert failure.get_attribute("data-code") == "already_taken"
    assert failed.locator("button.retry").count() == 0
    assert not page.errors  # type: ignore[attr-defined]
    page.close()
