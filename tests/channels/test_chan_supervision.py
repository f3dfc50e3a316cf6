"""No background task dies silently: a poller whose passes raise (the provider failing) is
recorded, shown by the API and `doctor --json`, run again with backoff, and seen to recover."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from click.testing import CliRunner

from tray_agent.cli import cli
from tray_agent.paths import Paths
from tray_agent.credentials import env_name
from tests.channels.live import Live, wait_for

POLLED = "Polled SMS"


def tasks(live: Live) -> dict[str, dict]:  # type: ignore[type-arg]
    r = httpx.get(f"{live.url}/api/tasks", headers={"Authorization": f"Bearer {live.server.token}"})
    assert r.status_code == 200, r.text
    return {t["name"]: t for t in r.json()["tasks"]}


def doctor_tasks(home: Paths) -> dict[str, dict]:  # type: ignore[type-arg]
    r = CliRunner().invoke(cli, ["--home", str(home.data.parent), "doctor", "--json"])
    assert r.exit_code == 0, r.output
    return {t["name"]: t for t in json.loads(r.output)["tasks"]}


def test_a_failing_poller_is_restarted_with_backoff_and_shown_until_it_recovers(
        start_live: Callable[[], Live], home: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    live = start_live()
    c = live.sandbox.creds
    live.app.inbox.add_channel("sms", POLLED, c.sms_number, {
        "account_sid": c.twilio_account_sid, "api_base": live.sandbox.url, "poll": "on", "timeout_seconds": 3})
    monkeypatch.setenv(env_name(POLLED, "auth_token"), c.twilio_auth_token)
    live.server.stop()
    live.admin.fault(provider="twilio", status=500, method="GET", path="/Messages.json", times=3)

    again = start_live()
    name = f"poll-{POLLED}"
    failing = wait_for(lambda: (t := tasks(again).get(name)) and t["consecutive_failures"] >= 2 and t,
                       timeout=10, what="the poller to fail twice")  # so it was started again after a failure
    assert failing["failing"] is True and "internal server error" in failing["last_error"], failing
    assert httpx.get(f"{again.url}/api/tasks", headers={"Authorization": f"Bearer {again.server.token}"}
                     ).json()["failing"] >= 1
    seen = doctor_tasks(home)[name]  # another process, reading what the agent recorded
    assert seen["failing"] is True and seen["consecutive_failures"] >= 2
    assert "internal server error" in seen["last_error"]
    text = CliRunner().invoke(cli, ["--home", str(home.data.parent), "doctor"]).output
    assert f"task {name}: FAILING" in text and "retrying" in text

    recovered = wait_for(lambda: (t := tasks(again).get(name)) and not t["failing"] and t,
                         timeout=20, what="the poller to recover")
    assert recovered["failures"] == 3
    assert doctor_tasks(home)[name]["failing"] is False
