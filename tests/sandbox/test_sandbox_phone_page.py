"""The customer-phone page and the admin API's own defences: message text only ever set
with textContent, a strict CSP, untrusted files served as downloads, changes only with the
X-Sandbox header, and loopback Host names only."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin

STATIC = Path(__file__).resolve().parents[2] / "tray_agent" / "sandbox" / "static"


def test_the_page_renders_message_text_as_text_only() -> None:
    js = (STATIC / "phone.js").read_text()
    assert "textContent" in js
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", js)
    html = (STATIC / "phone.html").read_text()
    assert "<script>" not in html and not re.search(r"\son[a-z]+\s*=", html, re.I)  # no inline code at all


def test_the_page_and_its_assets_are_served_with_a_strict_csp(sandbox: Sandbox) -> None:
    page = httpx.get(sandbox.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp and "unsafe-inline" not in csp
    assert httpx.get(sandbox.url + "/_sandbox/static/phone.js").headers["content-type"].startswith("text/javascript")
    assert httpx.get(sandbox.url + "/_sandbox/static/../state.py").status_code == 404


def test_the_page_posts_a_form_like_a_phone_would(sandbox: Sandbox, admin: SandboxAdmin) -> None:
    r = httpx.post(sandbox.url + "/_sandbox/customer/send", headers={"X-Sandbox": "1"},
                   data={"channel": "whatsapp", "from": "+14155550123", "text": "from the page", "name": "Pat"},
                   files={"file": ("note.txt", b"hello", "text/plain")})
    assert r.status_code == 200 and r.json()["webhook"] == "none registered"
    [m] = admin.thread("whatsapp", "+14155550123")
    assert (m["text"], m["from_customer"], m["files"][0]["name"]) == ("from the page", True, "note.txt")
    bad = httpx.post(sandbox.url + "/_sandbox/customer/send", headers={"X-Sandbox": "1"},
                     json={"channel": "sms", "from": "not a number", "text": "x"})
    assert bad.status_code == 422 and "not a phone number" in bad.json()["message"]


def test_untrusted_files_are_downloads_and_pictures_are_sandboxed(sandbox: Sandbox, admin: SandboxAdmin) -> None:
    admin.customer_sends("sms", "+14155550123", "", files=[("x.html", "text/html", b"<script>alert(1)</script>"),
                                                             ("p.png", "image/png", b"\x89PNG")])
    html, png = admin.thread("sms", "+14155550123")[0]["files"]
    r = httpx.get(sandbox.url + html["url"])
    assert r.headers["content-disposition"].startswith("attachment") and "sandbox" in r.headers["content-security-policy"]
    r = httpx.get(sandbox.url + png["url"])
    assert "content-disposition" not in r.headers and r.headers["x-content-type-options"] == "nosniff"


def test_changes_need_the_sandbox_header_and_a_loopback_host(sandbox: Sandbox) -> None:
    assert httpx.post(sandbox.url + "/_sandbox/reset").status_code == 403
    assert httpx.post(sandbox.url + "/_sandbox/customer/send", data={"channel": "sms"}).status_code == 403
    assert httpx.get(sandbox.url + "/_sandbox/info", headers={"Host": "evil.example"}).status_code == 403
    assert "auth_token" not in httpx.get(sandbox.url + "/_sandbox/info").text
    assert sandbox.creds.twilio_auth_token not in httpx.get(sandbox.url + "/_sandbox/info").text
