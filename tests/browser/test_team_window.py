"""Working together in the window: a conversation a colleague takes leaves my list live and
the open one says who took it; the transfer picker shows presence and who is offline; queue
offers say who else sees them; the timeline's system rows are named as Linkus names them;
a refused reply shows the server's reason with no retry; the team connection's banner."""

from __future__ import annotations

import json
from datetime import timedelta

from tray_agent.core.errors import ProviderError


def test_a_conversation_a_colleague_takes_leaves_my_list_live_and_the_open_one_says_who(window):
    a = window.agent
    page = window.page
    listed = a.conversation_of(a.inbound(a.sms, "+14155558001", "in the list", name="List Ed"))
    opened = a.conversation_of(a.inbound(a.sms, "+14155558002", "open on screen", name="Open Ed"))
    window.open(opened)
    page.set_viewport_size({"width": 1000, "height": 640})  # list and conversation side by side
    window.row(listed).wait_for(state="attached")
    page.fill("#composer-text", "half-written answer")
    a.inbox.claim(a.bea.id, listed)
    window.row(listed).wait_for(state="detached", timeout=2000)
    a.inbox.claim(a.bea.id, opened)
    page.wait_for_selector('#conv-gone:not([hidden]) >> text="Taken over by Bea Colleague."', timeout=2000)
    window.row(opened).wait_for(state="detached", timeout=2000)
    # Still readable where the cursor was, but nothing can be done to it any more.
    assert page.locator('#history >> text="open on screen"').count() == 1
    assert location_hash(page) == f"#/conversation/{opened}"
    assert page.is_disabled("#composer-text") and page.is_disabled("#send")
    assert page.locator("#conv-actions [data-action]:visible").count() == 0
    window.shot("taken-over-by-colleague")
    page.click("#gone-back")
    page.wait_for_function("() => location.hash === '#/'")


def test_take_over_when_a_colleague_was_faster_says_who_took_it(window):
    a = window.agent
    page = window.page
    conv = a.conversation_of(a.inbound(a.sms, "+14155558003", "who gets me", name="Ra Ce"))
    # The window has not heard yet (its live stream is cut): Bea takes it just before my click.
    page.route("**/api/events/stream**", lambda route: route.abort())
    window.open(conv)
    a.inbox.claim(a.bea.id, conv)
    page.click("#claim-btn")
    assert "Taken by Bea Colleague" in window.toast()
    page.wait_for_selector('#conv-gone:not([hidden]) >> text="Taken over by Bea Colleague."')
    assert a.inbox.get_conversation(a.bea.id, conv).assigned_agent_id == a.bea.id


def test_queue_offers_show_who_else_sees_them(window):
    a = window.agent
    carl = a.inbox.add_agent("Carl Colleague", "carl@example.com")
    billing = a.inbox.add_queue("Billing", [a.me.id, a.bea.id, carl.id])
    a.inbox.touch_agent(a.bea.id)
    a.inbox.update_channel(a.wa.id, route_queue_id=billing.id)
    try:
        conv = a.conversation_of(a.inbound(a.wa, "+14155558004", "anyone there?", name="Of Fer"))
    finally:
        a.inbox.update_channel(a.wa.id, route_queue_id=None)
    window.open(conv)
    page = window.page
    also = page.locator("#conv-claim .also-sees")
    also.wait_for()
    assert also.inner_text().replace("\xa0", " ") == "Also offered to Bea Colleague, Carl Colleague."
    assert also.locator(".dot.presence-available").count() == 1  # Bea's window is open
    assert also.locator(".dot.presence-offline").count() == 1
    assert window.row(conv).locator(".row-tags").get_attribute("title") == \
        "Also offered to Bea Colleague, Carl Colleague"
    window.shot("queue-offer")


def test_transfer_picker_lists_presence_marks_offline_colleagues_and_takes_a_note(window):
    a = window.agent
    olaf = a.inbox.add_agent("Olaf Away", "olaf@example.com")  # never seen: offline
    a.inbox.touch_agent(a.bea.id)
    conv = a.conversation_of(a.inbound(a.sms, "+14155558005", "pass me on", name="Pic Ker"))
    a.inbox.claim(a.me.id, conv)
    window.open(conv)
    window.action("transfer")
    dialog = window.page.locator("#transfer-dialog")
    dialog.wait_for()
    names = dialog.locator("fieldset").first.locator("label.choice bdi").all_inner_texts()
    assert names.index("Bea Colleague") < names.index("Olaf Away")  # available ones first
    bea = dialog.locator(f'label.choice:has(input[value="agent:{a.bea.id}"])')
    assert bea.locator(".presence.presence-available").inner_text() == "● available"
    off = dialog.locator(f'label.choice:has(input[value="agent:{olaf.id}"])')
    assert off.locator(".presence.presence-offline").inner_text() == "offline"
    assert off.locator(".presence-note").inner_text() == "— they'll see it when back"
    assert "2 members, 2 available" in dialog.locator(f'label.choice:has(input[value="queue:{a.queue.id}"])').inner_text()
    window.shot("transfer-picker-presence")
    off.click()  # allowed: they will see it when back
    dialog.locator("textarea[name=note]").fill("Call her <b>before</b> noon")
    dialog.locator("button[type=submit]").click()
    toast = window.toast()
    assert "Transferred to Olaf Away" in toast and "offline" in toast
    view = a.inbox.get_conversation(olaf.id, conv)
    assert view.assigned_agent_id == olaf.id
    assert a.inbox.history(olaf.id, conv).items[-1].meta["note"] == "Call her <b>before</b> noon"


def test_timeline_system_rows_name_each_lifecycle_step_for_every_viewer(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155558006", "help", name="Time Line"))
    a.inbox.claim(a.bea.id, conv)                                               # picked up
    a.inbox.transfer(a.bea.id, conv, to_queue_id=a.queue.id, note="VIP <i>x</i>")  # to a queue
    a.inbox.claim(a.me.id, conv)
    a.inbox.transfer(a.me.id, conv, to_agent_id=a.bea.id, note="your turn")     # to a colleague
    a.inbox.close(a.bea.id, conv)                                               # closed by an agent
    a.inbox.reopen(a.bea.id, conv)                                              # reopened
    a.inbox.elevate_to_call(a.bea.id, conv)                                     # called
    a.inbox.transfer(a.bea.id, conv, to_agent_id=a.me.id)
    a.inbox.update_channel(a.sms.id, auto_close_seconds=3600)
    try:
        a.clock.advance(timedelta(hours=2))
        assert a.inbox.close_idle() >= 1                                        # closed automatically
    finally:
        a.inbox.update_channel(a.sms.id, auto_close_seconds=None)
    window.open(conv)
    rows = window.page.locator("#history .msg.system")
    labels = [r.strip() for r in rows.locator(".system-label").all_inner_texts()]
    assert labels == ["Picked up", "Transferred to a queue", "Picked up", "Transferred", "Closed", "Reopened",
                      "Transferred", "Closed automatically"]
    steps = rows.evaluate_all("els => els.map(e => e.dataset.step)")
    assert "picked-up" in steps and "closed-automatically" in steps and "call" in steps
    to_queue = window.page.locator('#history .msg.system[data-step="transferred-to-a-queue"]')
    assert "Bea Colleague transferred this conversation to Sales" in to_queue.inner_text()
    assert to_queue.locator("q.note").inner_text() == "VIP <i>x</i>"  # the note as text, never markup
    assert to_queue.locator("i").count() == 0
    to_bea = window.page.locator('#history .msg.system[data-step="transferred"]').first
    assert "transferred this conversation to Bea Colleague" in to_bea.inner_text()
    assert to_bea.locator("q.note").inner_text() == "your turn"
    window.shot("timeline-system-rows")
    # The rows are the history's, the same for whoever views it (the owner now, a queue's members before).
    kinds = [m.kind for m in a.inbox.history(a.me.id, conv).items if m.direction == "system"]
    assert kinds.count("picked_up") == 2 and kinds.count("closed") == 2


def test_a_refused_reply_shows_the_servers_reason_and_offers_no_retry(window):
    a = window.agent
    page = window.page
    conv = a.conversation_of(a.inbound(a.sms, "+14155558007", "refuse me", name="Re Fused"))
    window.open(conv)
    a.fake.adapters[a.sms.id].failures.append(ProviderError(
        "Bea Colleague has already taken over this conversation.", retryable=False, provider_code="already_taken"))
    page.fill("#composer-text", "too late")
    page.press("#composer-text", "Enter")
    failed = page.locator('#history .item:has-text("too late")')
    failed.locator(".status-failed").wait_for()
    failure = failed.locator(".failure")
    assert failure.locator(".reason").inner_text() == "Bea Colleague has already taken over this conversation."
    assert failure.get_attribute("data-code") == "already_taken"
    assert failed.locator("button.retry").count() == 0
    window.shot("refused-reply")


def test_a_queued_reply_shows_as_pending(window):
    a = window.agent
    page = window.page
    conv = a.conversation_of(a.inbound(a.sms, "+14155558008", "queue me", name="Pen Ding"))
    # The provider is slow to answer: the reply waits in the outbox.
    a.fake.adapters[a.sms.id].failures.append(ProviderError("busy", retryable=True, retry_after=3600))
    window.open(conv)
    page.fill("#composer-text", "waiting to go")
    page.press("#composer-text", "Enter")
    out = page.locator('#history .item:has-text("waiting to go")')
    out.locator(".status-queued").wait_for(timeout=5000)
    assert "Pending" in out.locator(".status").inner_text()


def _connection(state: str, pending: int) -> str:
    return json.dumps({"mode": "team", "server": "https://team.example", "agent": {"id": 1, "name": "Alex"},
                       "state": state, "since": "2026-03-10T09:00:00+00:00",
                       # A read mark waits beside the replies: the banner counts replies only.
                       "pending": pending + 1, "pending_replies": pending,
                       "last_error": "connection refused" if state != "online" else None, "cursor": "e:1"})


def test_no_banner_on_a_single_desktop(window):
    window.open()
    window.wait_idle()
    assert window.page.locator("#connection").is_hidden()


def test_the_banner_says_offline_with_the_replies_waiting_and_goes_when_online(window):
    """Against the contract's GET /api/connection body (team-client's route), answered here."""
    page = window.page
    body = {"v": _connection("offline", 3)}
    page.route("**/api/connection", lambda route: route.fulfill(status=200, content_type="application/json",
                                                                 body=body["v"]))
    window.open()
    page.wait_for_selector('#connection:not([hidden]) >> text="Offline — 3 replies waiting"')
    window.shot("banner-offline")
    texts = page.evaluate("""async () => { const m = await import('/ui/js/connection.js');
        return ['online', 'offline', 'connecting'].map(s => m.connectionText({mode: 'team', state: s, pending: 0}))
          .concat([m.connectionText({mode: 'local', state: 'local', pending: 0})]); }""")
    assert texts == ["", "Offline", "Reconnecting…", ""]
    one = page.evaluate("""async () => (await import('/ui/js/connection.js'))
        .connectionText({mode: 'team', state: 'connecting', pending: 2, pending_replies: 1})""")
    assert one == "Reconnecting… — 1 reply waiting"


def location_hash(page) -> str:  # type: ignore[no-untyped-def]
    return page.evaluate("() => location.hash")


def test_each_kind_of_pop_up_is_switched_in_the_settings(window):
    a = window.agent
    page = window.page
    window.open()
    page.click("#open-settings")
    dialog = page.locator("#settings-dialog")
    dialog.wait_for()
    box = dialog.locator("input[name=notify_message]")
    assert box.is_checked()
    box.uncheck()
    for _ in range(50):
        if a.inbox.get_settings(a.me.id)["notify"]["message"] is False:
            break
        page.wait_for_timeout(100)
    notify = a.inbox.get_settings(a.me.id)["notify"]
    assert notify == {"new_conversation": True, "message": False, "transferred": True, "failed": True}
    dialog.locator("input[name=notify_message]").check()
    for _ in range(50):
        if a.inbox.get_settings(a.me.id)["notify"]["message"]:
            break
        page.wait_for_timeout(100)
    assert a.inbox.get_settings(a.me.id)["notify"]["message"] is True
