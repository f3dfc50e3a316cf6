"""Issue 13's end to end, as the issue names it: the provider sandbox, PostgreSQL, two
``tray-agent server`` replicas behind the real nginx (TLS, a self-signed certificate), and
three desktops as real ``tray-agent`` daemons (Alice, Bea, Carl in one queue), each with its
own home, cache and session bus with a notification server; windows are headless Chromium
on their local APIs. Alice and Bea connect through nginx; Carl straight to the replicas
(both, in turn), each through a relay that can be cut: his network going away, and "the
replica Carl is connected to" being one the test can name and kill.

The scenarios build on each other in order (one world per module, as the issue tells it)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tray_agent.desktop.notification_engine import COALESCE_SECONDS
from tests.channels.keyring_memory import installed
from tests.fixtures._util import artifacts_path_for
from tests.server.live import CONSOLE_ACTOR
from tests.server.procs import Cluster, all_events, cluster
from tests.team.e2e.team_daemons import TeamDaemon, connect_home, start_team_daemon
from tests.team.e2e.window import open_window, row, take_over_leaves_windows, write
from tests.team.proxy import Relay
from tests.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.desktop, pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (packaging/bootstrap.sh)")]

CUSTOMER = "+14155550777"
NOTE = "She paid twice <b>!</b>"


@dataclass
class World:
    team: Cluster
    desks: dict[str, TeamDaemon]
    relays: dict[str, Relay]  # Carl's line to each replica
    database: str
    pg: Any
    chromium: Any
    facts: dict[str, Any] = field(default_factory=dict)  # what one scenario leaves the next

    @property
    def carl(self) -> TeamDaemon:
        return self.desks["Carl"]

    def cut_carl(self) -> None:
        for r in self.relays.values():
            r.block()

    def restore_carl(self) -> None:
        for r in self.relays.values():
            r.unblock()

    def replica_of_carl(self) -> str:
        server = self.carl.connection()["server"]
        return next(name for name, r in self.relays.items() if r.url == server)

    def page(self, who: str, conversation_id: int | None = None) -> Any:
        return open_window(self.chromium, self.desks[who].window(conversation_id), conversation_id)


def conversation_of(d: TeamDaemon, customer: str) -> int | None:
    return next((c["id"] for c in d.inbox() if c["customer_address"] == customer and c["status"] == "open"), None)


def server_history(team: Cluster, who: str, cid: int, via: str | None = None) -> list[tuple[int, str]]:
    with team.http(who, via) as c:
        r = c.get(f"/sync/v1/conversations/{cid}/messages", params={"limit": 200})
    assert r.status_code == 200, r.text
    return [(m["id"], m["text"]) for m in r.json()["items"]]


def local_history(d: TeamDaemon, cid: int) -> list[tuple[int, str]]:
    return [(m["id"], m["text"]) for m in d.history(cid)]


def server_conversations(team: Cluster, who: str, via: str | None = None) -> set[int]:
    with team.http(who, via) as c:
        page = c.get("/sync/v1/snapshot", params={"limit": 200, "messages": 0}).json()
    assert page.get("next_after") is None
    return {c["id"] for c in page["conversations"]}


def escaped(text: str) -> str:
    """As the notifier hands a body to a server with the body-markup capability (dunst)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.fixture(scope="module")
def world(postgres_server, desktop, chromium, request: pytest.FixtureRequest) -> Iterator[World]:  # type: ignore[no-untyped-def]
    base = Path(tempfile.mkdtemp(prefix="tray-agent-e2e3-"))
    logs = artifacts_path_for(request.node)  # the daemons' output and each bus's pop-ups, kept
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    try:
        with postgres_server.fresh_database() as url, installed(), ExitStack() as stack:  # the database goes last
            team = stack.enter_context(cluster(base / "cluster", url, agents=("Alice", "Bea", "Carl")))
            assert team.nginx is not None
            relays = {name: Relay("127.0.0.1", r.port) for name, r in team.replicas.items()}
            for r in relays.values():
                stack.callback(r.stop)
            servers = {"Alice": team.nginx.url, "Bea": team.nginx.url,
                       "Carl": ",".join(relays[n].url for n in ("a", "b"))}
            desks = {}
            for who, server in servers.items():
                home = base / f"home-{who}"
                code = team.accounts.issue_code(CONSOLE_ACTOR, team.agent_ids[who])
                token = connect_home(home, server, code, who, team.nginx.cert if server == team.nginx.url else None)
                desks[who] = start_team_daemon(stack, who, home, token, desktop, logs)
            for d in desks.values():
                d.daemon.wait_ready(60)
            for d in desks.values():
                d.wait_online(60)
            yield World(team, desks, relays, url.rsplit("/", 1)[1], postgres_server, chromium)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_customer_writes_and_all_three_get_a_pop_up_on_their_bus_and_see_it(world: World) -> None:
    team, desks = world.team, world.desks
    # The customer's earlier visit: Bea took it, answered and closed it. Carl never had it
    # for long (it left his cache when Bea took it); scenario c wants it in his history.
    team.customer_sends(CUSTOMER, "my order is late")
    earlier = wait_for(lambda: conversation_of(desks["Bea"], CUSTOMER), what="the first visit on Bea's desktop")
    bea = desks["Bea"]
    assert bea.post(f"/api/conversations/{earlier}/claim").status_code == 200
    assert bea.post(f"/api/conversations/{earlier}/messages", {"text": "sorted, sorry"}).status_code == 201
    wait_for(lambda: "sorted, sorry" in team.outbound_texts(), what="Bea's answer at the provider")
    assert bea.post(f"/api/conversations/{earlier}/close").status_code == 200
    wait_for(lambda: earlier not in {c["id"] for c in world.carl.inbox()}, what="the first visit leaving Carl's cache")
    world.facts["earlier"] = earlier
    time.sleep(COALESCE_SECONDS + 0.5)  # a quiet spell: the next item pops up alone, not in a summary

    since = {who: len(d.pop_ups()) for who, d in desks.items()}
    team.customer_sends(CUSTOMER, "it is late again")
    cid = None
    for who, d in desks.items():
        n = d.wait_pop_up(since[who], "it is late again")
        assert n.summary.startswith("New conversation: "), (who, n)
        cid = wait_for(lambda d=d: conversation_of(d, CUSTOMER), what=f"the conversation in {who}'s local API")
        assert cid != earlier
        assert any(c["id"] == cid and c["last_message_preview"] == "it is late again" for c in d.inbox())
    world.facts["cid"] = cid


def test_b_bea_takes_it_over_and_it_leaves_alices_and_carls_windows_within_500_ms(world: World) -> None:
    cid = world.facts["cid"]
    windows = {who: world.page(who) for who in ("Alice", "Carl")}
    for page in windows.values():
        row(page, cid).wait_for(state="attached", timeout=10000)
    take_over_leaves_windows(windows, cid, lambda: world.desks["Bea"].post(f"/api/conversations/{cid}/claim"))


def test_c_bea_transfers_to_carl_with_a_note_his_pop_up_carries_it_and_his_cache_the_whole_history(
        world: World) -> None:
    team, carl, cid = world.team, world.carl, world.facts["cid"]
    since = len(carl.pop_ups())
    r = world.desks["Bea"].post(f"/api/conversations/{cid}/transfer",
                                {"to_agent_id": team.agent_ids["Carl"], "note": NOTE})
    assert r.status_code == 200, r.text
    n = carl.wait_pop_up(since, "She paid twice")
    assert n.summary.startswith("Transferred to you: "), n
    assert n.body == "From Bea: " + escaped(NOTE)  # text, escaped for dunst's markup
    # The whole history, the first visit included, exactly as the server holds it.
    truth = server_history(team, "Carl", cid)
    assert {"my order is late", "sorted, sorry", "it is late again"} <= {t for _, t in truth}
    wait_for(lambda: local_history(carl, cid) == truth, what="Carl's history equal to the server's")
    detail = carl.get(f"/api/conversations/{cid}")
    assert detail["assigned_agent_id"] == team.agent_ids["Carl"]
    assert world.facts["earlier"] in detail["earlier_conversation_ids"]


def test_d_carl_offline_writes_five_replies_and_back_the_customer_gets_the_five_in_order_once_each(
        world: World) -> None:
    team, carl, cid = world.team, world.carl, world.facts["cid"]
    world.cut_carl()
    wait_for(lambda: carl.connection()["state"] == "offline", timeout=60, what="Carl's desktop offline")
    texts = [f"offline reply {n}" for n in range(1, 6)]
    for text in texts:
        r = carl.post(f"/api/conversations/{cid}/messages", {"text": text})
        assert r.status_code == 201, r.text
    assert carl.connection()["pending_replies"] == 5
    assert not [t for t in team.outbound_texts() if t.startswith("offline reply")]
    world.restore_carl()
    wait_for(lambda: len([t for t in team.outbound_texts() if t.startswith("offline reply")]) >= 5, timeout=60,
             what="the five replies at the provider")
    wait_for(lambda: carl.connection()["pending"] == 0, what="Carl's outbox empty")
    time.sleep(2)  # a reply sent twice would be at the provider by now
    to_customer = [m["text"] for m in team.admin.outbound("sms") if m.get("to") == CUSTOMER]
    assert [t for t in to_customer if t.startswith("offline reply")] == texts, to_customer


def test_e_the_replica_carl_is_connected_to_is_killed_he_moves_to_the_other_and_misses_no_event(
        world: World) -> None:
    team, carl = world.team, world.carl
    carl.wait_online()
    victim = world.replica_of_carl()
    survivor = "b" if victim == "a" else "a"
    before = carl.connection()["cursor"]
    sent: list[str] = []
    stop = threading.Event()

    def customers() -> None:  # texting all along, through nginx: to whichever replica is alive
        n = 0
        while not stop.is_set():
            n += 1
            text = f"while the replica dies {n}"
            team.customer_sends(CUSTOMER if n % 2 else "+14155550888", text)
            sent.append(text)
            time.sleep(0.25)

    texting = threading.Thread(target=customers, daemon=True)
    texting.start()
    time.sleep(1)
    team.replicas[victim].kill()
    wait_for(lambda: (c := carl.connection())["state"] == "online" and c["server"] == world.relays[survivor].url,
             timeout=60, what=f"Carl's desktop on replica {survivor}")
    time.sleep(1.5)
    stop.set()
    texting.join(30)
    # Every text is on the server (by its webhook, or by the survivor's poller for one the
    # victim took down with it) before the truth is read.
    texted = {t for t in sent if int(t.rsplit(" ", 1)[1]) % 2}  # the ones into Carl's own conversation
    cid = world.facts["cid"]
    wait_for(lambda: texted <= {t for _, t in server_history(team, "Carl", cid, survivor)}, timeout=40,
             what="every text on the server")
    # The truth: every event Carl may see since before the kill, read from the survivor.
    truth = all_events(team, "Carl", before, survivor)
    assert truth
    seq = lambda: int(carl.connection()["cursor"].rsplit(":", 1)[1])  # noqa: E731
    wait_for(lambda: seq() >= truth[-1], timeout=30, what="Carl's cursor at the server's last event")
    held = server_conversations(team, "Carl", survivor)
    assert {c["id"] for c in carl.inbox()} == held
    mine = set()
    for c in held:
        history = local_history(carl, c)
        assert history == server_history(team, "Carl", c, survivor), c
        mine |= {t for _, t in history}
    assert texted and texted <= mine, texted - mine


def test_g_a_reply_refused_because_alice_took_over_shows_the_reason_on_carls_message(world: World) -> None:
    team, carl = world.team, world.carl
    customer = "+14155550999"
    team.customer_sends(customer, "who will answer?")
    cid = wait_for(lambda: conversation_of(carl, customer), what="the new conversation on Carl's desktop")
    wait_for(lambda: conversation_of(world.desks["Alice"], customer), what="the new conversation on Alice's desktop")
    page = world.page("Carl", cid)
    world.cut_carl()
    page.wait_for_selector('#connection:not([hidden]) >> text="Offline"', timeout=60000)
    write(page, "on it")
    r = world.desks["Alice"].post(f"/api/conversations/{cid}/claim")
    assert r.status_code == 200, r.text
    world.restore_carl()
    failed = page.locator('#history .item:has-text("on it")')
    failed.locator(".status-failed").wait_for(timeout=60000)
    failure = failed.locator(".failure")
    assert "Alice" in failure.locator(".reason").inner_text()
    assert failure.get_attribute("data-code") == "already_taken"
    assert failed.locator("button.retry").count() == 0
    assert "on it" not in team.outbound_texts()
    assert not page.errors  # type: ignore[attr-defined]
    page.close()


def test_f_the_database_restored_from_an_older_backup_makes_carl_resync_without_an_empty_inbox(
        world: World, tmp_path: Path) -> None:
    team, carl, pg = world.team, world.carl, world.pg
    carl.wait_online()
    cid = world.facts["cid"]
    dump = tmp_path / "backup.dump"
    where = ["-h", pg.host, "-p", str(pg.port), "-U", "postgres"]
    subprocess.run([str(pg.bindir / "pg_dump"), *where, "-Fc", "-f", str(dump), world.database],
                   check=True, capture_output=True)
    # After the backup: Carl answers, a new customer writes. The restore loses both.
    assert carl.post(f"/api/conversations/{cid}/messages", {"text": "after the backup"}).status_code == 201
    wait_for(lambda: carl.connection()["pending"] == 0, what="Carl's reply on the server")
    team.customer_sends("+14155550666", "a newcomer after the backup")
    wait_for(lambda: conversation_of(carl, "+14155550666"), what="the newcomer on Carl's desktop")
    old_epoch = carl.connection()["cursor"].split(":")[0]

    sizes: list[int] = []
    sampling = threading.Event()

    def sample() -> None:  # what Carl's window would list, all along
        while not sampling.is_set():
            sizes.append(len(carl.inbox()))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # Carl's laptop is away while the database is restored and the customer writes again:
    # the restored server gives that message an id Carl's cache holds for another one.
    world.cut_carl()
    t0 = time.monotonic()
    for r in team.replicas.values():
        r.stop()
    t1 = time.monotonic()
    pg.drop_database(world.database)
    pg.create_database(world.database)
    subprocess.run([str(pg.bindir / "pg_restore"), *where, "-d", world.database, str(dump)],
                   check=True, capture_output=True)
    t2 = time.monotonic()
    team.restart("a", "b")  # nginx counts both as failed for a while: the truth is read from a replica
    print(f"restore: replicas stopped in {t1 - t0:.1f} s, database restored in {t2 - t1:.1f} s, "
          f"replicas up in {time.monotonic() - t2:.1f} s")
    team.customer_sends(CUSTOMER, "after the restore")
    wait_for(lambda: "after the restore" in {t for _, t in server_history(team, "Carl", cid, "a")}, timeout=60,
             what="the customer's new message on the restored server")
    world.restore_carl()
    t3 = time.monotonic()
    wait_for(lambda: (c := carl.connection())["state"] == "online" and not c["cursor"].startswith(old_epoch),
             timeout=60, what="Carl's desktop on the restored database's epoch")
    print(f"restore: Carl back and resynced {time.monotonic() - t3:.1f} s after his line came back")
    wait_for(lambda: "after the restore" in {t for _, t in local_history(carl, cid)}, what="the new message on Carl's")
    sampling.set()
    sampler.join(10)
    assert sizes and min(sizes) > 0, sizes  # never an empty inbox in between
    # Rebuilt: what Carl holds is what the restored server says he may see, message for message.
    held = server_conversations(team, "Carl", "a")
    assert {c["id"] for c in carl.inbox()} == held
    for c in held:
        assert local_history(carl, c) == server_history(team, "Carl", c, "a"), c
    assert "after the backup" not in {t for _, t in local_history(carl, cid)}
