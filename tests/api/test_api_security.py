"""The local API's defences: the per-install token on every request, loopback Host only,
same-origin only (no CORS, foreign WebSocket/stream origins refused), strict CSP."""

from __future__ import annotations

import os
import stat

import httpx
import pytest

from tray_agent.api.security import cookie_name, is_loopback_host, window_url
from tray_agent.core.errors import TrayAgentError
from tray_agent.run.runner import Runner
from tests.api.conftest import raw_request

PROTECTED = [
    ("GET", "/"), ("GET", "/ui/js/main.js"), ("GET", "/api/openapi.json"), ("GET", "/api/session"),
    ("GET", "/api/inbox"), ("GET", "/api/conversations/1"), ("GET", "/api/conversations/1/messages"),
    ("GET", "/api/search?q=x"), ("POST", "/api/conversations/1/messages"), ("POST", "/api/conversations"),
    ("POST", "/api/conversations/1/claim"), ("POST", "/api/uploads?conversation_id=1"),
    ("GET", "/api/attachments/1"), ("GET", "/api/channels"), ("GET", "/api/channels/1/icon.svg"),
    ("GET", "/api/agents"), ("GET", "/api/queues"), ("GET", "/api/contacts"), ("GET", "/api/settings"),
    ("PATCH", "/api/settings"), ("GET", "/api/events"), ("GET", "/api/events/stream"),
    ("POST", "/api/messages/1/retry"), ("POST", "/api/channels"), ("DELETE", "/api/channels/1"),
]


@pytest.mark.parametrize("method,path", PROTECTED)
def test_requests_without_the_token_are_refused(anon, method, path):
    r = anon.request(method, path)
    assert r.status_code == 401
    assert r.json() == {"error": "unauthorized",
                        "message": "Missing or wrong API token; open the window from the tray icon."}


def test_a_wrong_token_is_refused_as_bearer_and_as_cookie(agent, anon):
    assert anon.get("/api/inbox", headers={"Authorization": "Bearer " + "x" * 43}).status_code == 401
    port = agent.url.rsplit(":", 1)[1]
    assert anon.get("/api/inbox", headers={"Cookie": f"tray_agent_token_{port}={'x' * 43}"}).status_code == 401
    # The right token under another port's cookie name does not count either.
    assert anon.get("/api/inbox", headers={"Cookie": f"tray_agent_token_1={agent.token}"}).status_code == 401


def test_the_launch_url_trades_the_token_for_an_httponly_strict_cookie(agent, anon):
    r = anon.get(window_url(agent.url, agent.token, 7), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    port = agent.url.rsplit(":", 1)[1]
    assert cookie.startswith(f"tray_agent_token_{port}={agent.token};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    with httpx.Client(base_url=agent.url) as browser:
        browser.cookies.set(f"tray_agent_token_{port}", agent.token)
        page = browser.get("/")
        assert page.status_code == 200 and '<script type="module" src="/ui/js/main.js">' in page.text
        assert browser.get("/api/session").status_code == 200
    assert window_url("http://127.0.0.1:5", "a b", 7) == "http://127.0.0.1:5/?token=a%20b#/conversation/7"


def test_a_wrong_launch_token_is_refused(anon):
    r = anon.get("/?token=nope", follow_redirects=False)
    assert r.status_code == 401 and "set-cookie" not in r.headers


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "10.0.0.1", ""])
def test_a_host_that_is_not_loopback_is_refused(client, host):
    r = client.get("/api/inbox", headers={"Host": host})
    assert r.status_code == 403
    assert r.json()["message"] == "This API answers loopback hosts only."


def test_loopback_hosts_are_recognised():
    for ok in ("127.0.0.1:8080", "localhost:1", "[::1]:9", "127.5.5.5"):
        assert is_loopback_host(ok)
    for bad in ("example.com", "0.0.0.0:1", "192.168.1.2", None, "[::2]:1"):
        assert not is_loopback_host(bad)
    assert cookie_name("127.0.0.1:8080") == "tray_agent_token_8080" and cookie_name("localhost") == "tray_agent_token_80"


def test_requests_from_another_origin_are_refused_and_never_get_cors_headers(agent, client):
    for origin in ("http://evil.example", "null", f"https://{agent.url[7:]}", "http://localhost:1"):
        r = client.post("/api/conversations/1/claim", headers={"Origin": origin})
        assert r.status_code == 403, origin
        assert r.json()["message"] == "Requests from other web pages are refused."
    pre = client.options("/api/inbox", headers={"Origin": "http://evil.example",
                                                "Access-Control-Request-Method": "GET"})
    assert pre.status_code == 403
    same = client.get("/api/session", headers={"Origin": agent.url})
    assert same.status_code == 200
    assert not any(h.lower().startswith("access-control-") for h in (*pre.headers, *same.headers))


def test_the_event_stream_refuses_a_foreign_origin(client):
    r = client.get("/api/events/stream", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403


def test_a_websocket_handshake_from_a_foreign_origin_is_refused(agent):
    host = agent.url[7:]
    status, _, body = raw_request(agent, (
        f"GET /api/events/stream HTTP/1.1\nHost: {host}\nUpgrade: websocket\nConnection: Upgrade\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n"
        f"Origin: http://evil.example\nAuthorization: Bearer {agent.token}"))
    assert status == 403 and b"Requests from other web pages are refused." in body


def test_every_answer_carries_the_strict_csp_and_nosniff(client, anon):
    for r in (client.get("/"), client.get("/api/inbox"), client.get("/ui/css/app.css"), anon.get("/api/inbox"),
              client.get("/api/conversations/999999")):
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
        assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"


def test_webhooks_and_file_links_are_the_only_paths_without_the_token(anon):
    assert anon.post("/webhooks/999/inbound").status_code == 404
    assert anon.get("/files/" + "a" * 30 + "/x.txt").status_code == 404


def test_the_token_file_is_readable_only_by_the_user(agent):
    mode = stat.S_IMODE(os.stat(agent.app.paths.token_file).st_mode)
    assert mode == 0o600
    assert agent.app.paths.token_file.read_text().strip() == agent.token


def test_the_server_only_binds_to_loopback(agent):
    with pytest.raises(TrayAgentError, match="only listens on loopback"):
        Runner(agent.app, host="0.0.0.0")


def test_the_window_files_cannot_be_escaped(client):
    for path in ("/ui/../tray_agent/app.py", "/ui/%2e%2e/pyproject.toml", "/ui/js/nope.js", "/ui/"):
        assert client.get(path).status_code == 404
