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


def test_changes_made_elsewhere_reach_an_open_window_without_a_reload(window):
    """What a colleague or the CLI changes shows within 2 s: a contact saved on another
    conversation of the customer, a transfer to me, a close, an archive."""
    a = window.agent
    page = window.page
    sms = a.conversation_of(a.inbound(a.sms, "+14155557101", "on SMS", name="Live Ly"))
    wa = a.conversation_of(a.inbound(a.wa, "+14155557101", "on WhatsApp"))
    hers = a.conversation_of(a.inbound(a.sms, "+14155557102", "for Bea", name="Bea's Customer"))
    a.inbox.claim(a.bea.id, hers)
    gone = a.conversation_of(a.inbound(a.sms, "+14155557103", "archive me elsewhere", name="Arch Ived"))
    window.open(sms)
    page.evaluate("() => { window.__loaded = performance.timeOrigin }")  # a reload would lose it
    # A colleague saves the WhatsApp conversation's customer as a contact: the SMS one (same
    # number) is that contact too, in the list and in the open history.
    with a.client() as c:
        assert c.post(f"/api/conversations/{wa}/contact", json={"name": "Livia Contact"}).status_code < 300
    page.wait_for_selector('#conv-name >> text="Livia Contact"', timeout=2000)
    # (At this width the list is behind the conversation: check the rows' contents.)
    page.wait_for_function("id => document.querySelector(`#inbox-list .row[data-id='${id}'] .row-name`)"
                           "?.textContent === 'Livia Contact'", arg=wa, timeout=2000)
    page.locator('#history >> text="on WhatsApp"').wait_for(timeout=2000)
    # Bea hands me her conversation; another change archives one; another closes mine.
    a.inbox.transfer(a.bea.id, hers, to_agent_id=a.me.id, note="yours now")
    window.row(hers).wait_for(state="attached", timeout=2000)
    a.inbox.archive(a.me.id, gone)
    window.row(gone).wait_for(state="detached", timeout=2000)
    a.inbox.close(a.me.id, sms)
    page.wait_for_selector("#composer.locked", timeout=2000)
    assert "Closed" in page.inner_text("#conv-sub")
    assert page.evaluate("() => window.__loaded") is not None
    window.shot("live-changes")
