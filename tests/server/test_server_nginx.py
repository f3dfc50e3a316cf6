"""packaging/server/nginx.conf run by a real nginx in front of two replicas on one PostgreSQL:
sign-in, snapshot, the SSE stream, webhooks with the client's address, a stopped replica.
And the systemd unit next to it, checked by systemd-analyze."""

from __future__ import annotations

import json
import queue
import shutil
import sys
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tray_agent.net import free_port
from tests.server.live import CONSOLE_ACTOR, Replica, Team, second_replica
from tests.server.nginx_proc import CLIENT_ADDRESS, SERVER_DIR, Nginx, nginx_in_front, self_signed, shut_down, sse_messages

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (packaging/bootstrap.sh)")

SMS_SETTINGS = {"webhook": "record"}  # the SMS channel serves /webhooks/{id}/inbound (tests/support.py)


@pytest.fixture(scope="module")
def replica_b(team: Team, module_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    with second_replica(team, module_db, tmp_path_factory.mktemp("replica-b") / "home") as b:
        yield b


@pytest.fixture(scope="module")
def nginx(team: Team, replica_b: Replica, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    prefix = tmp_path_factory.mktemp("nginx")
    cert, key = self_signed(prefix)
    upstreams = [s.url.removeprefix("http://") for s in (team.thread.server, replica_b.server)]
    with nginx_in_front(prefix, free_port("127.0.0.1"), cert, key, upstreams) as proxy:
        yield proxy


class SseReader:
    """An EventSource through nginx: (id, event, data) in ``events``, ``ended`` once the
    server ends the stream; ``last_id`` is what a reconnect sends as Last-Event-ID."""

    def __init__(self, client: httpx.Client, cursor: str, *, last_event_id: bool = False) -> None:
        self.client, self.cursor, self.resume = client, cursor, last_event_id  # the reader's own client
        self.events: queue.Queue[tuple[str, str, dict]] = queue.Queue()
        self.ended = threading.Event()
        self.opened = threading.Event()
        self.last_id = cursor
        self.error: BaseException | None = None
        self._stream: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.opened.wait(30), f"the stream did not open: {self.error!r}"

    def _run(self) -> None:
        headers = {"Accept": "text/event-stream"}
        params = {}
        if self.resume:
            headers["Last-Event-ID"] = self.cursor
        else:
            params["since"] = self.cursor
        try:
            with self.client, self.client.stream("GET", "/sync/v1/events", params=params, headers=headers,
                                                 timeout=httpx.Timeout(30, read=None)) as r:
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
                self._stream = r
                self.opened.set()
                for fields in sse_messages(r.iter_lines()):
                    if "id" in fields:
                        self.last_id = fields["id"]
                    if "data" in fields:
                        self.events.put((fields["id"], fields.get("event", ""), json.loads(fields["data"])))
        except BaseException as exc:  # seen by the test as a stream that never opened or ended
            self.error = exc
        finally:
            self.opened.set()
            self.ended.set()

    def close(self) -> None:
        if self._stream is not None and not self.ended.is_set():
            shut_down(self._stream)  # not client.close() from this thread: see shut_down
        assert self.ended.wait(10), "the stream's reader did not stop"
        self._thread.join(10)

    def inbound_within(self, seconds: float, count: int) -> list[int]:
        """The conversations of the first ``count`` inbound messages created on this stream."""
        convs: list[int] = []
        deadline = time.monotonic() + seconds
        while len(convs) < count and (left := deadline - time.monotonic()) > 0:
            try:
                _, kind, data = self.events.get(timeout=left)
            except queue.Empty:
                break
            if kind == "message.created" and data["data"].get("direction") == "in":
                convs.append(data["conversation_id"])
        return convs


def cursor_of(client: httpx.Client) -> str:
    r = client.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0})
    assert r.status_code == 200, r.text
    return str(r.json()["cursor"])


def open_connections(replica: Replica | Team) -> int:
    return len(replica.thread.server.server.server_state.connections)


def test_sign_in_and_snapshot_through_nginx_see_the_client_not_the_proxy(team: Team, nginx: Nginx):
    agent, code = team.accounts.add_agent(CONSOLE_ACTOR, f"Dora {uuid.uuid4().hex[:4]}", f"{uuid.uuid4().hex[:8]}@example.com")
    with nginx.http() as c:
        r = c.post("/sync/v1/sign-in", json={"code": code, "device_name": "Behind nginx"},
                   headers={"X-Forwarded-For": "203.0.113.9"})  # forged: nginx replaces it
    assert r.status_code == 201, r.text
    device = r.json()["device"]["id"]
    with nginx.http() as c:
        c.headers["Authorization"] = f"Bearer {r.json()['token']}"
        assert c.get("/sync/v1/me").json()["id"] == agent.id
        assert cursor_of(c)
    [signed_in] = [a for a in team.accounts.audit_log(50) if a.target == f"device:{device}"]
    assert signed_in.detail["source"] == CLIENT_ADDRESS  # what the sign-in rate limit counts


def test_nginx_keeps_its_connections_to_the_replicas_open(team: Team, replica_b: Replica, nginx: Nginx):
    with nginx.http(team, "Bea") as c:
        for _ in range(6):
            assert c.get("/sync/v1/me").status_code == 200
    time.sleep(0.3)
    assert open_connections(team) >= 1 and open_connections(replica_b) >= 1  # HTTP/1.1 keep-alive upstream


def test_an_event_committed_via_one_replica_reaches_sse_streams_through_nginx_at_once(team: Team, nginx: Nginx):
    with nginx.http(team, "Bea") as c:
        since = cursor_of(c)
        streams = [SseReader(nginx.http(team, "Bea"), since) for _ in range(2)]  # round robin: one on each replica
        time.sleep(0.5)
        t0 = time.monotonic()
        conv = team.customer_says("through nginx")  # committed through replica A's App
        got = [s.inbound_within(10, 1) for s in streams]
        took = time.monotonic() - t0
        [s.close() for s in streams]
    assert got == [[conv], [conv]]
    assert took < 5, f"{took:.1f} s: buffered on the way"


def test_a_webhook_through_nginx_reaches_a_replica_with_the_callers_address(team: Team, replica_b: Replica,
                                                                           nginx: Nginx):
    before = [len(f.adapters[team.sms.id].webhooks) for f in (team.fake, replica_b.fake)]
    with nginx.http() as c:
        for _ in range(2):  # round robin: one to each replica
            r = c.post(f"/webhooks/{team.sms.id}/inbound", data={"Body": "hi"},
                       headers={"X-Forwarded-For": "203.0.113.9"})
            assert r.status_code == 204, r.text
    calls = [f.adapters[team.sms.id].webhooks[n:] for f, n in zip((team.fake, replica_b.fake), before, strict=True)]
    assert [len(c) for c in calls] == [1, 1]
    for [(client, headers)] in calls:
        assert client == CLIENT_ADDRESS
        assert headers["x-forwarded-proto"] == "https" and headers["x-forwarded-for"] == CLIENT_ADDRESS


def test_with_one_replica_stopped_nginx_serves_from_the_other_and_a_stream_resumes(team: Team, replica_b: Replica,
                                                                                  nginx: Nginx):
    """Last in this module: it stops replica B."""
    with nginx.http(team, "Bea") as c:
        since = cursor_of(c)
        streams = [SseReader(nginx.http(team, "Bea"), since) for _ in range(2)]  # one on each replica
        time.sleep(0.5)
        first = team.customer_says("before the stop")
        got = [s.inbound_within(10, 1) for s in streams]
        assert got == [[first]] * 2, ([s.error for s in streams], nginx.logs()[-1500:])
        replica_b.thread.stop()
        assert sum(s.ended.wait(10) for s in streams) == 1, nginx.logs()
        [gone] = [s for s in streams if s.ended.is_set()]
        [kept] = [s for s in streams if not s.ended.is_set()]
        assert gone.error is None, gone.error  # ended by the server, not broken
        convs = [team.customer_says("while B is down") for _ in range(2)]
        for _ in range(6):  # each would have been B's turn half of the time
            assert c.get("/sync/v1/me").status_code == 200
            convs.append(team.customer_says("claim me"))
            r = c.post(f"/sync/v1/conversations/{convs[-1]}/claim", headers={"Idempotency-Key": uuid.uuid4().hex})
            assert r.status_code == 200, r.text
        back = SseReader(nginx.http(team, "Bea"), gone.last_id, last_event_id=True)  # what EventSource does on its retry
        assert back.inbound_within(15, 8) == convs
        assert kept.inbound_within(15, 8) == convs
        [s.close() for s in (kept, back)]
    assert "no live upstreams" not in nginx.error_log()


def test_the_systemd_unit_verifies(tmp_path: Path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (package systemd): the unit cannot be checked here")
    # The one change: ExecStart at this environment's tray-agent, since verify checks it exists.
    exe = shutil.which("tray-agent") or str(Path(sys.executable).with_name("tray-agent"))
    unit = (SERVER_DIR / "tray-agent-server.service").read_text()
    assert unit.count("/usr/local/bin/tray-agent") == 1
    copy = tmp_path / "tray-agent-server.service"
    copy.write_text(unit.replace("/usr/local/bin/tray-agent", exe))
    r = subprocess.run([tool, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr  # warnings (unknown keys) count too
