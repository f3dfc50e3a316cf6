"""The window's layout as a support agent sees it: nothing painted where it does not belong,
and every action and filter reachable in a small chat window and a wide one."""

from __future__ import annotations


def _inside(inner: dict, outer: dict) -> bool:
    return (inner["x"] >= outer["x"] - 0.5 and inner["y"] >= outer["y"] - 0.5
            and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
            and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5)


def test_transfer_with_an_offline_colleague_paints_no_reconnect_banner(window):
    a = window.agent
    olaf = a.inbox.add_agent("Olaf Offline", "olaf@example.com")  # never seen: offline
    conv = a.conversation_of(a.inbound(a.sms, "+14155556001", "hand me on", name="Ban Ner"))
    a.inbox.claim(a.me.id, conv)
    window.open(conv)
    window.action("transfer")
    dialog = window.page.locator("#transfer-dialog")
    dialog.wait_for()
    label = dialog.locator(f'label.choice:has(input[value="agent:{olaf.id}"])')
    presence = label.locator(".presence")
    assert presence.inner_text() == "offline"
    # The colleague's presence sits on its line in the dialog, not across the window's top.
    assert _inside(presence.bounding_box(), label.bounding_box())
    assert window.page.locator("#offline").is_hidden()
    top = window.page.evaluate("() => document.elementFromPoint(innerWidth / 2, 4).className")
    assert "presence" not in top
    window.shot("transfer-offline-colleague")
