"""Settings (pop-ups, sound, do-not-disturb now, for an hour, on a schedule), keyboard
shortcuts with their help overlay, the OS's dark mode, and the full-browser layout."""

from __future__ import annotations

from datetime import datetime


def test_settings_switch_popups_sound_and_do_not_disturb(window):
    a = window.agent
    window.open()
    page = window.page
    page.click("#open-settings")
    dialog = page.locator("#settings-dialog")
    dialog.wait_for()
    settings = lambda: a.inbox.get_settings(a.me.id)

    def wait(pred) -> None:  # type: ignore[no-untyped-def]
        for _ in range(100):
            if pred(settings()):
                return
            page.wait_for_timeout(30)
        raise AssertionError(settings())

    dialog.locator("input[name=popup]").uncheck()
    wait(lambda s: s["popup"] is False)
    dialog.locator("input[name=sound]").uncheck()
    wait(lambda s: s["sound"] is False)
    dialog.locator("input[name=dnd]").check()
    wait(lambda s: s["dnd"] is True)
    page.wait_for_selector("#dnd-indicator:not([hidden])", state="attached")
    dialog.locator("#dnd-end").click()
    wait(lambda s: s["dnd"] is False)
    dialog.locator("#dnd-hour").click()
    wait(lambda s: s["dnd_until"] is not None)
    until = datetime.fromisoformat(settings()["dnd_until"].replace("Z", "+00:00"))
    assert abs((until - a.clock.now()).total_seconds() - 3600) < 5  # an hour of the agent's clock
    page.wait_for_function("() => document.querySelector('.dnd-until').innerText.startsWith('Quiet until')")
    dialog.locator("input[name=sched_start]").fill("21:30")
    dialog.locator("input[name=sched_start]").dispatch_event("change")
    dialog.locator("input[name=sched_on]").check()
    wait(lambda s: s["dnd_schedule"] == {"enabled": True, "start": "21:30", "end": "08:00"})
    window.shot("settings")
    page.keyboard.press("Escape")
    assert page.is_hidden("#overlay")
    a.inbox.update_settings(a.me.id, {"popup": True, "sound": True, "dnd_until": None,
                                      "dnd_schedule": {"enabled": False, "start": "22:00", "end": "08:00"}})


def test_keyboard_shortcuts_drive_the_frequent_actions_and_are_documented(window):
    a = window.agent
    third = a.conversation_of(a.inbound(a.sms, "+14155555000", "third", name="Key Zero"))
    first = a.conversation_of(a.inbound(a.sms, "+14155555001", "first", name="Key One"))
    second = a.conversation_of(a.inbound(a.sms, "+14155555002", "second", name="Key Two"))
    window.page.set_viewport_size({"width": 1100, "height": 700})
    window.open()
    page = window.page
    page.keyboard.press("?")
    help_ = page.locator("#help-dialog")
    help_.wait_for()
    text = help_.inner_text()
    for line in ("Search messages", "Next conversation", "Take over", "Transfer", "Archive", "Close / reopen",
                 "Mark unread", "Call the customer", "Save as contact", "New conversation", "Settings"):
        assert line in text, line
    window.shot("help-overlay")
    page.keyboard.press("Escape")
    assert page.is_hidden("#overlay")
    def navigate(keys: str, conversation: int, text: str) -> None:
        for key in keys:  # pressed at once: none is lost while the view is still switching
            page.keyboard.press(key)
        page.wait_for_function(f"() => location.hash === '#/conversation/{conversation}'")
        page.locator(f'#history >> text="{text}"').wait_for()
        window.wait_idle()
        assert page.locator(".row.selected .row-name").inner_text() == a.inbox.get_conversation(
            a.me.id, conversation).customer_name

    navigate("j", second, "second")  # opens the top conversation
    navigate("j", first, "first")
    navigate("k", second, "second")
    navigate("jj", third, "third")
    navigate("kkj", first, "first")
    navigate("k", second, "second")
    page.keyboard.press("a")  # take over
    page.wait_for_function("() => document.querySelector('#conv-sub').innerText.includes('Yours')")
    page.keyboard.press("e")  # archive
    page.wait_for_function("() => document.querySelector('#conv-sub').innerText.includes('Archived')")
    page.keyboard.press("e")
    page.wait_for_function("() => !document.querySelector('#conv-sub').innerText.includes('Archived')")
    page.keyboard.press("r")
    assert page.evaluate("() => document.activeElement.id") == "composer-text"
    page.keyboard.type("typed j k and e stay text")
    assert page.input_value("#composer-text") == "typed j k and e stay text"
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement.id") == "search"
    page.keyboard.press("Escape")
    page.keyboard.press("2")
    page.wait_for_selector('#filters [data-filter="unread"][aria-pressed="true"]')
    page.keyboard.press("1")
    page.keyboard.press(",")
    page.locator("#settings-dialog").wait_for()
    page.keyboard.press("Escape")
    page.keyboard.press("t")
    page.locator("#transfer-dialog").wait_for()
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    page.locator("#new-dialog").wait_for()
    page.keyboard.press("Escape")
    assert a.inbox.get_conversation(a.me.id, second).assigned_agent_id == a.me.id


def test_dark_mode_follows_the_os(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.wa, "+14155555003", "in the dark", name="Dark Mode"))
    window.page.emulate_media(color_scheme="dark")
    try:
        window.open(conv)
        bg = window.page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(22, 25, 29)"
        window.shot("dark")
    finally:
        window.page.emulate_media(color_scheme="light")
    window.open(conv)
    assert window.page.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"


def test_a_full_browser_shows_the_list_and_the_conversation_side_by_side(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155555004", "wide screen", name="Wide Screen"))
    window.page.set_viewport_size({"width": 1280, "height": 800})
    window.open(conv)
    assert window.page.is_visible("#inbox-list") and window.page.is_visible("#history")
    assert window.page.is_hidden("#back")
    window.shot("wide")
