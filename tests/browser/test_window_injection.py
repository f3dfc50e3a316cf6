"""Message text, customer names and file names are untrusted: a corpus of script-injection
payloads arrives as customer messages and as file names, and must render inert and
literally, with only http(s) links made clickable."""

from __future__ import annotations

import re

import pytest

from tray_agent.core.files import safe_file_name

PAYLOADS = [
    "<img src=x onerror=\"window.__xss=1;alert('img')\">",
    "<script>window.__xss=2;alert('script')</script>",
    "<svg onload=\"window.__xss=3;alert('svg')\"><circle r=5 /></svg>",
    "<svg><script>window.__xss=4</script></svg>",
    "javascript:window.__xss=5;alert('js')",
    "<a href=\"javascript:window.__xss=6\">click me</a>",
    "<iframe src=\"javascript:window.__xss=7\"></iframe>",
    "<iframe srcdoc=\"<script>parent.__xss=8</script>\"></iframe>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=9>",
    "\"><img src=x onerror=window.__xss=10>",
    "'-alert(11)-'",
    "<details open ontoggle=\"window.__xss=12\">",
    "<body onload=window.__xss=13>",
    "<input autofocus onfocus=window.__xss=14>",
    "<style>*{display:none}</style>",
    "<base href=\"javascript:/\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:window.__xss=15\">",
    "data:text/html,<script>window.__xss=16</script>",
    "https://evil.example/\"onmouseover=\"window.__xss=17",
    "{{constructor.constructor('window.__xss=18')()}}",
    "${alert(19)}",
    "\u202egnp.exe",  # right-to-left override
    "pay\u200bpal.com \u200d\u2066 zero\u2069 width",
    "שלום <b>bold</b> مرحبا",
    "&lt;script&gt;alert(20)&lt;/script&gt;",
    "<a href=\"https://ok.example\" onclick=\"window.__xss=21\">x</a>",
]

FILE_NAMES = [
    "<img src=x onerror=window.__xss=31>.png",
    "\"><svg onload=window.__xss=32>.pdf",
    "report\u202efdp.exe",
    "javascript:alert(33).txt",
    "<script>window.__xss=34</script>.txt",
]


@pytest.fixture(scope="module")
def hostile(agent):
    """A conversation full of payloads: texts, a customer name, and file names."""
    a = agent
    ids = [a.inbound(a.sms, "+14155556001", p, name="<img src=x onerror=window.__xss=40>") for p in PAYLOADS]
    for name in FILE_NAMES:
        ids.append(a.inbound(a.sms, "+14155556001", "", files=((name, "text/html", b"<script>alert(1)</script>"),)))
    return a.conversation_of(ids[0])


def _assert_inert(window) -> None:  # type: ignore[no-untyped-def]
    page = window.page
    window.wait_idle()
    page.wait_for_timeout(300)  # give any injected handler (onerror, onload, autofocus) time to run
    assert window.dialogs == []
    assert page.evaluate("() => window.__xss") is None
    injected = page.evaluate("""() => document.querySelectorAll(
        '#app script, #app iframe, #app svg, #app style, #app object, #app embed, #app details, #app input[autofocus],'
        + ' #app math, #app base, #app meta, #app body, #history img:not(.thumb), #app [onerror], #app [onload]').length""")
    assert injected == 0
    hrefs = page.eval_on_selector_all("#app a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert all(h.startswith(("https://", "http://", "/api/attachments/")) for h in hrefs), hrefs


def test_payloads_in_messages_and_names_render_as_literal_text(window, hostile):
    window.open(hostile)
    page = window.page
    page.locator('#history .text >> text="${alert(19)}"').wait_for()
    texts = page.eval_on_selector_all("#history .msg.in .text", "els => els.map(e => e.textContent)")
    for payload in PAYLOADS:
        assert payload in texts, payload
    assert page.inner_text("#conv-name") == "<img src=x onerror=window.__xss=40>"
    window.shot("payloads-in-history")
    _assert_inert(window)


def test_payloads_in_file_names_render_as_literal_text_and_download_safely(window, hostile):
    window.open(hostile)
    page = window.page
    names = page.eval_on_selector_all("#history .file-name", "els => els.map(e => e.textContent)")
    for raw in FILE_NAMES:
        # The store's safe form, shown as text, with bidi controls made visible.
        shown = re.sub("[\u200e\u200f\u202a-\u202e\u2066-\u2069]", "\ufffd", safe_file_name(raw))
        assert shown in names, (raw, names)
    link = page.locator('#history a.file-link:has-text("report")')
    response = page.evaluate("""url => fetch(url).then(r => ({disposition: r.headers.get('content-disposition'),
        type: r.headers.get('content-type'), csp: r.headers.get('content-security-policy')}))""",
                             link.get_attribute("href"))
    assert response["disposition"].startswith('attachment; filename="reportfdp.exe"')
    assert response["type"] == "application/octet-stream"  # never rendered as the HTML it claims to be
    assert "sandbox" in response["csp"]
    window.shot("payload-file-names")
    _assert_inert(window)


def test_payloads_in_the_list_and_search_results_stay_inert(window, hostile):
    window.open()
    page = window.page
    row = window.row(hostile)
    row.wait_for()
    assert row.locator(".row-name").inner_text() == "<img src=x onerror=window.__xss=40>"
    page.fill("#search", "script")
    page.locator("#search-results .hit").first.wait_for()
    texts = page.eval_on_selector_all("#search-results .hit-text", "els => els.map(e => e.textContent)")
    assert any("<script>window.__xss=2;alert('script')</script>" in t for t in texts)
    window.shot("payloads-in-search")
    _assert_inert(window)


BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def test_bidi_controls_in_a_file_name_or_customer_name_cannot_reorder_the_inbox_row(window, agent):
    """"invoice\u202efdp.exe" shows as "invoiceexe.pdf" if the override reaches the page."""
    mid = agent.inbound(agent.sms, "+14155556002", name="Eve\u202e\u2066lanruoj",
                        files=(("invoice\u202efdp.exe", "application/octet-stream", b"MZ"),))
    conv = agent.conversation_of(mid)
    window.open()
    row = window.row(conv)
    row.wait_for()
    preview = row.locator(".row-preview").evaluate("el => el.textContent")
    name = row.locator(".row-name").evaluate("el => el.textContent")
    assert preview == "invoicefdp.exe" and not BIDI.search(preview)  # the real order: an .exe
    assert name == "Evelanruoj" and not BIDI.search(name)
    assert not BIDI.search(row.locator(".row-name").get_attribute("title") or "")
    window.shot("bidi-file-name-in-row")
    window.open(conv)
    assert not BIDI.search(window.page.inner_text("#conv-name"))
    shown = window.page.eval_on_selector_all("#history .file-name", "els => els.map(e => e.textContent)")
    assert shown == ["invoice\ufffdfdp.exe"]  # the history marks where the override was
