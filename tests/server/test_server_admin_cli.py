"""The console and the admin view are one implementation: what the CLI does to queues and
roles is audited exactly as the admin API audits it, and ``server audit`` filters the log as
the admin view does (by time, agent and action)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.server.test_server_cli import run

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_queue_and_role_changes_from_the_console_are_audited_and_filtered(tmp_path: Path, postgres_db_url: str):
    home = tmp_path / "home"
    cli = ("server", "--database", postgres_db_url)
    zoe = json.loads(run(home, *cli, "agent", "add", "--name", "Zoe", "--email", "zoe@example.com", "--admin",
                         "--json").stdout)["agent"]
    yan = json.loads(run(home, *cli, "agent", "add", "--name", "Yan", "--email", "yan@example.com",
                         "--json").stdout)["agent"]
    run(home, *cli, "queue", "add", "--name", "Sales", "--member", str(yan["id"]))
    run(home, *cli, "queue", "pickup", "1", "none")
    assert run(home, *cli, "agent", "role", str(yan["id"]), "admin").stdout.strip() == "Yan is now admin."
    run(home, *cli, "agent", "role", str(yan["id"]), "agent")
    last = run(home, *cli, "agent", "role", str(zoe["id"]), "agent", check=False)
    assert last.returncode == 1 and len(last.stderr.strip().splitlines()) == 1 and "last administrator" in last.stderr
    queue_rows = json.loads(run(home, *cli, "audit", "--action", "queue.", "--json").stdout)
    assert [r["action"] for r in queue_rows] == ["queue.pickup_mode", "queue.added"]
    assert queue_rows[1]["detail"] == {"name": "Sales", "members": [yan["id"]], "pickup_mode": "auto"}
    roles = json.loads(run(home, *cli, "audit", "--action", "agent.role", "--json").stdout)
    assert [(r["target"], r["detail"]["role"], r["actor"]) for r in roles] == [
        (f"agent:{yan['id']}", "agent", "console"), (f"agent:{yan['id']}", "admin", "console")]
    # The console acts as no agent: filtering by an agent finds none of it; a future start finds nothing.
    assert json.loads(run(home, *cli, "audit", "--agent", str(zoe["id"]), "--json").stdout) == []
    assert json.loads(run(home, *cli, "audit", "--since", "2999-01-01", "--json").stdout) == []
    assert len(json.loads(run(home, *cli, "audit", "--until", "2999-01-01", "--json").stdout)) >= 6
