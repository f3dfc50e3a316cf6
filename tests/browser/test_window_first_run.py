"""A new user's empty inbox points at the sandbox's customer phone when the sandbox runs,
and the link opens that page."""

from __future__ import annotations

from tray_agent.sandbox import Sandbox


def test_the_empty_inbox_links_to_the_customer_phone_page_when_the_sandbox_runs(window, sandbox: Sandbox):  # type: ignore[no-untyped-def]
    a = window.agent
    window.open()
    empty = window.page.locator("#inbox-empty")
    empty.wait_for()
    assert empty.inner_text() == "No conversations yet."  # no sandbox channel: no link
    a.inbox.update_channel(a.sms.id, settings={**a.sms.settings, "source": "sandbox", "api_base": sandbox.url})
    window.open()
    link = window.page.locator("#inbox-empty a")
    link.wait_for()
    assert empty.inner_text() == "No conversations yet. Text the business from the sandbox's customer phone."
    assert link.get_attribute("href") == sandbox.url + "/"
    window.shot("empty-inbox-sandbox-link")
    with window.page.context.expect_page() as opened:
        link.click()
    phone = opened.value
    phone.wait_for_selector("#composer")
    assert phone.title() == "Sandbox customer phone — Tray Agent"
    phone.close()
