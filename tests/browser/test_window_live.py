"""The live connection: a window that loses the agent (a restart, a sleep) resumes from
the last event it saw and misses nothing; one away too long reloads; and the agent is
shown online while a window is connected."""

from __future__ import annotations

from tray_agent.channels import InboundMessage


def test_after_a_reconnect_nothing_committed_meanwhile_is_missed(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155557001", "before the restart", name="Re Connect"))
    window.open(conv)
    page = window.page
    a.stop_server()
    page.wait_for_selector("#offline:not([hidden])", timeout=10000)
    window.shot("offline")
    # While the window cannot reach the agent: a reply arrives here and a new customer writes.
    a.inbound(a.sms, "+14155557001", "while you were away")
    other = a.conversation_of(a.inbound(a.wa, "+14155557002", "new while away", name="Away Customer"))
    a.start_server()
    page.locator('#history >> text="while you were away"').wait_for(timeout=15000)
    window.row(other).wait_for(state="attached", timeout=15000)
    page.wait_for_selector("#offline", state="hidden")
    assert page.locator('#history >> text="before the restart"').count() == 1


def test_a_window_far_behind_is_told_to_resync_and_reloads(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155557003", "resync base", name="Re Sync"))
    window.open(conv)
    a.stop_server()
    window.page.wait_for_selector("#offline:not([hidden])", timeout=10000)
    # More events than the stream replays (RESYNC_GAP): the window must reload instead.
    a.inbox.receive_batch(a.sms.id, [InboundMessage(f"flood-{i}", "+14155557003", f"flood {i}")
                                     for i in range(5100)])
    a.start_server()
    window.page.locator('#history >> text="flood 5099"').wait_for(timeout=15000)
    window.page.wait_for_selector("#offline", state="hidden")


def test_the_agent_is_online_while_a_window_is_connected(window):
    a = window.agent
    window.open()
    window.wait_idle()
    with a.client() as c:
        for _ in range(50):
            me = next(x for x in c.get("/api/agents").json() if x["id"] == a.me.id)
            if me["online"]:
                break
            window.page.wait_for_timeout(100)
    assert me["online"] is True
