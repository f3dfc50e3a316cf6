"""Do-not-disturb on a team desktop: the tray's toggle (the shell's call) makes my presence
busy on the team server, as a colleague reads it there, and its end makes me available
again; wired as the daemon wires it (its state watcher telling ``BusyWhileQuiet``)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from tray_agent.desktop.daemon import Daemon, Shell
from tray_agent.desktop.state import StateWatcher
from tests.server.live import Team
from tests.team.desktop import Desktop, wait_for
from tests.team.proxy import Relay
from tests.team.test_team_inbound_files import clocked  # noqa: F401  (a desktop on the server's clock)
from tests.team.test_team_upstream import relay  # noqa: F401  (the fixture)


def presence_of(team: Team, who: str, seen_by: str) -> str:
    with team.http(seen_by) as c:
        r = c.get("/sync/v1/agents")
    assert r.status_code == 200, r.text
    return next(str(a["presence"]) for a in r.json() if a["id"] == team.agents[who].id)


def tray_of(d: Desktop) -> tuple[Shell, StateWatcher]:
    """The daemon's parts on this desktop's App: the shell the tray menu acts through, and the
    state watcher whose changes go through ``Daemon._follow_dnd`` (tray drawing left out)."""
    daemon = SimpleNamespace(app=d.app, agent_id=d.app.agent.id)
    watcher = StateWatcher(d.app, daemon.agent_id, Daemon._follow_dnd(daemon, lambda _state: None),  # type: ignore[arg-type]
                           heartbeat=0.2)
    watcher.start()
    return Shell(daemon), watcher  # type: ignore[arg-type]


def test_the_trays_do_not_disturb_makes_me_busy_for_colleagues_and_its_end_available(
        team: Team, desktops) -> None:  # type: ignore[no-untyped-def]
    alice = desktops("Alice")
    me = alice.app.agent.id
    assert me == team.agents["Alice"].id
    wait_for(lambda: presence_of(team, "Alice", "Bea") == "available", what="Alice online and available")
    shell, watcher = tray_of(alice)
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


def test_do_not_disturb_turned_on_while_offline_makes_me_busy_once_the_link_is_back(
        team: Team, desktops, relay: Relay) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    bea = desktops("Bea", relay.url)
    wait_for(lambda: presence_of(team, "Bea", "Alice") == "available", what="Bea online and available")
    shell, watcher = tray_of(bea)
    try:
        relay.block()
        wait_for(lambda: bea.connection()["state"] == "offline", what="Bea's desktop offline")
        shell.set_dnd(True)  # on the train: the tray says do-not-disturb at once
        wait_for(lambda: watcher.state is not None and watcher.state.dnd_active, what="the tray showing DND")
        relay.unblock()
        wait_for(lambda: presence_of(team, "Bea", "Alice") == "busy", timeout=30,
                 what="busy on the server once Bea's desktop is back")
        relay.block()
        wait_for(lambda: bea.connection()["state"] == "offline", what="offline again")
        shell.set_dnd(False)
        relay.unblock()
        wait_for(lambda: presence_of(team, "Bea", "Alice") == "available", timeout=30,
                 what="available on the server once back")
    finally:
        watcher.stop()


def test_do_not_disturb_for_an_hour_ends_by_itself_and_i_am_available_again(team: Team, clocked) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    carl = clocked("Carl", team.url)  # on the server's clock, which the test moves
    shell, watcher = tray_of(carl)
    try:
        shell.dnd_for(60)
        wait_for(lambda: status_of(team, "Carl") == "busy", timeout=20, what="busy for the hour")
        team.clock.advance(timedelta(minutes=61))
        wait_for(lambda: status_of(team, "Carl") == "available", timeout=20, what="available when the hour ran out")
    finally:
        watcher.stop()


def status_of(team: Team, who: str) -> str:
    """What the agent set, as the server keeps it (presence may say offline a moment after
    the clock jumped, until the desktop is seen again)."""
    with team.http("Ada") as c:
        r = c.get("/sync/v1/agents")
    assert r.status_code == 200, r.text
    return next(str(a["status"]) for a in r.json() if a["id"] == team.agents[who].id)
