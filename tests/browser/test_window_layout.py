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


def _all_reachable(window, selector: str, container: str) -> list[str]:
    """Every visible control of ``selector``: inside the viewport and its bar, not hidden
    under a scroll, and the element a click at its centre lands on."""
    page = window.page
    view = page.viewport_size
    screen = {"x": 0, "y": 0, "width": view["width"], "height": view["height"]}
    bar = page.locator(container)
    bar_box = bar.bounding_box()
    assert page.evaluate("el => el.scrollWidth <= el.clientWidth", bar.element_handle()), f"{container} scrolls"
    names = []
    for control in page.locator(selector).all():
        if not control.is_visible():
            continue
        box = control.bounding_box()
        name = control.inner_text().strip() or control.get_attribute("aria-label")
        assert _inside(box, screen) and _inside(box, bar_box), f"{name!r} is cut off: {box} in {bar_box}"
        control.click(trial=True, timeout=2000)  # actionable: visible, enabled, not covered
        names.append(name)
    return names


def test_a_small_chat_window_shows_every_action_and_filter(window):
    a = window.agent
    a.inbound(a.sms, "+14155556002", "small window", name="Nar Row")
    conv = a.conversation_of(a.inbound(a.sms, "+14155556002", "still small"))
    window.page.set_viewport_size({"width": 400, "height": 640})
    window.open()
    chips = _all_reachable(window, "#filters [data-filter], #filters select", "#filters")
    assert chips[:5] == ["All", "Unread", "Mine", "Unassigned", "Archived"]
    window.shot("narrow-400-inbox")
    window.open(conv)
    actions = _all_reachable(window, "#conv-actions [data-action]", "#conv-actions")
    assert {"Take over", "Transfer", "Contact", "Archive", "Close", "Unread"} <= set(actions)
    window.shot("narrow-400-conversation")


def test_a_wide_window_shows_every_filter_chip_beside_the_conversation(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.wa, "+14155556003", "wide window", name="Wi De"))
    window.page.set_viewport_size({"width": 1000, "height": 700})
    window.open(conv)
    chips = _all_reachable(window, "#filters [data-filter], #filters select", "#filters")
    assert chips[:5] == ["All", "Unread", "Mine", "Unassigned", "Archived"]
    _all_reachable(window, "#conv-actions [data-action]", "#conv-actions")
    window.shot("wide-1000")
