"""Do-not-disturb on a team desktop: the tray's toggle (the shell's call) makes my presence
busy on the team server, as a colleague reads it there, and its end makes me available
again; wired as the daemon wires it (its state watcher telling ``BusyWhileQuiet``)."""

from __future__ import annotations

from types import SimpleNamespace

from tray_agent.desktop.daemon import Daemon, Shell
from tray_agent.desktop.state import StateWatcher
from tests.server.live import Team
from tests.team.desktop import wait_for


def presence_of(team: Team, who: str, seen_by: str) -> str:
    with team.http(seen_by) as c:
        r = c.get("/sync/v1/agents")
    assert r.status_code == 200, r.text
    return next(str(a["presence"]) for a in r.json() if a["id"] == team.agents[who].id)


def test_the_trays_do_not_disturb_makes_me_busy_for_colleagues_and_its_end_available(
        team: Team, desktops) -> None:  # type: ignore[no-untyped-def]
    alice = desktops("Alice")
    me = alice.app.agent.id
    assert me == team.agents["Alice"].id
    wait_for(lambda: presence_of(team, "Alice", "Bea") == "available", what="Alice online and available")
    # The daemon's parts, on this desktop's App: the shell the tray menu acts through, and
    # the watcher whose changes go through Daemon._follow_dnd (tray drawing left out).
    daemon = SimpleNamespace(app=alice.app, agent_id=me)
    shell = Shell(daemon)  # type: ignore[arg-type]
    watcher = StateWatcher(alice.app, me, Daemon._follow_dnd(daemon, lambda _state: None), heartbeat=0.2)  # type: ignore[arg-type]
    watcher.start()
    try:
        shell.set_dnd(True)  # the tray's "Do not disturb"
        wait_for(lambda: presence_of(team, "Alice", "Bea") == "busy", timeout=20, what="busy as Bea sees it")
        assert team.inbox.get_agent(me).status == "busy"
        shell.set_dnd(False)
        wait_for(lambda: presence_of(team, "Alice", "Bea") == "available", timeout=20,
                 what="available again as Bea sees it")
        shell.dnd_for(60)  # "Do not disturb for 1 hour"
        wait_for(lambda: presence_of(team, "Alice", "Bea") == "busy", timeout=20, what="busy for the hour")
    finally:
        watcher.stop()
