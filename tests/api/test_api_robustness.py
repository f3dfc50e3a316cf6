"""Input the API must refuse cleanly: nulls and wrong types in bodies (422, nothing
committed), ids beyond 64 bits (404/422), and the answers for what goes wrong anyway: an
unexpected error is the JSON shape and the keep-alive connection still works after it."""

from __future__ import annotations

import logging
import re
import time

import pytest

from tray_agent.api.routes.files import STALL_SECONDS
from tests.api.conftest import raw_request

TOO_BIG = 2**63  # one past the largest id SQLite and PostgreSQL store


def _error(r) -> str:  # type: ignore[no-untyped-def]
    body = r.json()
    assert set(body) >= {"error", "message"} and "\n" not in body["message"], body
    return body["error"]


@pytest.mark.parametrize("patch", [
    {"settings": None}, {"enabled": None}, {"business_address": None}, {"enabled": "yes"}, {"enabled": 1},
    {"route_agent_id": True}, {"route_queue_id": "1"}, {"auto_close_seconds": TOO_BIG}, {"auto_close_seconds": 0},
    {"settings": []}, {"route_agent_id": TOO_BIG},
])
def test_a_channel_patch_with_null_or_a_wrong_type_is_422_and_changes_nothing(agent, client, patch):
    before = client.get(f"/api/channels/{agent.sms.id}").json()
    r = client.patch(f"/api/channels/{agent.sms.id}", json=patch)
    assert r.status_code == 422 and _error(r) == "invalid_input"
    assert client.get(f"/api/channels/{agent.sms.id}").json() == before
    assert client.get("/api/channels").status_code == 200


@pytest.mark.parametrize("patch", [
    {"dnd_schedule": None}, {"popup": None}, {"sound": "true"}, {"dnd_schedule": {"start": None}},
    {"dnd_schedule": {"enabled": 1}}, {"last_conversation_id": True}, {"last_conversation_id": TOO_BIG},
])
def test_a_settings_patch_with_null_or_a_wrong_type_is_422_and_changes_nothing(client, patch):
    before = client.get("/api/settings").json()
    r = client.patch("/api/settings", json=patch)
    assert r.status_code == 422 and _error(r) == "invalid_input"
    assert client.get("/api/settings").json() == before


def test_null_still_clears_what_may_be_cleared(agent, client):
    r = client.patch(f"/api/channels/{agent.wa.id}", json={"route_queue_id": agent.queue.id})
    assert r.json()["route_queue_id"] == agent.queue.id
    assert client.patch(f"/api/channels/{agent.wa.id}", json={"route_queue_id": None}).json()["route_queue_id"] is None
    assert client.patch("/api/settings", json={"dnd_until": None}).status_code == 200


def _id_paths(client) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    doc = client.get("/api/openapi.json").json()
    return [(method, path) for path, ops in doc["paths"].items() if "{" in path for method in ops
            if re.search(r"\{\w+_id\}", path)]


def test_every_id_in_a_path_beyond_64_bits_is_404_or_422(client):
    paths = _id_paths(client)
    assert len(paths) > 15
    for method, path in paths:
        url = re.sub(r"\{\w+_id\}", str(TOO_BIG), path)
        r = client.request(method, url, json={} if method in ("post", "put", "patch") else None,
                           headers={"X-File-Name": "a.txt"})
        assert r.status_code in (404, 422), (method, url, r.status_code, r.text)
        _error(r)


@pytest.mark.parametrize("url", [
    "/api/inbox?channel_id={big}", "/api/events?after={big}", "/api/search?q=a&before={big}",
    "/api/conversations/1/messages?before={big}", "/api/inbox?channel_id=-{big}",
])
def test_ids_beyond_64_bits_in_the_query_are_422(client, url):
    r = client.get(url.format(big=TOO_BIG))
    assert r.status_code == 422 and _error(r) == "invalid_input"


def test_ids_beyond_64_bits_in_a_body_are_422(agent, client):
    conv = agent.conversation_of(agent.inbound(agent.sms, "+14155557001", "hi"))
    for url, body in [(f"/api/conversations/{conv}/transfer", {"to_agent_id": TOO_BIG}),
                      ("/api/conversations", {"channel_id": TOO_BIG, "customer_address": "+14155557002", "text": "x"}),
                      (f"/api/conversations/{conv}/contact", {"contact_id": TOO_BIG}),
                      ("/api/queues", {"name": "Huge", "member_ids": [TOO_BIG]})]:
        r = client.post(url, json=body)
        assert r.status_code == 422 and _error(r) == "invalid_input", (url, r.text)


def test_a_last_event_id_beyond_64_bits_is_422(client):
    r = client.get("/api/events/stream", headers={"Last-Event-ID": str(TOO_BIG)})
    assert r.status_code == 422 and _error(r) == "invalid_input"


def test_an_unexpected_error_is_json_logged_and_the_same_connection_answers_next(agent, client, monkeypatch, caplog):
    def broken(*_a, **_k):  # type: ignore[no-untyped-def]
        raise RuntimeError("the queue table went away")

    monkeypatch.setattr(agent.app.inbox, "list_queues", broken)
    with caplog.at_level(logging.ERROR, logger="tray_agent.api"):
        r = client.get("/api/queues")
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json()["error"] == "internal" and "queue table" not in r.json()["message"]
    assert r.headers["x-content-type-options"] == "nosniff"  # the Guard's headers too
    logged = [rec for rec in caplog.records if rec.name == "tray_agent.api" and rec.exc_info]
    assert logged and "GET /api/queues" in logged[-1].getMessage()
    # The same keep-alive connection carries the next request.
    assert client.get("/api/agents").status_code == 200
    assert client.get("/api/session").status_code == 200


def test_options_and_405_list_every_method_of_the_path(agent, client):
    r = client.options("/api/channels")
    assert r.status_code == 204 and set(r.headers["allow"].split(", ")) >= {"GET", "POST", "OPTIONS"}
    r = client.put(f"/api/channels/{agent.sms.id}")
    assert r.status_code == 405 and _error(r) == "method_not_allowed"
    assert set(r.headers["allow"].split(", ")) >= {"GET", "PATCH", "DELETE"}


def test_transfer_requires_exactly_one_target_and_strict_ints(agent, client):
    conv = agent.conversation_of(agent.inbound(agent.sms, "+14155557003", "hi"))
    for body in ({}, {"note": "x"}, {"to_queue_id": True}, {"to_agent_id": "2"}, {"to_agent_id": None}):
        r = client.post(f"/api/conversations/{conv}/transfer", json=body)
        assert r.status_code == 422 and _error(r) == "invalid_input", (body, r.text)
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]["TransferBody"]
    assert {"required": ["to_agent_id"]} in schema["oneOf"] and {"required": ["to_queue_id"]} in schema["oneOf"]
    r = client.post(f"/api/conversations/{conv}/transfer", json={"to_queue_id": agent.queue.id})
    assert r.status_code == 200 and r.json()["queue_id"] == agent.queue.id


def test_the_openapi_document_declares_the_token_and_the_error_answers(client):
    doc = client.get("/api/openapi.json").json()
    assert doc["components"]["securitySchemes"]["token"] == {**doc["components"]["securitySchemes"]["token"],
                                                            "type": "http", "scheme": "bearer"}
    assert doc["security"] == [{"token": []}]
    error = {"$ref": "#/components/schemas/Error"}
    reply = doc["paths"]["/api/conversations/{conversation_id}/messages"]["post"]["responses"]
    for code in ("401", "404", "409", "422"):
        assert reply[code]["content"]["application/json"]["schema"] == error, code
    search = doc["paths"]["/api/search"]["get"]
    q = next(p for p in search["parameters"] if p["name"] == "q")
    assert q["schema"]["minLength"] == 1
    upload = doc["paths"]["/api/uploads"]["post"]
    assert upload["requestBody"]["content"]["application/octet-stream"]["schema"]["format"] == "binary"
    assert {p["name"].lower() for p in upload["parameters"]} & {"content-length", "content-type"} == set()
    assert upload["responses"]["413"]["content"]["application/json"]["schema"] == error


def test_an_upload_shorter_than_its_content_length_fails_fast(agent):
    host = agent.url[7:]
    started = time.monotonic()
    status, _, body = raw_request(agent, (
        f"POST /api/uploads?channel_id={agent.sms.id} HTTP/1.1\nHost: {host}\n"
        f"Authorization: Bearer {agent.token}\nX-File-Name: a.txt\nContent-Type: text/plain\nContent-Length: 1000"),
        b"only twenty bytes!!!")
    assert status == 400 and b"Content-Length" in body
    assert time.monotonic() - started < STALL_SECONDS + 5


def test_text_with_nul_characters_is_refused_at_the_boundary_for_every_store(agent, client):
    """PostgreSQL text cannot hold NUL: a team server would answer 500; every store refuses alike."""
    conv = agent.conversation_of(agent.inbound(agent.sms, "+14155557004", "hi"))
    before = len(client.get(f"/api/conversations/{conv}/messages").json()["items"])
    for url, body in [(f"/api/conversations/{conv}/messages", {"text": "a\x00b"}),
                      (f"/api/conversations/{conv}/contact", {"name": "\x00"}),
                      (f"/api/channels/{agent.sms.id}", {"settings": {"k": "v\x00"}})]:
        r = client.request("PATCH" if "channels" in url else "POST", url, json=body)
        assert r.status_code == 422 and "NUL" in r.json()["message"], (url, r.text)
    assert len(client.get(f"/api/conversations/{conv}/messages").json()["items"]) == before
    assert client.get("/api/contacts", params={"q": "a\x00"}).status_code == 422


def test_a_channel_whose_settings_an_older_version_nulled_still_lists(agent, client):
    from tray_agent.core.models import Channel

    ch = agent.inbox.add_channel("fake-sms", "Nulled by 0.x", "+14155550177")
    with agent.app.db.write() as s:
        s.get(Channel, ch.id).settings = None  # what PATCH {"settings": null} committed before
    try:
        r = client.get("/api/channels")
        assert r.status_code == 200 and next(c for c in r.json() if c["id"] == ch.id)["settings"] == {}
    finally:
        agent.inbox.remove_channel(ch.id)


def test_an_error_outside_the_routes_says_connection_close_and_the_client_goes_on(agent, client, monkeypatch):
    from tray_agent.api import security

    calls = {"n": 0}
    real = security.is_loopback_host

    def breaks_once(host):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the guard itself failed")
        return real(host)

    monkeypatch.setattr(security, "is_loopback_host", breaks_once)
    r = client.get("/api/agents")
    assert r.status_code == 500 and r.json()["error"] == "internal"
    assert r.headers["connection"] == "close"  # the server drops this one: the client is told
    assert client.get("/api/agents").status_code == 200
