"""Channels with icons and rules, channel types, colleagues with presence, queues,
contacts, the agent's settings, and setting the inbox up (channels, agents, queues)."""

from __future__ import annotations

import pytest

from tests.support import ICON


def test_channels_come_with_their_rules_and_an_icon_url(agent, client):
    chans = {c["name"]: c for c in client.get("/api/channels").json()}
    sms, wa = chans["Support SMS"], chans["Support WhatsApp"]
    assert sms["icon_url"] == f"/api/channels/{agent.sms.id}/icon.svg" and sms["rules"]["business_can_start"] is True
    assert wa["rules"]["business_can_start"] is False and wa["rules"]["reply_window_seconds"] == 86400
    assert client.get(f"/api/channels/{agent.wa.id}").json()["label"] == "Fake WhatsApp"
    assert client.get("/api/channels/999").status_code == 404


def test_icons_are_served_as_inert_svg_images(agent, client):
    for path in (f"/api/channels/{agent.sms.id}/icon.svg", "/api/channel-types/fake-wa/icon.svg"):
        r = client.get(path)
        assert r.status_code == 200 and r.text == ICON
        assert r.headers["content-type"] == "image/svg+xml"
        assert "sandbox" in r.headers["content-security-policy"] and "script" not in r.headers["content-security-policy"]
    assert client.get("/api/channels/999/icon.svg").status_code == 404
    assert client.get("/api/channel-types/nope/icon.svg").status_code == 404
    kinds = {t["name"]: t for t in client.get("/api/channel-types").json()}
    assert kinds["fake-sms"]["icon_url"] == "/api/channel-types/fake-sms/icon.svg"


def test_colleagues_are_listed_with_presence(agent, client):
    agent.inbox.touch_agent(agent.bea.id)
    people = {a["name"]: a for a in client.get("/api/agents").json()}
    assert people["Bea Colleague"]["online"] is True
    assert client.get("/api/queues").json()[0] == {"id": agent.queue.id, "name": "Sales",
                                                   "member_ids": [agent.me.id, agent.bea.id], "pickup_mode": "auto",
                                                   # beyond Linkus, off by default
                                                   "auto_assign": False, "capacity": None,
                                                   "requeue_after_minutes": None}


def test_settings_read_and_change(agent, client):
    s = client.get("/api/settings").json()
    assert s["popup"] is True and s["dnd_schedule"] == {"enabled": False, "start": "22:00", "end": "08:00"}
    patched = client.patch("/api/settings", json={"sound": False, "dnd_until": "2026-03-10T10:00:00+00:00",
                                                  "dnd_schedule": {"enabled": True, "start": "21:00", "end": "07:00"},
                                                  "last_conversation_id": 3}).json()
    assert patched["sound"] is False and patched["dnd_schedule"]["start"] == "21:00"
    assert patched["last_conversation_id"] == 3 and patched["dnd_until"] == "2026-03-10T10:00:00+00:00"
    assert client.get("/api/settings").json() == patched
    client.patch("/api/settings", json={"sound": True, "dnd_until": None,
                                        "dnd_schedule": {"enabled": False, "start": "22:00", "end": "08:00"}})


@pytest.mark.parametrize("patch,message", [
    ({"volume": 3}, "volume: Extra inputs are not permitted"),
    ({"popup": "yes"}, "popup: Input should be a valid boolean"),
    ({"dnd_until": "soon"}, "dnd_until must be an ISO date and time."),
    ({"dnd_schedule": {"start": "25:99"}}, "dnd_schedule.start must be a time like 22:00."),
    ({"dnd_schedule": {"every": "day"}}, "dnd_schedule.every: Extra inputs are not permitted"),
])
def test_bad_settings_are_422(client, patch, message):
    r = client.patch("/api/settings", json=patch)
    assert r.status_code == 422 and r.json()["message"] == message


def test_setting_up_channels_agents_and_queues(agent, client):
    ch = client.post("/api/channels", json={"kind": "fake-sms", "name": "Second line", "business_address": "+14155550110"})
    assert ch.status_code == 201 and ch.json()["icon_url"].endswith("/icon.svg")
    cid = ch.json()["id"]
    dup = client.post("/api/channels", json={"kind": "fake-sms", "name": "Second line", "business_address": "+14155550110"})
    assert dup.status_code == 409
    unknown = client.post("/api/channels", json={"kind": "pigeon", "name": "P", "business_address": "x"})
    assert unknown.status_code == 422 and unknown.json()["message"].startswith("There is no channel type 'pigeon'")
    assert client.patch(f"/api/channels/{cid}", json={"auto_close_seconds": 3600}).json()["auto_close_seconds"] == 3600
    wa_rule = client.patch(f"/api/channels/{agent.wa.id}", json={"auto_close_seconds": 60})
    assert wa_rule.status_code == 422
    assert client.delete(f"/api/channels/{cid}").status_code == 204
    assert client.get(f"/api/channels/{cid}").status_code == 404
    assert client.patch("/api/channels/999", json={"enabled": False}).status_code == 404
    person = client.post("/api/agents", json={"name": "Cy", "email": "cy@example.com"})
    assert person.status_code == 201
    assert client.post("/api/agents", json={"name": "Cy 2", "email": "cy@example.com"}).status_code == 409
    q = client.post("/api/queues", json={"name": "Returns", "member_ids": [agent.me.id]}).json()
    members = client.put(f"/api/queues/{q['id']}/members", json={"member_ids": [person.json()["id"]]}).json()
    assert members["member_ids"] == [person.json()["id"]]
    assert client.put("/api/queues/999/members", json={"member_ids": []}).status_code == 404
    assert client.post("/api/queues", json={"name": "Returns"}).status_code == 409


def test_the_desktop_routes_say_there_is_no_shell_outside_the_tray_daemon(client):
    # Under `tray-agent serve` (and here) the runner carries no desktop shell.
    for method, path in (("GET", "/api/desktop/status"), ("POST", "/api/desktop/open")):
        r = client.request(method, path, json={} if method == "POST" else None)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "conflict"
        assert "without the desktop shell" in r.json()["message"]
