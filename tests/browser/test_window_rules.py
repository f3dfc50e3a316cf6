"""The channel's rules and times as the window states them: the administrator's settings,
the reply window's closing day, and conflicts that point at what they conflict with."""

from __future__ import annotations

from datetime import timedelta

from tests.api.live import START


def _rules_line(window) -> str:
    return window.page.inner_text("#conv-rules")


def test_the_sms_auto_closure_an_administrator_set_is_shown_and_follows_changes(window):
    a = window.agent
    with a.client() as c:
        assert c.patch(f"/api/channels/{a.sms.id}", json={"auto_close_seconds": 120}).status_code == 200
        conv = a.conversation_of(a.inbound(a.sms, "+14155558001", "when do you close?", name="Ru Les"))
        detail = c.get(f"/api/conversations/{conv}").json()
        assert detail["rules"]["auto_close_after_seconds"] == 120
        channel = next(ch for ch in c.get("/api/channels").json() if ch["id"] == a.sms.id)
        assert channel["rules"]["auto_close_after_seconds"] == 120
        window.open(conv)
        assert "closes after 2 min idle" in _rules_line(window)
        window.shot("rules-auto-close")
        # Changed while the window is open: the line follows without a reload.
        assert c.patch(f"/api/channels/{a.sms.id}", json={"auto_close_seconds": 7200}).status_code == 200
        window.page.wait_for_function(
            "() => document.querySelector('#conv-rules').innerText.includes('closes after 2 h idle')", timeout=2000)
        assert c.patch(f"/api/channels/{a.sms.id}", json={"auto_close_seconds": None}).status_code == 200  # null: never
        window.page.wait_for_function(
            "() => !document.querySelector('#conv-rules').innerText.includes('closes after')", timeout=2000)


def test_the_reply_window_says_which_day_it_closes(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.wa, "+14155558002", "reply by when?", name="To Morrow"))
    try:
        window.open(conv)
        line = window.page.locator("#conv-window")
        line.wait_for()
        assert "(closes tomorrow 09:00)" in line.inner_text()  # the customer wrote at 09:00 today
        window.shot("reply-window-tomorrow")
        a.clock.advance(timedelta(hours=20))
        window.open(conv)
        window.page.wait_for_function(
            "() => document.querySelector('#conv-window').innerText.includes('(closes at 09:00)')")
    finally:
        a.clock.set(START)


def test_do_not_disturb_for_an_hour_shows_when_it_ends(window):
    a = window.agent
    window.open()
    try:
        window.page.click("#open-settings")
        window.page.click("#dnd-hour")
        assert "Do not disturb until 10:00." in window.toast()
        window.page.keyboard.press("Escape")
        indicator = window.page.locator("#dnd-indicator")
        indicator.wait_for()
        assert indicator.inner_text().strip() == "until 10:00"  # on screen, not only in a tooltip
        window.shot("dnd-until")
    finally:
        a.inbox.update_settings(a.me.id, {"dnd_until": None})


def test_the_reopen_conflict_links_to_the_open_conversation(window):
    a = window.agent
    old = a.conversation_of(a.inbound(a.sms, "+14155558003", "first time", name="Con Flict"))
    a.inbox.close(a.me.id, old)
    new = a.conversation_of(a.inbound(a.sms, "+14155558003", "second time"))
    assert new != old
    window.open(old)
    window.action("close")  # "Reopen" on a closed conversation
    assert f"already has an open conversation ({new})" in window.toast()
    window.shot("reopen-conflict")
    window.page.locator("#toast button", has_text="Open it").click()
    window.page.wait_for_function("id => location.hash === `#/conversation/${id}`", arg=new)
    window.page.locator('#history >> text="second time"').wait_for()
