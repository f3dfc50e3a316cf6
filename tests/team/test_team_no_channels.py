"""A team-mode desktop runs no channel plugins: checked on the running desktop, it builds no
adapter, runs no poller, no channel outbox and no sweeps of its own (only the sync, the
upstream sender and its file retention), and its local /webhooks/... answers 404 while the
server's answers the same request; a reply reaches the provider from the server, once."""

from __future__ import annotations

import asyncio

from tests.server.live import Team
from tests.support import FakeChannels
from tests.team.desktop import wait_for
from tests.team.test_team_upstream import sent_to

#: The server's SMS channel serves a webhook (``POST /webhooks/{id}/inbound``, recorded).
SMS_SETTINGS = {"webhook": "record"}

#: What a single desktop's channel runtime runs (run/runtime.py): none of it in team mode.
CHANNEL_TASKS = {"outbox", "auto-closure", "sweeps", "health", "change-watch", "leases"}


def test_a_team_desktop_runs_no_channel_adapter_poller_outbox_or_webhook(team: Team, desktops) -> None:  # type: ignore[no-untyped-def]
    cid = team.customer_says("is anyone there?")
    alice = desktops("Alice")
    wait_for(lambda: cid in alice.inbox_ids(), what="the conversation in Alice's cache")
    assert alice.get(f"/api/conversations/{cid}")["channel_id"] == team.sms.id  # its channel is known here

    tasks = set(alice.thread.call(lambda: {t.get_name() for t in asyncio.all_tasks()}))
    assert {"team-sync", "team-outbox", "team-file-retention"} <= tasks
    assert not tasks & CHANNEL_TASKS, tasks & CHANNEL_TASKS
    assert not [t for t in tasks if t.startswith("poll-")]
    runtime = alice.thread.runner.runtime
    assert runtime.adapters == {} and runtime.routes == {}
    # The channel plugin is installed here (the window takes its rules from it), yet no adapter was made.
    local_plugin = alice.app.plugins.pm.get_plugin("fake_channels")
    assert isinstance(local_plugin, FakeChannels) and local_plugin.adapters == {}

    hook = f"/webhooks/{team.sms.id}/inbound"
    with alice.http() as c:
        r = c.post(hook, content=b"From=%2B14155550000&Body=hi",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
    with team.http() as c:  # the same request where the channel lives
        assert c.post(hook, content=b"From=%2B14155550000&Body=hi",
                      headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 204
    assert len(team.fake.adapters[team.sms.id].webhooks) >= 1

    with alice.http() as c:
        assert c.post(f"/api/conversations/{cid}/messages", json={"text": "yes, here"}).status_code == 201
    address = team.address_of(cid)
    wait_for(lambda: sent_to(team, address) == ["yes, here"], timeout=30, what="the reply sent by the server")
    wait_for(lambda: alice.connection()["pending"] == 0, what="Alice's outbox empty")
    assert local_plugin.adapters == {}  # nothing went to a provider from the desktop
    assert sent_to(team, address) == ["yes, here"]
