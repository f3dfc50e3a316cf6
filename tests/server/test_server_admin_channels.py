"""Channels from the admin API: credentials go to the server's keyring (a real keyring
back-end, in memory) or are read from a named environment variable, and are never answered
back or audited; enable, disable, routing and auto-closure where the channel's rules allow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import keyring
import pytest
from keyring.backend import KeyringBackend

from tests.server.live import Team
from tests.support import ICON
from tray_agent.channels import ChannelType
from tray_agent.core.models import Conversation
from tray_agent.core.rules import ChannelRules

SECRET = "sk_live_Zq81xWv0pLmN3bYt"


class MemoryKeyring(KeyringBackend):
    """A keyring back-end that keeps passwords in this process (the server runs in it)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.passwords.pop((service, username), None)


@contextmanager
def keyring_and_api_channel(team: Team) -> Iterator[MemoryKeyring]:
    """The keyring, and a channel type that takes an API key (and an optional webhook secret)."""
    before = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    ctype = ChannelType(name="fake-api", label="Fake API", icon_svg=ICON, factory=team.fake._factory,
                        rules=ChannelRules(business_can_start=True, auto_close_configurable=True),
                        settings={"region": "Where the account lives"},
                        secrets={"api_key": "The account's API key", "webhook_secret": "Signs webhooks"},
                        optional_secrets=frozenset({"webhook_secret"}))
    for types in (team.app.channel_types, team.inbox.channel_types):
        types["fake-api"] = ctype
    try:
        yield ring
    finally:
        for types in (team.app.channel_types, team.inbox.channel_types):
            types.pop("fake-api", None)
        keyring.set_keyring(before)


@pytest.fixture(scope="module")
def vault(team: Team) -> Iterator[MemoryKeyring]:
    with keyring_and_api_channel(team) as ring:
        yield ring


def test_a_credential_goes_to_the_keyring_and_is_never_answered_or_audited(team: Team, vault: MemoryKeyring) -> None:
    with team.http("Ada") as admin:
        types = {t["kind"]: t for t in admin.get("/sync/v1/admin/channel-types").json()}
        assert types["fake-api"]["secrets"] == {"api_key": "The account's API key", "webhook_secret": "Signs webhooks"}
        r = admin.post("/sync/v1/admin/channels", json={
            "kind": "fake-api", "name": "Billing API", "business_address": "+14155550123",
            "settings": {"region": "eu"}, "credentials": {"api_key": {"source": "keyring", "value": SECRET}}})
        assert r.status_code == 201, r.text
        listed = admin.get("/sync/v1/admin/channels").text
        audit = admin.get("/sync/v1/admin/audit", params={"action": "channel.added"}).json()
    assert vault.passwords[("tray-agent", "Billing API:api_key")] == SECRET
    creds = {c["name"]: c for c in r.json()["credentials"]}
    assert creds["api_key"]["source"] == "keyring" and creds["webhook_secret"]["source"] == "missing"
    assert creds["api_key"]["env"] == "TRAY_AGENT_SECRET_BILLING_API_API_KEY"
    assert r.json()["settings"] == {"region": "eu"}
    assert SECRET not in r.text and SECRET not in listed and SECRET not in json.dumps(audit)
    assert audit[0]["actor"] == "Ada" and audit[0]["detail"]["credentials"] == {"api_key": "keyring"}


def test_a_credential_read_from_the_environment_names_its_variable(team: Team, vault: MemoryKeyring,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with team.http("Ada") as admin:
        r = admin.post("/sync/v1/admin/channels", json={
            "kind": "fake-api", "name": "Env API", "business_address": "+14155550124",
            "credentials": {"api_key": {"source": "environment"}}})
        assert r.status_code == 201, r.text
        key = {c["name"]: c for c in r.json()["credentials"]}["api_key"]
        assert (key["source"], key["env"]) == ("missing", "TRAY_AGENT_SECRET_ENV_API_API_KEY")
        monkeypatch.setenv("TRAY_AGENT_SECRET_ENV_API_API_KEY", "from-the-unit-file")
        listed = admin.get("/sync/v1/admin/channels").json()
    key = {c["name"]: c for c in next(ch for ch in listed if ch["name"] == "Env API")["credentials"]}["api_key"]
    assert key["source"] == "environment"
    assert not any(k[1].startswith("Env API:") for k in vault.passwords)
    assert "from-the-unit-file" not in json.dumps(listed)


def test_bad_credentials_are_refused_in_one_line_and_nothing_is_half_added(team: Team, vault: MemoryKeyring,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"kind": "fake-api", "name": "Broken API", "business_address": "+14155550125"}
    with team.http("Ada") as admin:
        cases = {
            "missing": admin.post("/sync/v1/admin/channels", json=base),
            "empty value": admin.post("/sync/v1/admin/channels", json={
                **base, "credentials": {"api_key": {"source": "keyring", "value": "  "}}}),
            "unknown": admin.post("/sync/v1/admin/channels", json={
                **base, "credentials": {"api_key": {"source": "environment"}, "password": {"source": "environment"}}}),
            "no such kind": admin.post("/sync/v1/admin/channels", json={**base, "kind": "carrier-pigeon"}),
        }
        # A server without a keyring back-end says where to put the credential instead.
        keyring.set_keyring(keyring.backends.fail.Keyring())
        try:
            cases["no keyring"] = admin.post("/sync/v1/admin/channels", json={
                **base, "credentials": {"api_key": {"source": "keyring", "value": SECRET}}})
        finally:
            keyring.set_keyring(vault)
        # A name taken already: the existing channel's stored credential is left alone.
        cases["name taken"] = admin.post("/sync/v1/admin/channels", json={
            **base, "name": "Billing API", "credentials": {"api_key": {"source": "keyring", "value": "sk_other_0123456"}}})
    for what, r in cases.items():
        assert 400 <= r.status_code < 500, (what, r.text)
        body = r.json()
        assert body["error"] and body["message"] and "\n" not in body["message"], (what, body)
        assert SECRET not in r.text, what
    assert "TRAY_AGENT_SECRET_BROKEN_API_API_KEY" in cases["no keyring"].json()["message"]
    assert cases["name taken"].status_code == 409
    assert "Broken API" not in [c.name for c in team.inbox.list_channels(include_disabled=True)]
    assert vault.passwords[("tray-agent", "Billing API:api_key")] == SECRET


def test_enable_disable_route_and_auto_close_where_the_rules_allow(team: Team, vault: MemoryKeyring) -> None:
    wa = team.inbox.add_channel("fake-wa", "Support WhatsApp", "+14155550199")
    routed = team.inbox.add_queue("Routed")
    with team.http("Ada") as admin:
        off = admin.patch(f"/sync/v1/admin/channels/{wa.id}", json={"enabled": False}).json()
        assert off["enabled"] is False
        listed = {c["id"]: c for c in admin.get("/sync/v1/admin/channels").json()}
        assert listed[wa.id]["enabled"] is False  # the admin sees disabled channels too
        assert admin.patch(f"/sync/v1/admin/channels/{wa.id}", json={"enabled": True}).json()["enabled"] is True
        refused = admin.patch(f"/sync/v1/admin/channels/{wa.id}", json={"auto_close_seconds": 3600})
        assert refused.status_code == 422 and "its own rule" in refused.json()["message"]
        sms = admin.patch(f"/sync/v1/admin/channels/{team.sms.id}",
                          json={"route_queue_id": routed.id, "auto_close_seconds": 7200}).json()
        assert (sms["route_queue_id"], sms["auto_close_seconds"]) == (routed.id, 7200)
        nowhere = admin.patch(f"/sync/v1/admin/channels/{team.sms.id}", json={"route_queue_id": 99999})
        assert nowhere.status_code == 404 and nowhere.json()["error"] == "not_found"
        assert admin.patch("/sync/v1/admin/channels/99999", json={"enabled": True}).status_code == 404
        assert admin.patch(f"/sync/v1/admin/channels/{wa.id}", json={"enabled": "yes"}).status_code == 422
        audit = admin.get("/sync/v1/admin/audit", params={"action": "channel.updated"}).json()
    try:
        # The routing holds for the next customer: the conversation lands in the queue.
        cid = team.customer_says("routed?")
        with team.app.db.read() as s:
            assert s.get(Conversation, cid).queue_id == routed.id  # type: ignore[union-attr]
    finally:
        team.inbox.update_channel(team.sms.id, route_queue_id=team.queue.id, auto_close_seconds=None)
    assert audit[0]["target"] == f"channel:{team.sms.id}" and audit[0]["actor"] == "Ada"
    assert audit[0]["detail"] == {"route_queue_id": routed.id, "auto_close_seconds": 7200}
    assert {"enabled": False} in [a["detail"] for a in audit]


def test_replacing_a_credential_is_audited_without_its_value_and_an_empty_change_is_refused(
        team: Team, vault: MemoryKeyring) -> None:
    with team.http("Ada") as admin:
        made = admin.post("/sync/v1/admin/channels", json={
            "kind": "fake-api", "name": "Rotated API", "business_address": "+14155550126",
            "credentials": {"api_key": {"source": "keyring", "value": "sk_old_value_123"}}}).json()
        r = admin.patch(f"/sync/v1/admin/channels/{made['id']}",
                        json={"credentials": {"api_key": {"source": "keyring", "value": SECRET}}})
        assert r.status_code == 200, r.text
        empty = admin.patch(f"/sync/v1/admin/channels/{made['id']}", json={})
        audit = admin.get("/sync/v1/admin/audit", params={"action": "channel.updated"}).json()
    assert vault.passwords[("tray-agent", "Rotated API:api_key")] == SECRET
    assert empty.status_code == 422 and empty.json()["error"] == "invalid_input"
    assert audit[0]["target"] == f"channel:{made['id']}" and audit[0]["detail"] == {"credentials": {"api_key": "keyring"}}
    assert SECRET not in json.dumps(audit) and SECRET not in r.text
