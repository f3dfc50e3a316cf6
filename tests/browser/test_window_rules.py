"""The channel's rules and times as the window states them: the administrator's settings,
the reply window's closing day, and conflicts that point at what they conflict with."""

from __future__ import annotations


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
        assert c.patch(f"/api/channels/{a.sms.id}", json={"auto_close_seconds": 0}).status_code == 200
        window.page.wait_for_function(
            "() => !document.querySelector('#conv-rules').innerText.includes('closes after')", timeout=2000)
