"""The inbox list: what each row shows, filters, search, the virtual list at scale, deep
links, reopening where the agent left off, and live arrivals."""

from __future__ import annotations

from datetime import timedelta

from tray_agent.channels import InboundMessage
from tests.api.live import START


def test_rows_show_channel_icon_customer_last_message_time_and_unread_badge(window):
    a = window.agent
    mid = a.inbound(a.wa, "+14155552001", "Is my order on its way?", name="Dana Row")
    conv = a.conversation_of(mid)
    window.open()
    row = window.row(conv)
    row.wait_for()
    assert row.locator(".row-name").inner_text() == "Dana Row"
    assert row.locator(".row-preview").inner_text() == "Is my order on its way?"
    assert row.locator(".row-time").inner_text() == "09:00"
    assert row.locator(".row-badge").inner_text() == "1"
    icon = row.locator("img.row-icon")
    assert icon.get_attribute("src") == f"/api/channels/{a.wa.id}/icon.svg"
    assert icon.get_attribute("alt") == "Fake WhatsApp"
    # The icon is an image loaded from the API, never SVG markup in the page.
    assert window.page.evaluate("() => document.querySelectorAll('#inbox-list svg').length") == 0
    assert window.page.evaluate("img => img.naturalWidth > 0", icon.element_handle())
    window.shot("inbox")


def test_filters_show_unread_mine_unassigned_archived_and_one_channel(window):
    a = window.agent
    mine = a.conversation_of(a.inbound(a.sms, "+14155552002", "mine please", name="Filter Mine"))
    a.inbox.claim(a.me.id, mine)
    a.inbox.mark_read(a.me.id, mine)
    queued = a.conversation_of(a.inbound(a.wa, "+14155552003", "anyone?", name="Filter Queue"))
    archived = a.conversation_of(a.inbound(a.sms, "+14155552004", "old", name="Filter Archived"))
    a.inbox.archive(a.me.id, archived)
    window.open()
    ids = lambda: {int(x) for x in window.page.eval_on_selector_all(
        "#inbox-list .row:not([hidden])", "rows => rows.map(r => r.dataset.id)")}

    def pick(name: str) -> set[int]:
        window.page.click(f'#filters [data-filter="{name}"]')
        window.page.wait_for_function("f => document.querySelector(`#filters [data-filter='${f}']`)"
                                      ".getAttribute('aria-pressed') === 'true'", arg=name)
        window.page.wait_for_timeout(150)
        return ids()

    assert mine in pick("all") and queued in ids() and archived not in ids()
    got = pick("unread")
    assert queued in got and mine not in got
    got = pick("mine")
    assert mine in got and queued not in got
    got = pick("unassigned")
    assert queued in got and mine not in got
    got = pick("archived")
    assert got == {archived}
    pick("all")
    window.page.select_option("#channel-filter", str(a.wa.id))
    window.page.wait_for_timeout(200)
    assert queued in ids() and mine not in ids()
    window.shot("filter-whatsapp")


def test_search_finds_text_in_any_message_and_opens_its_conversation(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155552005", "The parcel number is ZX81 thanks", name="Searcher"))
    window.open()
    window.page.fill("#search", "zx81")
    hit = window.page.locator(f'#search-results .hit[data-id="{conv}"]')
    hit.wait_for()
    assert hit.locator("mark").inner_text().lower() == "zx81"
    assert "The parcel number is ZX81 thanks" in hit.inner_text()
    window.shot("search")
    hit.click()
    window.page.wait_for_selector('#history .item >> text="The parcel number is ZX81 thanks"')
    assert window.page.inner_text("#conv-name") == "Searcher"


def test_a_large_inbox_renders_only_visible_rows_and_pages_with_the_cursor(window):
    a = window.agent
    old = START - timedelta(days=2)
    batch = [InboundMessage(f"bulk-{i}", f"+1415556{i:04d}", f"bulk message {i}", customer_name=f"Bulk {i:04d}",
                            sent_at=old + timedelta(seconds=i)) for i in range(1500)]
    a.inbox.receive_batch(a.sms.id, batch)
    window.open()
    page = window.page
    loaded = lambda: page.evaluate("() => document.querySelector('.vlist-spacer').offsetHeight / 64")
    first = loaded()
    assert first <= 61  # the first page only
    for _ in range(60):  # scroll to the end, page after page
        page.eval_on_selector("#inbox-list", "el => el.scrollTop = el.scrollHeight")
        page.wait_for_timeout(60)
        if page.locator('#inbox-list .row:not([hidden]) >> text="Bulk 0000"').count():
            break
    assert page.locator('#inbox-list .row:not([hidden]) >> text="Bulk 0000"').count() == 1
    assert loaded() >= 1500
    rendered = page.evaluate("() => document.querySelectorAll('#inbox-list .row:not([hidden])').length")
    assert rendered <= 30, rendered
    window.shot("inbox-end-of-1500")


def test_deep_link_opens_the_conversation_marks_it_read_and_remembers_it(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155552006", "deep link me", name="Deep Link"))
    assert a.inbox.get_conversation(a.me.id, conv).unread
    window.open(conv)
    window.page.wait_for_selector('#history .item >> text="deep link me"')
    window.page.wait_for_function("id => document.querySelector(`.row[data-id='${id}'] .row-badge`)?.hidden", arg=conv)
    assert not a.inbox.get_conversation(a.me.id, conv).unread
    assert a.inbox.get_settings(a.me.id)["last_conversation_id"] == conv
    assert window.page.is_visible("#conv") and not window.page.is_visible("#inbox-list")
    window.shot("deep-link")


def test_the_window_reopens_at_the_last_conversation(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.wa, "+14155552007", "where was I", name="Last One"))
    a.inbox.update_settings(a.me.id, {"last_conversation_id": conv})
    window.open(wait="#conv:not([hidden])", resume=True)
    window.page.wait_for_selector('#history .item >> text="where was I"')
    assert window.page.evaluate("() => location.hash") == f"#/conversation/{conv}"
    window.page.click("#back")
    window.page.wait_for_selector("#inbox-list .row")


def test_a_new_customer_message_appears_live_at_the_top(window):
    a = window.agent
    window.open()
    mid = a.inbound(a.sms, "+14155552008", "arrived while watching", name="Live Arrival")
    conv = a.conversation_of(mid)
    window.page.wait_for_selector(f'#inbox-list .row[data-id="{conv}"] >> text="arrived while watching"')
    top = window.page.evaluate("() => [...document.querySelectorAll('#inbox-list .row:not([hidden])')]"
                               ".sort((x, y) => x.getBoundingClientRect().top - y.getBoundingClientRect().top)[0].dataset.id")
    assert int(top) == conv


def test_preview_says_you_only_for_my_own_reply_and_names_a_colleague(window):
    a = window.agent
    hers = a.conversation_of(a.inbound(a.sms, "+14155552101", "who answers?", name="Her Reply"))
    a.inbox.reply(a.bea.id, hers, "Bea here, on it")
    a.inbox.transfer(a.bea.id, hers, to_agent_id=a.me.id)  # Bea hands it to me after her reply
    mine = a.conversation_of(a.inbound(a.sms, "+14155552102", "and me?", name="My Reply"))
    a.inbox.reply(a.me.id, mine, "Alex here")
    window.open()
    window.row(hers).wait_for()
    assert window.row(hers).locator(".row-preview").inner_text() == "Bea Colleague: Bea here, on it"
    assert window.row(mine).locator(".row-preview").inner_text() == "You: Alex here"
    window.shot("preview-senders")
