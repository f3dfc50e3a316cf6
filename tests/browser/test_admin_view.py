"""The team server's admin view in Chromium, used as an administrator would: sign in with a
one-time code, add an agent and read their code, add a queue with members, revoke a device,
read the audit log. Names are shown as text, errors as one line; the page breaks no CSP rule."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.live import CONSOLE_ACTOR, Team, team_server, wait_for
from tests.server.test_server_admin_channels import keyring_and_api_channel
from tray_agent.channels import InboundMessage
from tray_agent.server.administration import Administration

pytestmark = pytest.mark.postgres
HOSTILE = 'Eve <img src=x onerror="document.title=1">'


@pytest.fixture(scope="module")
def team(postgres_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("admin-view") / "home"
    with postgres_server.fresh_database() as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAY_AGENT_HOME", str(home))
        for var in ("TRAY_AGENT_DATABASE_URL", "TRAY_AGENT_LOAD_PLUGINS"):
            mp.delenv(var, raising=False)
        with team_server(home, url) as t:
            yield t


@pytest.fixture
def admin_page(page, team: Team, artifacts_dir: Path):  # type: ignore[no-untyped-def]
    """The admin view, signed in as Ada with a fresh one-time code typed into the form."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("console", lambda m: m.type == "error" and "Refused to" in m.text and errors.append(m.text))
    page.set_viewport_size({"width": 1200, "height": 900})
    page.context.clear_cookies()  # a session of an earlier test would open the view at once
    page.goto(f"{team.url}/admin/")
    page.wait_for_selector("#sign-in:not([hidden])")
    page.fill("#sign-in-secret", team.accounts.issue_code(CONSOLE_ACTOR, team.agents["Ada"].id).lower())
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#tab-agents:not([hidden]) tr[data-agent]")
    assert page.inner_text("#whoami") == "Signed in as Ada"
    page.screenshot(path=str(artifacts_dir / "signed-in.png"))
    yield page
    assert not errors, f"the admin view reported errors: {errors}"


def _tab(page, name: str, ready: str) -> None:  # type: ignore[no-untyped-def]
    page.click(f'.tabs a[data-tab="{name}"]')
    page.wait_for_selector(f"#tab-{name}:not([hidden]) {ready}")


def test_an_admin_adds_an_agent_and_reads_their_one_time_code(admin_page, team: Team, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    page.fill("#add-agent input[name=name]", HOSTILE)
    page.fill("#add-agent input[name=email]", "eve@example.com")
    page.click("#add-agent button[type=submit]")
    page.wait_for_selector("#new-code-value")
    code = page.inner_text("#new-code-value")
    page.screenshot(path=str(artifacts_dir / "agent-code.png"))
    eve = next(a for a in team.inbox.list_agents() if a.email == "eve@example.com")
    row = page.locator(f'tr[data-agent="{eve.id}"]')
    assert row.locator("td").first.inner_text() == HOSTILE  # the name as text, not markup
    assert page.locator("#tab-agents img").count() == 0 and page.title() != "1"
    # The code shown is one the desktop can sign in with.
    with httpx.Client(base_url=team.url, timeout=30) as c:
        r = c.post("/sync/v1/sign-in", json={"code": code, "device_name": "Eve's laptop"})
    assert r.status_code == 201 and r.json()["agent"]["id"] == eve.id, r.text
    # The same e-mail again: the server's one-line refusal is shown in the view.
    page.fill("#add-agent input[name=name]", "Eve again")
    page.fill("#add-agent input[name=email]", "eve@example.com")
    page.click("#add-agent button[type=submit]")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == "An agent with the e-mail eve@example.com exists already."
    page.screenshot(path=str(artifacts_dir / "agent-error.png"))


def test_an_admin_adds_a_queue_with_members_and_a_pickup_mode(admin_page, team: Team, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    _tab(page, "queues", "#add-queue")
    page.fill("#add-queue input[name=name]", "Night shift")
    page.select_option("#add-queue select[name=pickup_mode]", "manual")
    members = page.locator('#add-queue [role=group]')
    members.get_by_label("Bea").check()
    members.get_by_label("Carl").check()
    page.click("#add-queue button[type=submit]")
    queue = _wait_for_queue(team, "Night shift")
    row = page.locator(f'tr[data-queue="{queue.id}"]')
    row.wait_for()
    assert sorted(queue.member_ids) == sorted([team.agents["Bea"].id, team.agents["Carl"].id])
    assert queue.pickup_mode == "manual"
    assert "Bea, Carl" in row.inner_text()
    # Then Alice joins and the queue becomes a shared inbox.
    _idle(page)
    row.get_by_label("Alice").check()
    row.locator('[data-action="members"]').click()
    _idle(page)
    assert "Alice, Bea, Carl" in row.locator("p.hint").inner_text()
    row.locator("select").select_option("none")
    _idle(page)
    assert _queue(team, "Night shift").pickup_mode == "none"
    assert team.agents["Alice"].id in _queue(team, "Night shift").member_ids
    page.screenshot(path=str(artifacts_dir / "queues.png"))


def test_an_admin_sets_a_queues_auto_assign_capacity_and_requeue(admin_page, team: Team, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    queue = team.inbox.add_queue("Weekend", [team.agents["Bea"].id])
    shared = team.inbox.add_queue("Everyone", [team.agents["Bea"].id], pickup_mode="none")
    _tab(page, "queues", f'tr[data-queue="{queue.id}"]')
    row = page.locator(f'tr[data-queue="{queue.id}"]')
    assert "no auto-assign; no re-queue" in row.locator("p.policy").inner_text()
    row.locator("input[name=auto_assign]").check()
    row.locator("input[name=capacity]").fill("3")
    row.locator("input[name=requeue_after_minutes]").fill("15")
    row.locator('[data-action="assignment"]').click()
    wait_for(lambda: (q := _queue(team, "Weekend")) and (q.auto_assign, q.capacity, q.requeue_after_minutes) == (True, 3, 15),
             what="the assignment saved")
    # The list drawn again from the server's answer (a locator finds the new row).
    page.locator(f'tr[data-queue="{queue.id}"] p.policy', has_text="up to 3 open each").wait_for()
    assert "re-queue after 15 min" in row.locator("p.policy").inner_text()
    assert row.locator("input[name=capacity]").input_value() == "3"
    page.screenshot(path=str(artifacts_dir / "queue-assignment.png"))
    # An empty capacity is "no limit", as `server queue set --capacity off`.
    _idle(page)
    row.locator("input[name=capacity]").fill("")
    row.locator('[data-action="assignment"]').click()
    wait_for(lambda: _queue(team, "Weekend").capacity is None, what="no limit saved")
    assert _queue(team, "Weekend").requeue_after_minutes == 15
    # A shared inbox assigns nobody: the server's one line is shown.
    _idle(page)
    other = page.locator(f'tr[data-queue="{shared.id}"]')
    other.locator("input[name=auto_assign]").check()
    other.locator('[data-action="assignment"]').click()
    page.wait_for_selector("#error:not([hidden])")
    assert "shared inbox" in page.inner_text("#error")
    assert _queue(team, "Everyone").auto_assign is False
    audit = [a for a in Administration(team.accounts).audit(action="queue.policy") if a.target == f"queue:{queue.id}"]
    assert [(a.actor, a.detail) for a in audit] == [
        ("Ada", {"auto_assign": True, "capacity": None, "requeue_after_minutes": 15}),
        ("Ada", {"auto_assign": True, "capacity": 3, "requeue_after_minutes": 15})]


def test_an_admin_removes_a_channel_and_one_with_open_conversations_is_asked_again(admin_page, team: Team) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    busy = team.inbox.add_channel("fake-sms", "Old hotline", "+14155550193")
    team.inbox.receive(busy.id, InboundMessage(uuid.uuid4().hex, "+14155550194", "hello?"))
    _tab(page, "channels", f'tr[data-channel="{busy.id}"]')
    asked: list[str] = []
    page.on("dialog", lambda d: (asked.append(d.message), d.accept()))
    page.click(f'tr[data-channel="{busy.id}"] [data-action="remove"]')
    page.locator(f'tr[data-channel="{busy.id}"] td.state-off').wait_for()
    assert len(asked) == 2 and "1 open conversation" in asked[1]
    assert team.inbox.get_channel(busy.id).enabled is False  # kept: its conversation stays readable


def test_an_admin_revokes_a_device_and_its_token_stops_working(admin_page, team: Team, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    code = team.accounts.issue_code(CONSOLE_ACTOR, team.agents["Carl"].id)
    token = team.sign_in("Carl", code, device="Carl's stolen phone")
    device = next(d for d in team.accounts.list_devices(team.agents["Carl"].id) if d.name == "Carl's stolen phone")
    _tab(page, "devices", f'tr[data-device="{device.id}"]')
    page.once("dialog", lambda d: d.accept())
    page.click(f'tr[data-device="{device.id}"] [data-action="revoke"]')
    page.locator(f'tr[data-device="{device.id}"] td.state-off').wait_for()
    assert page.locator(f'tr[data-device="{device.id}"] [data-action="revoke"]').is_disabled()
    with httpx.Client(base_url=team.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as stolen:
        assert stolen.get("/sync/v1/me").status_code == 401
    page.screenshot(path=str(artifacts_dir / "devices.png"))


def test_the_audit_log_shows_the_admins_actions_and_filters_them(admin_page, team: Team, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    team.inbox.add_queue("Audited")  # not through the admin: not in the log
    with team.http("Ada") as admin:
        admin.post("/sync/v1/admin/queues", json={"name": "Audited too"})
    _tab(page, "audit", "tr[data-audit]")
    text = page.inner_text("#tab-audit table")
    assert "device.signed_in" in text and "code.issued" in text
    page.select_option("#audit-filters select[name=action]", "queue.")
    page.select_option("#audit-filters select[name=agent_id]", str(team.agents["Ada"].id))
    page.click("#audit-filters button[type=submit]")
    page.wait_for_function("() => [...document.querySelectorAll('#tab-audit tr[data-audit] td:nth-child(3)')]"
                           ".every(td => td.textContent.startsWith('queue.'))")
    rows = page.locator("#tab-audit tr[data-audit]")
    assert rows.count() >= 1
    assert all(rows.nth(i).locator("td").nth(1).inner_text() == "Ada" for i in range(rows.count()))
    assert "Audited too" in page.inner_text("#tab-audit table")
    # From a day after everything happened: nothing matches.
    page.fill("#audit-filters input[name=since]", "2026-03-11T00:00")
    page.click("#audit-filters button[type=submit]")
    page.wait_for_selector("#tab-audit p.empty")
    page.screenshot(path=str(artifacts_dir / "audit.png"))


def test_an_admin_disables_a_channel_and_routes_it_to_a_queue(admin_page, team: Team, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    sms = team.sms
    _tab(page, "channels", f'tr[data-channel="{sms.id}"]')
    row = page.locator(f'tr[data-channel="{sms.id}"]')
    row.locator("select").select_option(f"agent:{team.agents['Bea'].id}")
    _idle(page)  # the change saved and the list drawn again
    assert team.inbox.get_channel(sms.id).route_agent_id == team.agents["Bea"].id
    row.locator("input[type=number]").fill("90")
    row.locator('[data-action="auto-close"]').click()
    _idle(page)
    assert team.inbox.get_channel(sms.id).auto_close_seconds == 5400
    assert row.locator("input[type=number]").input_value() == "90"
    row.locator('[data-action="enable"]').click()
    page.locator(f'tr[data-channel="{sms.id}"] td.state-off').wait_for()
    assert team.inbox.get_channel(sms.id).enabled is False
    page.screenshot(path=str(artifacts_dir / "channels.png"))
    team.inbox.update_channel(sms.id, enabled=True, route_agent_id=None, route_queue_id=team.queue.id,
                              auto_close_seconds=None)


def test_an_admin_adds_a_channel_whose_credential_goes_to_the_keyring(admin_page, team: Team,  # type: ignore[no-untyped-def]
                                                                     artifacts_dir: Path) -> None:
    page = admin_page
    with keyring_and_api_channel(team) as ring:
        _tab(page, "channels", "#add-channel")
        page.select_option("#add-channel select[name=kind]", "fake-api")
        page.fill("#add-channel input[name=name]", "Billing API")
        page.fill("#add-channel input[name=business_address]", "+14155550123")
        page.select_option("#add-channel select[name=route]", f"queue:{team.queue.id}")
        page.fill('#add-channel [aria-label="api_key value"]', "sk_live_from_the_browser")
        # The optional webhook secret comes from the environment: the view names the variable.
        page.select_option('#add-channel [aria-label="webhook_secret: where from"]', "environment")
        assert "TRAY_AGENT_SECRET_BILLING_API_WEBHOOK_SECRET" in page.inner_text("#add-channel")
        page.click("#add-channel button[type=submit]")
        ch = wait_for(lambda: next((c for c in team.inbox.list_channels() if c.name == "Billing API"), None))
        row = page.locator(f'tr[data-channel="{ch.id}"]')
        row.wait_for()
        assert ring.passwords[("tray-agent", "Billing API:api_key")] == "sk_live_from_the_browser"
        assert ch.route_queue_id == team.queue.id
        text = row.inner_text()
        assert "api_key: keyring" in text and "webhook_secret: missing" in text
        assert "sk_live_from_the_browser" not in page.content()
        page.screenshot(path=str(artifacts_dir / "channel-added.png"))


def test_a_revoked_session_goes_back_to_the_sign_in(admin_page, team: Team) -> None:  # type: ignore[no-untyped-def]
    page = admin_page
    browser = max((d for d in team.accounts.list_devices(team.agents["Ada"].id) if d.name == "Admin view (browser)"),
                  key=lambda d: d.id)
    team.accounts.revoke_device(CONSOLE_ACTOR, browser.id)
    page.click('.tabs a[data-tab="devices"]')  # the next request finds the session ended
    page.wait_for_selector("#sign-in:not([hidden])")
    assert page.locator("#admin").is_hidden()


def test_a_page_without_a_session_asks_to_sign_in_and_a_wrong_code_says_why(page, team: Team) -> None:  # type: ignore[no-untyped-def]
    page.context.clear_cookies()
    page.goto(f"{team.url}/admin/")
    page.wait_for_selector("#sign-in:not([hidden])")
    assert page.locator("#admin").is_hidden()
    page.fill("#sign-in-secret", "AAAAA-BBBBB-CCCCC-DDDDD")
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#error:not([hidden])")
    assert "not valid" in page.inner_text("#error")
    assert page.locator("#admin").is_hidden()


def _idle(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until the page has no request in flight (it is aria-busy while one is)."""
    page.wait_for_selector("body:not([aria-busy])", state="attached")


def _queue(team: Team, name: str):  # type: ignore[no-untyped-def]
    return next((q for q in team.inbox.list_queues() if q.name == name), None)


def _wait_for_queue(team: Team, name: str):  # type: ignore[no-untyped-def]
    return wait_for(lambda: _queue(team, name), what=f"the queue {name}")
