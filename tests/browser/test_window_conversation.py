"""The open conversation: the whole history with earlier conversations and system events,
paging back through a long history, statuses and retry, the channel's rules shown before
they bite, and every action on the conversation."""

from __future__ import annotations

import re
from datetime import timedelta

from tray_agent.channels import InboundMessage
from tray_agent.core.errors import ProviderError
from tray_agent.core.models import Contact, ContactPoint, Message
from tests.api.live import START


def test_history_has_earlier_conversations_transfers_with_notes_calls_and_system_events(window):
    a = window.agent
    first = a.conversation_of(a.inbound(a.sms, "+14155553001", "My first question", name="Hist Ory"))
    a.inbox.reply(a.me.id, first, "First answer")
    a.inbox.close(a.me.id, first)
    conv = a.conversation_of(a.inbound(a.sms, "+14155553001", "Back again"))
    a.inbox.claim(a.me.id, conv)
    a.inbox.transfer(a.me.id, conv, to_queue_id=a.queue.id, note="VIP customer, be quick")
    a.inbox.elevate_to_call(a.me.id, conv)
    window.open(conv)
    h = window.page.locator("#history")
    h.locator('text="My first question"').wait_for()
    text = h.inner_text()
    for expected in ("Start of the history with this customer", f"Earlier conversation #{first}", "First answer",
                     "Closed by Alex Agent", "This conversation", "Back again",
                     "Alex Agent transferred this conversation to Sales", "VIP customer, be quick",
                     "Call to +14155553001"):
        assert expected in text, expected
    assert text.index("My first question") < text.index("Back again") < text.index("VIP customer")
    assert h.locator(".msg.system.kind-transfer q.note").inner_text() == "VIP customer, be quick"
    window.shot("history-with-earlier-conversation")


def test_scrolling_back_loads_older_pages_and_keeps_the_dom_window_bounded(window):
    a = window.agent
    batch = [InboundMessage(f"long-{i}", "+14155553002", f"line {i:04d}", customer_name="Long History",
                            sent_at=START - timedelta(minutes=1200 - i)) for i in range(1200)]
    a.inbox.receive_batch(a.sms.id, batch)
    conv = a.conversation_of(a.inbound(a.sms, "+14155553002", "the newest line"))
    window.open(conv)
    page = window.page
    page.locator('#history >> text="the newest line"').wait_for()
    for _ in range(200):
        page.eval_on_selector("#history", "el => el.scrollTop = 0")
        page.wait_for_timeout(40)
        if page.locator('#history >> text="line 0000"').count():
            break
    assert page.locator('#history >> text="line 0000"').count() == 1
    assert "Start of the history" in page.inner_text("#history")
    count = lambda: page.evaluate("() => document.querySelectorAll('#history-items .item').length")
    assert count() <= 240
    window.shot("history-top-of-1200")
    for _ in range(200):
        page.eval_on_selector("#history", "el => el.scrollTop = el.scrollHeight")
        page.wait_for_timeout(40)
        if page.locator('#history >> text="the newest line"').count():
            break
    assert page.locator('#history >> text="the newest line"').count() == 1
    assert count() <= 240


def _provider_id(a, message_id: int) -> str:
    with a.app.db.read() as s:
        return s.get(Message, message_id).provider_message_id


def test_outgoing_message_shows_sent_delivered_read_and_failed_with_a_retry(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155553003", "status please", name="Stat Us"))
    window.open(conv)
    page = window.page
    page.fill("#composer-text", "Your order shipped")
    page.press("#composer-text", "Enter")
    out = page.locator('#history .item:has-text("Your order shipped")')
    out.locator(".status-sent").wait_for()
    mid = int(out.get_attribute("data-id"))
    a.status(a.sms, _provider_id(a, mid), "delivered")
    out.locator(".status-delivered").wait_for()
    a.status(a.sms, _provider_id(a, mid), "read")
    out.locator(".status-read").wait_for()
    a.fake.adapters[a.sms.id].failures.append(ProviderError("The carrier refused the number", retryable=False))
    page.fill("#composer-text", "This one fails")
    page.press("#composer-text", "Enter")
    failed = page.locator('#history .item:has-text("This one fails")')
    failed.locator(".status-failed").wait_for()
    assert "The carrier refused the number" in failed.locator(".failure").inner_text()
    window.shot("failed-with-retry")
    failed.locator("button.retry").click()
    failed.locator(".status-sent").wait_for()
    assert failed.locator("button.retry").count() == 0


def test_whatsapp_shows_the_reply_window_left_and_locks_once_it_has_closed(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.wa, "+14155553004", "hi on whatsapp", name="Win Dow"))
    try:
        window.open(conv)
        line = window.page.locator("#conv-window")
        line.wait_for()
        # The countdown runs on from the server's "now" in real time, so a busy machine's
        # second past the page's load already reads 23 h 59 min.
        assert re.search(r"Reply window: (24 h|23 h 59 min) left", line.inner_text())
        assert "replies within 24 h of the customer's last message" in window.page.inner_text("#conv-rules")
        a.clock.advance(timedelta(hours=23))
        # An answer inside the window keeps the conversation active: WhatsApp also closes one
        # after 24 h without activity, and the 60 s closure pass must not turn the closed
        # reply window below into a closed conversation.
        a.inbox.reply(a.me.id, conv, "Looking into it")
        window.open(conv)
        line.wait_for()
        assert "1 h left" in line.inner_text() and "warn" in line.get_attribute("class")
        window.shot("whatsapp-window-warning")
        a.clock.advance(timedelta(hours=2))
        window.open(conv)
        window.page.wait_for_selector("#composer.locked")
        lock = window.page.inner_text("#composer-lock")
        assert "The reply window closed at 2026-03-11 09:00 UTC" in lock
        assert window.page.is_disabled("#composer-text") and window.page.is_disabled("#send")
        window.shot("whatsapp-window-closed")
    finally:
        a.clock.set(START)


def test_a_retried_send_that_got_through_no_longer_says_retrying(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155553026", "flaky line", name="Re Try"))
    window.open(conv)
    a.fake.adapters[a.sms.id].failures.append(
        ProviderError("Too Many Requests (20429)", retryable=True, provider_code=20429, retry_after=1))
    window.page.fill("#composer-text", "Second time lucky")
    window.page.press("#composer-text", "Enter")
    out = window.page.locator('#history .item:has-text("Second time lucky")')
    out.wait_for()
    mid = int(out.get_attribute("data-id"))
    for _ in range(100):
        with a.app.db.read() as s:
            if (s.get(Message, mid).status_reason or "").startswith("Retrying"):
                break
        window.page.wait_for_timeout(50)
    a.clock.advance(timedelta(seconds=5))  # past the provider's Retry-After
    out.locator(".status-sent").wait_for(timeout=15000)
    a.status(a.sms, _provider_id(a, mid), "delivered")
    out.locator(".status-delivered").wait_for()
    assert out.locator(".status").get_attribute("title") == "Delivered"
    assert a.inbox.history(a.me.id, conv).items[-1].status_reason is None


def test_a_failed_send_brings_its_reason_and_retry_into_view(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155553027", "long thread", name="Fo Ld"))
    for i in range(12):
        a.inbound(a.sms, "+14155553027", f"filler {i}")
    window.open(conv)
    window.page.fill("#composer-text", "This one fails below the fold")
    window.page.press("#composer-text", "Enter")
    failed = window.page.locator('#history .item:has-text("This one fails below the fold")')
    failed.locator(".status-sent").wait_for()
    # The carrier reports later that it could not deliver it.
    a.status(a.sms, _provider_id(a, int(failed.get_attribute("data-id"))), "failed",
             error_code="30003", error_message="Unreachable destination handset: the phone is off or out of coverage")
    failed.locator(".status-failed").wait_for()
    window.wait_idle()
    retry, history = failed.locator("button.retry").bounding_box(), window.page.locator("#history").bounding_box()
    assert history["y"] <= retry["y"] and retry["y"] + retry["height"] <= history["y"] + history["height"] + 0.5
    window.shot("failed-in-view")


def test_closing_locks_the_composer_with_the_reason_and_reopening_unlocks_it(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155553005", "close me", name="Clo Se"))
    a.inbox.claim(a.me.id, conv)
    window.open(conv)
    window.action("close")
    window.page.wait_for_selector("#composer.locked")
    assert "closed; reopen it to reply" in window.page.inner_text("#composer-lock")
    assert window.page.inner_text('#conv-actions [data-action="close"] .label') == "Reopen"
    window.page.locator('#history >> text="Closed by Alex Agent"').wait_for()
    window.shot("closed-conversation")
    window.action("close")
    window.page.wait_for_selector("#composer:not(.locked)")
    assert a.inbox.get_conversation(a.me.id, conv).status == "open"


def test_the_x_key_closes_with_an_undo_that_reopens(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155553025", "do not close me by mistake", name="Un Do"))
    a.inbox.claim(a.me.id, conv)
    window.open(conv)
    window.page.locator("#history").click()  # focus on the page, not in the composer
    window.page.keyboard.press("x")
    window.page.wait_for_selector("#composer.locked")
    assert "Conversation closed." in window.toast()
    assert a.inbox.get_conversation(a.me.id, conv).status == "closed"
    undo = window.page.locator("#toast button", has_text="Undo")
    window.shot("close-undo-toast")
    undo.click()
    window.page.wait_for_selector("#composer:not(.locked)")
    assert "Reopened." in window.toast()
    assert a.inbox.get_conversation(a.me.id, conv).status == "open"


def test_taking_over_a_queued_conversation(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155553006", "who will help?", name="Que Ued"))
    window.open(conv)
    assert "Waiting in the shared inbox" in window.page.inner_text("#conv-claim")
    window.shot("queued")
    window.page.click("#claim-btn")
    window.page.wait_for_selector("#conv-claim", state="hidden")
    assert "Yours" in window.page.inner_text("#conv-sub")
    assert a.inbox.get_conversation(a.me.id, conv).assigned_agent_id == a.me.id


def test_transfer_to_an_online_colleague_with_a_note(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155553007", "transfer me", name="Trans Fer"))
    a.inbox.claim(a.me.id, conv)
    a.inbox.touch_agent(a.bea.id)  # Bea's window is open
    window.open(conv)
    window.action("transfer")
    dialog = window.page.locator("#transfer-dialog")
    dialog.wait_for()
    bea = dialog.locator(f'label.choice:has(input[value="agent:{a.bea.id}"])')
    assert "● available" in bea.inner_text()
    assert dialog.locator(f'input[value="queue:{a.queue.id}"]').count() == 1
    bea.click()
    dialog.locator("textarea[name=note]").fill("Please call back after 5")
    window.shot("transfer-dialog")
    dialog.locator("button[type=submit]").click()
    assert "Transferred to Bea Colleague" in window.toast()
    window.page.wait_for_function("() => location.hash === '#/'")
    assert window.row(conv).count() == 0
    view = a.inbox.get_conversation(a.bea.id, conv)
    assert view.assigned_agent_id == a.bea.id
    page = a.inbox.history(a.bea.id, conv)
    assert page.items[-1].meta["note"] == "Please call back after 5"


def test_archive_unarchive_and_mark_unread(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155553008", "archive me", name="Arch Ive"))
    window.open(conv)
    window.action("archive")
    window.page.wait_for_function("() => document.querySelector('#conv-sub').innerText.includes('Archived')")
    assert a.inbox.get_conversation(a.me.id, conv).archived
    window.action("archive")
    window.page.wait_for_function("() => !document.querySelector('#conv-sub').innerText.includes('Archived')")
    assert not a.inbox.get_conversation(a.me.id, conv).archived
    window.action("unread")
    assert "Marked unread" in window.toast()
    assert a.inbox.get_conversation(a.me.id, conv).unread


def test_call_starts_through_the_handler_and_is_recorded(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155553009", "call me", name="Ca Ll"))
    window.open(conv)
    window.action("call")
    window.page.click("#call-dialog button[type=submit]")  # the window asks first
    assert "Opened tel:+14155553009" in window.toast()
    window.page.locator('#history .msg.kind-call >> '
                        'text="Call to +14155553009: Opened tel:+14155553009 with the system\'s call handler"').wait_for()


def test_save_the_customer_as_a_new_contact_then_add_another_number_to_it(window):
    a = window.agent
    one = a.conversation_of(a.inbound(a.sms, "+14155553010", "save me", name="Carla"))
    two = a.conversation_of(a.inbound(a.wa, "+14155553011", "me too"))
    window.open(one)
    window.action("contact")
    dialog = window.page.locator("#contact-dialog")
    dialog.locator("input[name=name]").fill("Carla Contact")
    dialog.locator("button[type=submit]").click()
    window.page.wait_for_selector('#conv-name >> text="Carla Contact"')
    window.open_conversation(two)
    window.action("contact")
    dialog.locator("input[type=search]").fill("Carla")
    dialog.locator('label.choice:has-text("Carla Contact")').click()
    window.shot("contact-add-to-existing")
    dialog.locator("button[type=submit]").click()
    window.page.wait_for_selector('#conv-name >> text="Carla Contact"')
    # The merged history (the SMS conversation's messages) shows at once, without a reload.
    window.page.locator('#history >> text="save me"').wait_for(timeout=2000)
    with a.app.db.read() as s:
        from sqlalchemy import select
        contact = s.execute(select(Contact).where(Contact.display_name == "Carla Contact")).scalar_one()
        points = {p.address for p in s.execute(select(ContactPoint).where(ContactPoint.contact_id == contact.id)).scalars()}
    assert points == {"+14155553010", "+14155553011"}


def test_new_conversation_is_offered_only_on_channels_that_let_the_business_start(window):
    window.open()
    window.page.click("#new-conv")
    dialog = window.page.locator("#new-dialog")
    options = dialog.locator("select[name=channel] option").all_inner_texts()
    assert options == ["Support SMS (Fake SMS)"]  # not the WhatsApp channel
    assert "From the business number +14155550100" in dialog.inner_text()
    dialog.locator("input[name=to]").fill("+1 415 555 3012")
    dialog.locator("textarea[name=text]").fill("Hello from the shop")
    window.shot("new-conversation")
    dialog.locator("button[type=submit]").click()
    window.page.locator('#history >> text="Hello from the shop"').wait_for()
    assert window.page.inner_text("#conv-name") == "+1 415-555-3012"


def test_a_contacts_concurrent_conversations_are_each_labelled_once_with_their_channel(window):
    a = window.agent
    sms = a.conversation_of(a.inbound(a.sms, "+14155553030", "SMS: my order", name="Mer Ged"))
    wa = a.conversation_of(a.inbound(a.wa, "+14155553031", "WhatsApp: same order"))
    contact = a.inbox.save_contact(a.me.id, sms, name="Merged Customer")
    a.inbox.save_contact(a.me.id, wa, contact_id=contact.id)
    # The customer writes on both at the same time: the history switches back and forth.
    a.inbound(a.sms, "+14155553030", "SMS: any news?")
    a.inbound(a.wa, "+14155553031", "WhatsApp: hello?")
    window.open(sms)
    h = window.page.locator("#history")
    h.locator('text="WhatsApp: hello?"').wait_for()
    labels = h.locator(".divider.conversation").all_inner_texts()
    assert labels == [f"Also open #{wa} · Fake WhatsApp · started today"]  # once, not at each switch
    assert "Earlier conversation" not in h.inner_text()
    for text, channel in (("SMS: my order", "Fake SMS"), ("WhatsApp: same order", "Fake WhatsApp"),
                          ("SMS: any news?", "Fake SMS"), ("WhatsApp: hello?", "Fake WhatsApp")):
        item = h.locator(f'.item:has-text("{text}")')
        assert item.locator(".via").inner_text() == channel, text
    window.shot("merged-history-concurrent")
