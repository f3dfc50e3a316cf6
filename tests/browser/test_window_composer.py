"""The composer: text with emoji, files by picker and by drag-and-drop with a progress
bar, files refused before upload when over the channel's limits, clickable links, and
files shown as expired once the retention rule deleted them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tray_agent.core.models import Attachment, Message
from tests.api.live import PNG


def _uploads(page) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    page.on("request", lambda r: "/api/uploads" in r.url and seen.append(r.url))
    return seen


def test_reply_with_text_and_an_emoji(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155554001", "hello", name="Emo Ji"))
    window.open(conv)
    page = window.page
    page.fill("#composer-text", "Thanks ")
    page.click("#emoji-btn")
    page.locator("#emoji-panel").wait_for()
    window.shot("emoji-picker")
    page.click('#emoji-panel button[data-emoji="👍"]')
    assert page.input_value("#composer-text") == "Thanks 👍"
    page.press("#composer-text", "Enter")
    page.locator('#history .msg.out >> text="Thanks 👍"').wait_for()
    assert page.input_value("#composer-text") == ""
    assert a.inbox.history(a.me.id, conv).items[-1].text == "Thanks 👍"


def test_a_file_from_the_picker_uploads_with_a_progress_bar_then_sends(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155554002", "send the invoice", name="Pick Er"))
    window.open(conv)
    page = window.page
    # Slow the upload down (2 MB/s) so the progress bar can be seen moving.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                   "uploadThroughput": 2_000_000})
    try:
        page.set_input_files("#file-input", files=[{"name": "invoice 2026.pdf", "mimeType": "application/pdf",
                                                    "buffer": b"%PDF-1.4 " + b"x" * 3_000_000}])
        page.wait_for_function("() => { const p = document.querySelector('#pending progress');"
                               " return p && p.value > 0 && p.value < 1 }", timeout=15000)
        window.shot("upload-progress")
        page.locator('#pending [data-state="ready"]').wait_for(timeout=20000)
    finally:
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                       "uploadThroughput": -1})
    page.fill("#composer-text", "Here it is")
    page.click("#send")
    item = page.locator('#history .item:has-text("Here it is")')
    item.locator('a.file-link:has-text("invoice 2026.pdf")').wait_for()
    href = item.locator("a.file-link").get_attribute("href")
    body = page.evaluate("url => fetch(url).then(r => r.arrayBuffer()).then(b => b.byteLength)", href)
    assert body == 3_000_009
    window.shot("sent-with-file")


def test_a_file_dropped_on_the_conversation_is_attached(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155554003", "drop it", name="Drop Per"))
    window.open(conv)
    page = window.page
    page.evaluate("""() => {
        const dt = new DataTransfer();
        dt.items.add(new File(["dropped contents"], "notes.txt", {type: "text/plain"}));
        const zone = document.querySelector('#conversation-pane');
        for (const type of ["dragenter", "dragover"])
          zone.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""")
    assert page.is_visible("#drop-overlay")
    window.shot("drop-overlay")
    page.evaluate("""() => {
        const dt = new DataTransfer();
        dt.items.add(new File(["dropped contents"], "notes.txt", {type: "text/plain"}));
        document.querySelector('#conversation-pane')
          .dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""")
    page.locator('#pending [data-state="ready"]').wait_for()
    assert page.is_hidden("#drop-overlay")
    page.click("#send")
    page.locator('#history a.file-link:has-text("notes.txt")').wait_for()


def test_files_over_the_channel_limits_are_refused_before_any_upload(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.wa, "+14155554004", "big files?", name="Big Files"))
    window.open(conv)
    page = window.page
    uploads = _uploads(page)
    # Over the product's 100 MB: refused in the window, nothing is sent.
    page.evaluate("""() => {
        const input = document.querySelector('#file-input');
        const dt = new DataTransfer();
        dt.items.add(new File([new ArrayBuffer(101_000_000)], "huge.zip", {type: "application/zip"}));
        input.files = dt.files;
        input.dispatchEvent(new Event('change'));
    }""")
    assert "huge.zip is 101 MB; Fake WhatsApp takes files up to 100 MB. It was not uploaded." in window.toast()
    window.shot("oversize-refused")
    # Over WhatsApp's native 5 MB for images, which it cannot send as a link.
    page.evaluate("""() => {
        const input = document.querySelector('#file-input');
        const dt = new DataTransfer();
        dt.items.add(new File([new ArrayBuffer(6_000_000)], "photo.png", {type: "image/png"}));
        input.files = dt.files;
        input.dispatchEvent(new Event('change'));
    }""")
    page.wait_for_function("() => document.querySelector('#toast').innerText.includes('photo.png')")
    assert "Fake WhatsApp takes image/png files up to 5.0 MB" in window.toast()
    assert page.locator("#pending li").count() == 0
    assert uploads == []


def test_links_in_messages_are_clickable_and_open_outside_the_window(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155554005", "Track it at https://example.com/t?id=42. Thanks!",
                                       name="Link Er"))
    window.open(conv)
    link = window.page.locator("#history .msg.in a")
    assert link.count() == 1
    assert link.get_attribute("href") == "https://example.com/t?id=42"
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in link.get_attribute("rel")
    assert window.page.locator("#history .msg.in .text").inner_text() == "Track it at https://example.com/t?id=42. Thanks!"


def test_images_show_a_thumbnail_and_expired_files_say_so(window):
    a = window.agent
    conv = a.conversation_of(a.inbound(a.sms, "+14155554006", "a picture", name="Pic Ture",
                                       files=(("shot.png", "image/png", PNG),)))
    window.open(conv)
    thumb = window.page.locator("#history img.thumb")
    thumb.wait_for()
    # The thumbnail loads after it is attached (lazily, from the local API): wait for the decoded image.
    window.page.wait_for_function("img => img.complete && img.naturalWidth === 1", arg=thumb.element_handle())
    a.inbox.expire_files(now=a.clock.now() + timedelta(hours=25))
    window.page.locator('#history .file.expired:has-text("shot.png")').wait_for()
    assert "file expired" in window.page.inner_text("#history .file.expired")
    assert window.page.locator("#history img.thumb").count() == 0
    window.shot("expired-file")
    with a.app.db.read() as s:
        att = s.execute(select(Attachment).join(Message, Message.id == Attachment.message_id)
                        .where(Message.conversation_id == conv)).scalar_one()
    assert att.expired
