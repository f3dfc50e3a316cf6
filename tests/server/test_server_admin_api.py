"""The admin API (/sync/v1/admin) over real HTTP: who may use it (an admin; an agent is told
404, no token 401), the browser session (cookie and CSRF header), and what an administrator
manages — agents and codes, queues, devices, roles and the filtered audit log."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from threading import Barrier
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.server.live import CONSOLE_ACTOR, Team
from tray_agent.channels import InboundMessage
from tray_agent.core.errors import Conflict

# Every admin endpoint, with a body that would be accepted from an administrator.
ENDPOINTS: list[tuple[str, str, Any]] = [
    ("GET", "/sync/v1/admin/session", None),
    ("DELETE", "/sync/v1/admin/session", None),
    ("GET", "/sync/v1/admin/channel-types", None),
    ("GET", "/sync/v1/admin/channels", None),
    ("POST", "/sync/v1/admin/channels", {"kind": "fake-sms", "name": "Matrix SMS", "business_address": "+14155550177"}),
    ("PATCH", "/sync/v1/admin/channels/{sms}", {"enabled": True}),
    ("DELETE", "/sync/v1/admin/channels/{spare}", None),
    ("GET", "/sync/v1/admin/queues", None),
    ("POST", "/sync/v1/admin/queues", {"name": "Matrix queue"}),
    ("PATCH", "/sync/v1/admin/queues/{queue}", {"pickup_mode": "auto"}),
    ("GET", "/sync/v1/admin/agents", None),
    ("POST", "/sync/v1/admin/agents", {"name": "Matrix", "email": "matrix@example.com"}),
    ("PATCH", "/sync/v1/admin/agents/{carl}", {"role": "agent"}),
    ("POST", "/sync/v1/admin/agents/{carl}/code", None),
    ("GET", "/sync/v1/admin/devices", None),
    ("POST", "/sync/v1/admin/devices/{device}/revoke", None),
    ("GET", "/sync/v1/admin/audit", None),
]


def _admin_session(team: Team) -> tuple[httpx.Client, dict[str, Any]]:
    """A browser-like client signed in to the admin view with a fresh code of Ada's."""
    code = team.accounts.issue_code(CONSOLE_ACTOR, team.agents["Ada"].id)
    client = httpx.Client(base_url=team.url, timeout=30)
    r = client.post("/sync/v1/admin/session", json={"code": code})
    assert r.status_code == 201, r.text
    return client, r.json()


def _spare_device(team: Team, who: str = "Carl") -> int:
    code = team.accounts.issue_code(CONSOLE_ACTOR, team.agents[who].id)
    team.sign_in(who, code, device=f"Spare {uuid.uuid4().hex[:6]}")
    return max(d.id for d in team.accounts.list_devices(team.agents[who].id))


def _path(team: Team, template: str) -> str:
    return template.format(sms=team.sms.id, queue=team.queue.id, carl=team.agents["Carl"].id,
                           device=_spare_device(team) if "{device}" in template else 0,
                           spare=team.inbox.add_channel("fake-sms", f"Spare {uuid.uuid4().hex[:6]}", "+14155550199").id
                           if "{spare}" in template else 0)


@pytest.mark.parametrize(("method", "template", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_every_admin_endpoint_is_404_for_an_agent_and_401_without_a_token(team: Team, method: str, template: str,
                                                                           body: Any) -> None:
    path = _path(team, template)
    before = len(team.accounts.audit_log(1000))
    with team.http() as anonymous:
        r = anonymous.request(method, path, json=body)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized", r.text
    with team.http("Alice") as agent:
        r = agent.request(method, path, json=body)
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "not_found" and "\n" not in r.json()["message"]
    assert len(team.accounts.audit_log(1000)) == before, "a refused request changed something"
    # The administrator is let in (the session routes need a browser session of their own).
    if template.endswith("/session"):
        client, session = _admin_session(team)
        try:
            r = client.request(method, path, json=body, headers={"X-CSRF-Token": session["csrf"]})
        finally:
            client.close()
    else:
        with team.http("Ada") as admin:
            r = admin.request(method, path, json=body)
    assert r.status_code < 300, r.text


def test_a_revoked_admin_device_is_401(team: Team) -> None:
    code = team.accounts.issue_code(CONSOLE_ACTOR, team.agents["Ada"].id)
    token = team.sign_in("Ada", code, device="Old admin laptop")
    device = max(d.id for d in team.accounts.list_devices(team.agents["Ada"].id))
    with team.http("Ada") as admin:
        assert admin.post(f"/sync/v1/admin/devices/{device}/revoke").status_code == 200
    with httpx.Client(base_url=team.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as old:
        assert old.get("/sync/v1/admin/agents").status_code == 401


def test_a_session_cookie_is_httponly_strict_and_changes_need_the_csrf_header(team: Team) -> None:
    code = team.accounts.issue_code(CONSOLE_ACTOR, team.agents["Ada"].id)
    with httpx.Client(base_url=team.url, timeout=30) as browser:
        r = browser.post("/sync/v1/admin/session", json={"code": code})
        assert r.status_code == 201, r.text
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie  # plain http here
        session = r.json()
        assert session["agent"]["name"] == "Ada" and session["device"]["name"] == "Admin view (browser)"
        assert browser.get("/sync/v1/admin/session").json()["csrf"] == session["csrf"]
        # A forged form post rides on the cookie alone: refused, nothing made.
        forged = browser.post("/sync/v1/admin/queues", json={"name": "Forged"})
        assert forged.status_code == 403 and forged.json()["error"] == "forbidden", forged.text
        assert browser.post("/sync/v1/admin/queues", json={"name": "Forged"},
                            headers={"X-CSRF-Token": "0" * 64}).status_code == 403
        assert "Forged" not in [q.name for q in team.inbox.list_queues()]
        ok = browser.post("/sync/v1/admin/queues", json={"name": "Cookie queue"},
                          headers={"X-CSRF-Token": session["csrf"]})
        assert ok.status_code == 201, ok.text
        # The cookie opens the admin API only: the sync API's actions want the header.
        assert browser.get("/sync/v1/me").status_code == 401
        # Sign-out revokes the browser's device: the cookie is worth nothing after.
        assert browser.delete("/sync/v1/admin/session", headers={"X-CSRF-Token": session["csrf"]}).status_code == 204
    device = next(d for d in team.accounts.list_devices() if d.id == session["device"]["id"])
    assert device.revoked_at is not None


def test_a_session_over_tls_gets_a_secure_cookie(team: Team) -> None:
    """Behind a TLS proxy (``[server] public_url = https://...``) the cookie is Secure."""
    cfg = team.app.config.server
    code = team.accounts.issue_code(CONSOLE_ACTOR, team.agents["Ada"].id)
    old, cfg.public_url = cfg.public_url, "https://team.example.com"
    try:
        with httpx.Client(base_url=team.url, timeout=30) as c:
            r = c.post("/sync/v1/admin/session", json={"code": code})
    finally:
        cfg.public_url = old
    assert r.status_code == 201 and "secure" in r.headers["set-cookie"].lower()


def test_an_admins_device_token_opens_a_session_of_its_own_and_an_agents_code_opens_none(team: Team) -> None:
    with httpx.Client(base_url=team.url, timeout=30) as browser:
        r = browser.post("/sync/v1/admin/session", json={"token": team.tokens["Ada"]})
        assert r.status_code == 201, r.text
        assert r.json()["device"]["name"] == "Admin view (browser)"
        assert browser.cookies  # the browser holds its own device's token, not the desktop's
        assert team.tokens["Ada"] not in r.headers["set-cookie"]
    with httpx.Client(base_url=team.url, timeout=30) as browser:
        assert browser.post("/sync/v1/admin/session", json={"token": team.tokens["Alice"]}).status_code == 404
        code = team.accounts.issue_code(CONSOLE_ACTOR, team.agents["Bea"].id)
        r = browser.post("/sync/v1/admin/session", json={"code": code})
        assert r.status_code == 404, r.text
        assert not browser.cookies
        assert browser.post("/sync/v1/admin/session", json={"code": "AAAAA-BBBBB-CCCCC-DDDDD"}).json()["error"] == \
            "invalid_code"
        bad = browser.post("/sync/v1/admin/session", json={})
        assert bad.status_code == 422 and bad.json()["error"] == "invalid_input" and "\n" not in bad.json()["message"]
    # What an agent's code opened there was closed at once.
    assert all(d.revoked_at for d in team.accounts.list_devices(team.agents["Bea"].id) if d.name == "Admin view (browser)")


def test_an_admin_adds_an_agent_whose_code_signs_a_desktop_in_and_it_is_audited(team: Team) -> None:
    with team.http("Ada") as admin:
        r = admin.post("/sync/v1/admin/agents", json={"name": "Dana <b>", "email": "dana@example.com"})
        assert r.status_code == 201, r.text
        made = r.json()
        again = admin.post("/sync/v1/admin/agents", json={"name": "Dana", "email": "dana@example.com"})
        assert again.status_code == 409 and again.json()["error"] == "conflict"
        rows = admin.get("/sync/v1/admin/audit", params={"action": "agent.added"}).json()
    assert made["agent"]["name"] == "Dana <b>" and made["agent"]["role"] == "agent"
    token = team.sign_in("Dana", made["code"], device="Dana's laptop")
    with httpx.Client(base_url=team.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as dana:
        assert dana.get("/sync/v1/me").json()["id"] == made["agent"]["id"]
    assert rows[0]["target"] == f"agent:{made['agent']['id']}" and rows[0]["actor"] == "Ada"


def test_queues_with_members_and_pickup_mode_and_roles_from_the_admin_api(team: Team) -> None:
    alice, bea, carl = (team.agents[n].id for n in ("Alice", "Bea", "Carl"))
    with team.http("Ada") as admin:
        q = admin.post("/sync/v1/admin/queues", json={"name": "Billing", "member_ids": [alice, carl],
                                                      "pickup_mode": "manual"}).json()
        assert (q["member_ids"], q["pickup_mode"]) == ([alice, carl], "manual")
        q = admin.patch(f"/sync/v1/admin/queues/{q['id']}", json={"member_ids": [bea], "pickup_mode": "none"}).json()
        assert (q["member_ids"], q["pickup_mode"]) == ([bea], "none")
        bad = admin.patch(f"/sync/v1/admin/queues/{q['id']}", json={"pickup_mode": "sometimes"})
        assert bad.status_code == 422 and bad.json()["error"] == "invalid_input"
        assert admin.patch("/sync/v1/admin/queues/99999", json={"member_ids": []}).status_code == 404
        assert admin.patch(f"/sync/v1/admin/agents/{carl}", json={"role": "admin"}).json()["role"] == "admin"
        # Carl is an administrator now: the admin API lets him in.
        with team.http("Carl") as c:
            assert c.get("/sync/v1/admin/agents").status_code == 200
        assert admin.patch(f"/sync/v1/admin/agents/{carl}", json={"role": "agent"}).json()["role"] == "agent"
        families = [r["action"] for r in admin.get("/sync/v1/admin/audit", params={"action": "queue."}).json()]
    assert {"queue.added", "queue.members", "queue.pickup_mode"} <= set(families)
    assert all(f.startswith("queue.") for f in families)


def test_a_queues_auto_assign_capacity_and_requeue_from_the_admin_api(team: Team) -> None:
    with team.http("Ada") as admin:
        q = admin.post("/sync/v1/admin/queues", json={"name": "Returns", "member_ids": [team.agents["Bea"].id]}).json()
        url = f"/sync/v1/admin/queues/{q['id']}"
        on = admin.patch(url, json={"auto_assign": True, "capacity": 4, "requeue_after_minutes": 20}).json()
        assert (on["auto_assign"], on["capacity"], on["requeue_after_minutes"]) == (True, 4, 20)
        # Left out: unchanged; null: no limit / off.
        off = admin.patch(url, json={"capacity": None}).json()
        assert (off["auto_assign"], off["capacity"], off["requeue_after_minutes"]) == (True, None, 20)
        assert admin.patch(url, json={"requeue_after_minutes": None}).json()["requeue_after_minutes"] is None
        for bad in ({"capacity": 0}, {"requeue_after_minutes": -5}, {"capacity": "lots"}, {"auto_assign": "maybe"}):
            r = admin.patch(url, json=bad)
            assert r.status_code == 422 and r.json()["error"] == "invalid_input", (bad, r.text)
        shared = admin.patch(url, json={"auto_assign": False, "pickup_mode": "none"}).json()
        r = admin.patch(url, json={"auto_assign": True})  # a shared inbox assigns nobody
        assert r.status_code == 422 and "shared inbox" in r.json()["message"] and shared["auto_assign"] is False
        policies = [r["detail"] for r in admin.get("/sync/v1/admin/audit", params={"action": "queue.policy"}).json()
                    if r["target"] == f"queue:{q['id']}"]
    assert policies[-1] == {"auto_assign": True, "capacity": 4, "requeue_after_minutes": 20}
    assert {"capacity": None} in policies and {"requeue_after_minutes": None} in policies
    assert [x for x in team.inbox.list_queues() if x.id == q["id"]][0].auto_assign is False


def test_removing_a_channel_from_the_admin_api_keeps_one_with_open_conversations_unless_forced(team: Team) -> None:
    spare = team.inbox.add_channel("fake-sms", "Spare line", "+14155550190")
    busy = team.inbox.add_channel("fake-sms", "Busy line", "+14155550191")
    team.inbox.receive(busy.id, InboundMessage(uuid.uuid4().hex, "+14155550192", "are you still there?"))
    with team.http("Ada") as admin:
        gone = admin.delete(f"/sync/v1/admin/channels/{spare.id}")
        assert gone.status_code == 200 and gone.json()["deleted"] is True, gone.text
        refused = admin.delete(f"/sync/v1/admin/channels/{busy.id}")
        assert refused.status_code == 409 and "1 open conversation" in refused.json()["message"], refused.text
        assert team.inbox.get_channel(busy.id).enabled is True
        kept = admin.delete(f"/sync/v1/admin/channels/{busy.id}", params={"force": "true"}).json()
        assert (kept["deleted"], kept["conversations"], kept["open"]) == (False, 1, 1)
        assert admin.delete("/sync/v1/admin/channels/99999").status_code == 404
        with team.http("Carl") as agent:  # not an administrator: as for anything unseen
            assert agent.delete(f"/sync/v1/admin/channels/{busy.id}").status_code == 404
        audit = admin.get("/sync/v1/admin/audit", params={"action": "channel.removed"}).json()
    assert team.inbox.get_channel(busy.id).enabled is False
    assert [(a["target"], a["actor"], a["detail"]["deleted"]) for a in audit[:2]] == [
        (f"channel:{busy.id}", "Ada", False), (f"channel:{spare.id}", "Ada", True)]


def test_the_last_administrator_cannot_be_demoted(team: Team) -> None:
    ada = team.agents["Ada"].id
    admins = [a for a in team.inbox.list_agents() if a.role == "admin"]
    with team.http("Ada") as admin:
        for other in admins:
            if other.id != ada:
                admin.patch(f"/sync/v1/admin/agents/{other.id}", json={"role": "agent"})
        r = admin.patch(f"/sync/v1/admin/agents/{ada}", json={"role": "agent"})
    assert r.status_code == 409 and "last administrator" in r.json()["message"]
    assert team.inbox.get_agent(ada).role == "admin"


def test_the_audit_log_filters_by_time_agent_and_action(team: Team) -> None:
    team.clock.advance(timedelta(minutes=5))  # the newest entry is later than every other
    with team.http("Ada") as admin:
        admin.post(f"/sync/v1/admin/agents/{team.agents['Carl'].id}/code")
        everything = admin.get("/sync/v1/admin/audit", params={"limit": 1000}).json()
        by_ada = admin.get("/sync/v1/admin/audit", params={"agent_id": team.agents["Ada"].id, "limit": 1000}).json()
        codes = admin.get("/sync/v1/admin/audit", params={"action": "code.issued", "limit": 1000}).json()
        newest = everything[0]["at"]
        until_newest = admin.get("/sync/v1/admin/audit", params={"until": newest, "limit": 1000}).json()
        since_newest = admin.get("/sync/v1/admin/audit", params={"since": newest, "limit": 1000}).json()
        bad = admin.get("/sync/v1/admin/audit", params={"since": "yesterday"})
    assert by_ada and all(r["actor"] == "Ada" for r in by_ada) and len(by_ada) < len(everything)
    assert codes and all(r["action"] == "code.issued" for r in codes)
    assert codes[0]["actor"] == "Ada" and codes[0]["target"] == f"agent:{team.agents['Carl'].id}"
    assert all(r["at"] < newest for r in until_newest) and all(r["at"] >= newest for r in since_newest)
    assert len(since_newest) == 1 and len(until_newest) + 1 == len(everything)
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_input"


def test_the_admin_page_is_served_with_the_csp_and_nothing_outside_it(team: Team) -> None:
    with team.http() as browser:
        page = browser.get("/admin/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
        assert browser.get("/admin", follow_redirects=False).headers["location"] == "/admin/"
        for shared in ("/admin/js/main.js", "/admin/admin.css", "/admin/css/app.css", "/admin/js/dom.js"):
            assert browser.get(shared).status_code == 200, shared
        # The window's other files and anything beside the admin directory are not served.
        for outside in ("/admin/js/inbox.js", "/admin/../index.html", "/admin/%2e%2e/js/main.js",
                        "/admin/..%2Fjs%2Fmain.js", "/admin/nothing.html"):
            r = browser.get(outside)
            assert r.status_code == 404 and r.json()["error"] == "not_found", outside


def test_the_admin_api_is_in_the_servers_openapi_document(team: Team) -> None:
    with team.http() as c:
        paths = c.get("/sync/v1/openapi.json").json()["paths"]
    assert {"/sync/v1/admin/session", "/sync/v1/admin/channels", "/sync/v1/admin/queues", "/sync/v1/admin/agents",
            "/sync/v1/admin/devices", "/sync/v1/admin/audit"} <= set(paths)
    assert not any(p.startswith("/admin") for p in paths)  # the page's files are not API


def test_two_admins_demoting_each_other_at_once_leave_one_admin(team: Team) -> None:
    """The last-admin rule holds under a race: the admins' rows are locked while counted."""
    for round_ in range(8):
        pair = [team.accounts.add_agent(CONSOLE_ACTOR, f"Race {round_}{x}", f"race{round_}{x}@example.com",
                                        admin=True)[0] for x in "ab"]
        for other in team.inbox.list_agents():  # exactly these two are admins
            if other.role == "admin" and other.id not in {a.id for a in pair}:
                team.inbox.set_agent_role(other.id, "agent")
        with ThreadPoolExecutor(2) as pool:
            results = sorted(pool.map(partial(_demote, team, Barrier(2)), [a.id for a in pair]))
        admins = [a for a in team.inbox.list_agents() if a.role == "admin"]
        assert results == ["demoted", "refused"] and len(admins) == 1, (round_, results, admins)
    team.inbox.set_agent_role(team.agents["Ada"].id, "admin")
    for a in team.inbox.list_agents():
        if a.role == "admin" and a.id != team.agents["Ada"].id:
            team.inbox.set_agent_role(a.id, "agent")


def _demote(team: Team, barrier: Barrier, agent_id: int) -> str:
    barrier.wait()  # both transactions count the admins at the same moment
    try:
        team.inbox.set_agent_role(agent_id, "agent")
        return "demoted"
    except Conflict:
        return "refused"
