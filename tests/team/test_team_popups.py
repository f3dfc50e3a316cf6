"""Pop-ups on a team desktop, from the notification engine the daemon runs over its cache: a
new customer message in a conversation of mine, and a reply the server refused (a colleague
took the conversation meanwhile), which says why, as the message in the window does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tray_agent.core.errors import ProviderError
from tray_agent.desktop.notification_engine import Notifications
from tests.desktop.test_engine import FakeNotifier, Mono
from tests.server.live import Team
from tests.team.desktop import Desktop, wait_for
from tests.team.proxy import Relay
from tests.team.test_team_inbound_files import clocked  # noqa: F401  (desktops on the server's clock)
from tests.team.test_team_upstream import relay  # noqa: F401  (the fixture)


def engine_of(d: Desktop, tmp_path: Path) -> tuple[Notifications, FakeNotifier, Callable[[], None]]:
    """The daemon's engine on this desktop's App, stepped by the test (its pop-ups recorded)."""
    notifier, mono = FakeNotifier(), Mono()
    e = Notifications(d.app, d.app.agent.id, [notifier], state_path=tmp_path / "notify.json", monotonic=mono)
    e._start_cursor()  # from now on: what the cache held before is no news

    def settle() -> None:
        mono.t += 10  # past the coalescing window: each item pops up on its own
        e.step()
    return e, notifier, settle


def test_a_new_message_in_mine_and_a_refused_reply_pop_up(team: Team, clocked, relay: Relay,  # type: ignore[no-untyped-def]  # noqa: F811
                                                           tmp_path: Path) -> None:
    mine = team.customer_says("I ordered a lamp", address="+14155557301")
    other = team.customer_says("and a chair", address="+14155557302")
    alice = clocked("Alice", relay.url)
    wait_for(lambda: {mine, other} <= set(alice.inbox_ids()), what="both conversations in Alice's cache")
    with alice.http() as c:
        assert c.post(f"/api/conversations/{mine}/claim").status_code == 200
    e, notifier, settle = engine_of(alice, tmp_path)
    settle()
    assert notifier.shown == []

    team.customer_says("it arrived broken", address="+14155557301")
    wait_for(lambda: any(m["text"] == "it arrived broken"
                         for m in alice.get(f"/api/conversations/{mine}/messages")["items"]),
             what="the new message in Alice's cache")
    settle()
    assert len(notifier.shown) == 1, notifier.shown
    assert notifier.shown[0]["title"] == "+1 415-555-7301 · Fake SMS"
    assert notifier.shown[0]["body"] == "it arrived broken"
    assert notifier.shown[0]["conversation_id"] == mine

    relay.block()
    wait_for(lambda: alice.connection()["state"] == "offline", what="Alice offline")
    with alice.http() as c:
        assert c.post(f"/api/conversations/{other}/messages", json={"text": "on my way"}).status_code == 201
    with team.http("Bea") as b:
        assert b.post(f"/sync/v1/conversations/{other}/claim", headers={"Idempotency-Key": f"bea-{other}"}
                      ).status_code == 200
    relay.unblock()
    failed = wait_for(lambda: [m for m in alice.get(f"/api/conversations/{other}/messages")["items"]
                               if m["status"] == "failed"], timeout=40, what="the refusal on Alice's message")
    settle()
    assert len(notifier.shown) == 2, notifier.shown
    popup = notifier.shown[1]
    assert popup["title"] == "Not sent to +1 415-555-7302 · Fake SMS"
    assert popup["body"] == failed[0]["status_reason"] and "Bea" in popup["body"]  # why, not "the provider"
    assert popup["conversation_id"] == other


def test_a_reply_the_provider_failed_on_the_server_pops_up_with_the_providers_reason(
        team: Team, clocked, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    cid = team.customer_says("call me back", address="+14155557303")
    alice = clocked("Alice", team.url)
    wait_for(lambda: cid in alice.inbox_ids(), what="the conversation in Alice's cache")
    e, notifier, settle = engine_of(alice, tmp_path)
    team.fake.adapters[team.sms.id].failures.append(ProviderError("The carrier is down.", retryable=False))
    with alice.http() as c:
        assert c.post(f"/api/conversations/{cid}/messages", json={"text": "calling now"}).status_code == 201
    wait_for(lambda: [m for m in alice.get(f"/api/conversations/{cid}/messages")["items"]
                      if m["status"] == "failed" and m["text"] == "calling now"], timeout=40,
             what="the provider's failure on Alice's message")
    settle()
    assert [(n["title"], n["conversation_id"]) for n in notifier.shown] == \
        [("Not sent to +1 415-555-7303 · Fake SMS", cid)]
    assert "The carrier is down." in notifier.shown[0]["body"]
