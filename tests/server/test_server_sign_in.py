"""Agents, devices and the audit log: a one-time code becomes a device token once, tokens are
stored hashed and can be revoked, sign-in attempts are rate-limited (across replicas)."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from tray_agent.core.team_models import Device, SignInAttempt, SignInCode
from tray_agent.server.accounts import sha256
from tests.server.live import CONSOLE_ACTOR, Team, second_replica


@pytest.fixture(autouse=True)
def fresh_limits(team: Team):  # type: ignore[no-untyped-def]
    """Each test starts with no attempts counted (the module's tests share one address)."""
    for limiter in (team.accounts.by_address, team.accounts.by_code):
        limiter.forget()
    yield


def test_a_code_signs_in_one_device_once_and_its_token_names_the_agent(team: Team):
    agent, code = team.accounts.add_agent(CONSOLE_ACTOR, "Dora", "dora@example.com")
    with team.http() as c:
        r = c.post("/sync/v1/sign-in", json={"code": code.lower(), "device_name": "Dora's laptop"})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        assert r.json()["agent"]["id"] == agent.id and r.json()["device"]["name"] == "Dora's laptop"
        again = c.post("/sync/v1/sign-in", json={"code": code, "device_name": "Another"})
        assert again.status_code == 401 and again.json()["error"] == "invalid_code"
        me = c.get("/sync/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["email"] == "dora@example.com"
    # Only hashes are stored: neither the code's secret nor the token is in the database.
    with team.app.db.read() as s:
        stored = s.execute(select(Device.token_hash).where(Device.agent_id == agent.id)).scalars().all()
        secrets = s.execute(select(SignInCode.secret_hash).where(SignInCode.agent_id == agent.id)).scalars().all()
    assert stored == [sha256(token)] and token not in stored
    assert all(code.replace("-", "")[6:] not in h for h in secrets)


def test_an_expired_code_is_refused(team: Team):
    _, code = team.accounts.add_agent(CONSOLE_ACTOR, "Eve", "eve@example.com")
    team.clock.advance(timedelta(hours=25))
    try:
        with team.http() as c:
            r = c.post("/sync/v1/sign-in", json={"code": code, "device_name": "Laptop"})
        assert r.status_code == 401 and "expired" in r.json()["message"]
    finally:
        team.clock.advance(timedelta(hours=-25))


def test_a_revoked_device_is_refused_from_its_next_request_and_the_audit_log_says_who(team: Team):
    agent, code = team.accounts.add_agent(CONSOLE_ACTOR, "Finn", "finn@example.com")
    token = team.sign_in("Finn", code)
    auth = {"Authorization": f"Bearer {token}"}
    with team.http() as c:
        assert c.get("/sync/v1/me", headers=auth).status_code == 200
        device = team.accounts.list_devices(agent.id)[0]
        team.accounts.revoke_device(CONSOLE_ACTOR, device.id)
        r = c.get("/sync/v1/me", headers=auth)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert c.get("/sync/v1/me").status_code == 401
        assert c.get("/sync/v1/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    log = [(e.actor, e.action, e.target) for e in team.accounts.audit_log(20)]
    assert ("console", "device.revoked", f"device:{device.id}") in log
    assert ("console", "agent.added", f"agent:{agent.id}") in log
    assert ("Finn", "device.signed_in", f"device:{device.id}") in log


def test_guessing_codes_is_rate_limited_per_address_with_retry_after(team: Team):
    team.accounts.by_address.limit = 4
    try:
        with team.http() as c:
            statuses = [c.post("/sync/v1/sign-in", json={"code": f"AAAAAA-{i:014d}", "device_name": "x"})
                        for i in range(6)]
        assert [r.status_code for r in statuses][:4] == [401] * 4
        limited = statuses[-1]
        assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) > 0
    finally:
        team.accounts.by_address.limit = 10


def test_wrong_secrets_against_one_code_burn_it_across_replicas(team: Team):
    _, code = team.accounts.add_agent(CONSOLE_ACTOR, "Gus", "gus@example.com")
    selector = code.replace("-", "")[:6]
    with team.http() as c:
        for i in range(5):
            r = c.post("/sync/v1/sign-in", json={"code": f"{selector}{i:014d}", "device_name": "x"})
            assert r.status_code == 401
        # Per code: the sixth guess within the window is told to wait, whatever the address.
        r = c.post("/sync/v1/sign-in", json={"code": f"{selector}{9:014d}", "device_name": "x"})
        assert r.status_code == 429
    with team.app.db.read() as s:
        assert s.execute(select(SignInCode.failed_attempts).where(SignInCode.selector == selector)).scalar() == 5


def test_bad_sign_in_bodies_are_one_line_4xx(team: Team):
    with team.http() as c:
        r = c.post("/sync/v1/sign-in", json={"code": "x"})
        assert r.status_code == 422 and r.json()["error"] == "invalid_input"
        r = c.post("/sync/v1/sign-in", content=b"not json", headers={"content-type": "application/json"})
        assert r.status_code == 422


def test_revoking_a_device_ends_its_open_event_stream(team: Team, monkeypatch: pytest.MonkeyPatch):
    from tray_agent.server import stream

    monkeypatch.setattr(stream, "TOUCH_EVERY", 0.5)
    agent = team.agents["Carl"]
    token = team.sign_in("Carl", team.accounts.issue_code(CONSOLE_ACTOR, agent.id), device="Tablet")
    device = [d for d in team.accounts.list_devices(agent.id) if d.name == "Tablet"][0]
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    with team.http() as c:
        since = c.get("/sync/v1/snapshot", headers={"Authorization": f"Bearer {token}"}).json()["cursor"]
        with c.stream("GET", "/sync/v1/events", params={"since": since}, headers=headers) as r:
            assert r.status_code == 200
            team.accounts.revoke_device(CONSOLE_ACTOR, device.id)
            t0 = time.monotonic()
            for _ in r.iter_lines():
                assert time.monotonic() - t0 < 15, "the stream went on after the device was revoked"
    assert time.monotonic() - t0 < 15


def test_failed_sign_ins_from_one_address_are_counted_across_replicas_and_pruned(
        team: Team, module_db: str, tmp_path_factory: pytest.TempPathFactory):
    def guess(base: str, n: int) -> httpx.Response:
        # A new code each time (its own selector): only the per-address limit is at play.
        return httpx.post(f"{base}/sync/v1/sign-in", json={"code": f"S{n:05d}{0:014d}", "device_name": "x"}, timeout=30)

    with second_replica(team, module_db, tmp_path_factory.mktemp("replica-b") / "home") as b:
        replies = [guess(team.url if n % 2 else b.url, n) for n in range(11)]  # spread over both
        assert [r.status_code for r in replies[:10]] == [401] * 10
        assert replies[10].status_code == 429 and replies[10].json()["error"] == "rate_limited"
        assert 0 < int(replies[10].headers["Retry-After"]) <= 300
        assert guess(team.url, 11).status_code == 429 and guess(b.url, 12).status_code == 429
        # Five minutes on, the window has passed: attempts count again, and the old ones go.
        team.clock.advance(timedelta(minutes=5, seconds=1))
        try:
            assert guess(b.url, 13).status_code == 401
            with team.app.db.read() as s:
                kept = s.execute(select(SignInAttempt.at).where(SignInAttempt.key.startswith("addr:"))).scalars().all()
            assert kept == [team.clock.now()]
        finally:
            team.clock.advance(-timedelta(minutes=5, seconds=1))
