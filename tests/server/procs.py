"""Team server replicas as real processes (``tray-agent server``) on the real PostgreSQL, the
provider sandbox in its own process with a Twilio SMS channel (the real plugin) pointed at it,
and optionally the nginx example in front: what a SIGKILL or SIGSTOP of a replica is tried on.

``REPLICA_PYTHONPATH`` (environment) runs the replicas from other sources (an older checkout),
to see a regression test fail on the code it guards against.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from tray_agent.app import App
from tray_agent.config import load
from tray_agent.core.team_models import JobLease
from tray_agent.core.views import ChannelView
from tray_agent.credentials import env_name
from tray_agent.paths import resolve
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.sandbox.process import SandboxProcess
from tray_agent.server.accounts import Accounts
from tests.server.live import CONSOLE_ACTOR, wait_for
from tests.server.nginx_proc import Nginx, nginx_in_front, self_signed, shut_down, sse_messages

CHANNEL = "Team SMS"
START_TIMEOUT = 90.0


@dataclass
class Replica:
    """One ``tray-agent server`` process; its console (stderr) goes to ``log_path``."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def holder_prefix(self) -> str:
        """What its job leases' holder starts with (``run/leases.py`` names holders by pid)."""
        return f"replica-{self.pid}-"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no lease released, no stream ended, a send in flight never answered."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def freeze(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.thaw()  # a frozen process cannot handle SIGTERM
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


def start_replica(name: str, home: Path, database_url: str, port: int, public_url: str,
                  secrets: dict[str, str]) -> Replica:
    env = {**os.environ, "TRAY_AGENT_HOME": str(home), "TRAY_AGENT_SERVER_PUBLIC_URL": public_url,
           "TRAY_AGENT_LOG_LEVEL": "INFO", **secrets}
    for var in ("TRAY_AGENT_DATABASE_URL", "TRAY_AGENT_LOAD_PLUGINS", "TRAY_AGENT_SERVER_DATABASE"):
        env.pop(var, None)
    if os.environ.get("REPLICA_PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join([os.environ["REPLICA_PYTHONPATH"], env.get("PYTHONPATH", "")])
    log_path = home.parent / f"{name}.log"
    home.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tray_agent", "server", "--database", database_url,
                                 "--listen", f"127.0.0.1:{port}"], env=env, cwd=home, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log)
    replica = Replica(name, port, proc, log_path)

    def answers() -> bool:
        httpx.get(f"{replica.url}/sync/v1/me", timeout=2)
        return True
    try:
        wait_for(answers, START_TIMEOUT, every=0.2, alive=proc, retry=(httpx.TransportError,),
                 what=lambda: f"replica {name} to answer:\n{replica.log()[-3000:]}")
    except AssertionError:
        replica.stop()
        raise
    return replica


@dataclass
class Cluster:
    """Replicas ``a`` then ``b`` (``a`` holds every job when ``b`` starts), the sandbox, the
    SMS channel routed to the queue of Alice and Bea, and an App of the test's own on the
    same database (to read it and to administer, as the server's console does)."""

    app: App
    accounts: Accounts
    sandbox: SandboxProcess
    admin: SandboxAdmin
    channel: ChannelView
    public_url: str
    replicas: dict[str, Replica] = field(default_factory=dict)
    nginx: Nginx | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    agent_ids: dict[str, int] = field(default_factory=dict)
    _start: Callable[[str], Replica] | None = field(default=None, repr=False)

    def restart(self, *names: str) -> None:
        """Replicas ``names`` stopped (those still running) and started again, side by side:
        their ports, homes and database URL as before (a restored database, say)."""
        assert self._start is not None
        for name in names:
            self.replicas[name].stop()
        with ThreadPoolExecutor(len(names)) as pool:
            self.replicas.update(zip(names, pool.map(self._start, names), strict=True))

    @property
    def jobs(self) -> set[str]:
        return {"outbox", "sweeps", "auto-closure", f"poll-{self.channel.id}"}

    def holders(self) -> dict[str, str]:
        with self.app.db.read() as s:
            return {r.name: r.holder for r in s.execute(select(JobLease)).scalars()}

    def holds_every_job(self, name: str) -> bool:
        held = self.holders()
        return self.jobs <= set(held) and all(held[j].startswith(self.replicas[name].holder_prefix) for j in self.jobs)

    def http(self, who: str | None = None, via: str | None = None, **kw: Any) -> httpx.Client:
        """A client for ``who`` through nginx, or straight to replica ``via``."""
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        if via is None and self.nginx is not None:
            return self.nginx.client(headers=headers, **kw)
        base = self.replicas[via or "a"].url
        return httpx.Client(base_url=base, headers=headers, timeout=30, **kw)

    def customer_sends(self, customer: str, text: str) -> dict[str, Any]:
        """The customer texts the business: the sandbox sends the signed webhook."""
        return self.admin.customer_sends("sms", customer, text)

    def reply(self, who: str, conversation_id: int, text: str, via: str | None = None) -> dict[str, Any]:
        key = uuid.uuid4().hex
        with self.http(who, via) as c:
            for _ in range(50):  # a replica going away answers 502 now and then: the client retries its key
                r = c.post(f"/sync/v1/conversations/{conversation_id}/reply", json={"text": text},
                           headers={"Idempotency-Key": key})
                if r.status_code == 201:
                    return dict(r.json())
                assert r.status_code in (502, 503), r.text
                time.sleep(0.2)
        raise AssertionError(f"the reply {text!r} was not accepted")

    def outbound_texts(self) -> list[str]:
        return [m["text"] for m in self.admin.outbound("sms")]

    def inbound_sids(self) -> list[str]:
        return [m["id"] for m in self.admin.messages("sms") if m["direction"] == "inbound"]


@contextmanager
def cluster(tmp: Path, database_url: str, *, nginx: bool = True, b_first: bool = False,
            agents: tuple[str, ...] = ("Alice", "Bea")) -> Iterator[Cluster]:
    """Started and signed in. Without nginx the providers' webhooks go to replica ``b``
    (the public URL), so ``a`` can be frozen without them waiting on it. ``agents`` are
    the queue's members (each signed in with a device of the test's)."""
    with ExitStack() as stack:
        # Each port stays bound here until its server starts: the sandbox and the replicas
        # pick theirs meanwhile, and a port freed too early was once handed to one of them.
        held = {name: stack.enter_context(_held_port()) for name in ("a", "b", "nginx")}
        ports = {name: sock.getsockname()[1] for name, sock in held.items()}
        cert = key = None
        if nginx:
            cert, key = self_signed(tmp / "tls")
            nginx_port = ports["nginx"]
            public = f"https://127.0.0.1:{nginx_port}"
        else:
            public = f"http://127.0.0.1:{ports['b']}"
        sandbox = _sandbox(cert)
        stack.callback(sandbox.stop)
        admin = SandboxAdmin(sandbox.url)
        stack.callback(admin.close)
        paths = resolve(tmp / "console").ensure()
        cfg = load(paths, environ={})
        cfg.database.url, cfg.sandbox.mode = database_url, "off"
        app = App(paths, cfg)  # the installed plugins: the real Twilio SMS channel
        stack.callback(app.close)
        creds = sandbox.creds
        channel = app.inbox.add_channel("sms", CHANNEL, creds.sms_number, {
            "account_sid": creds.twilio_account_sid, "api_base": sandbox.url, "poll": "on"})
        accounts = Accounts(app.inbox)
        team = Cluster(app, accounts, sandbox, admin, channel, public)
        codes = {}
        for name in agents:
            agent, codes[name] = accounts.add_agent(CONSOLE_ACTOR, name, f"{name.lower()}@example.com")
            team.agent_ids[name] = agent.id
        queue = app.inbox.add_queue("Support", list(team.agent_ids.values()))
        app.inbox.update_channel(channel.id, route_queue_id=queue.id)
        admin.register_sms(creds.sms_number, f"{public}/webhooks/{channel.id}/inbound")
        secrets = {env_name(CHANNEL, "auth_token"): creds.twilio_auth_token}
        order = ("b", "a") if b_first else ("a", "b")

        def start(name: str) -> Replica:
            held[name].close()  # the replica binds it now (a restart finds it closed already)
            replica = start_replica(name, tmp / name / "home", database_url, ports[name], public, secrets)
            stack.callback(replica.stop)
            return replica
        team._start = start
        for name in order:
            team.replicas[name] = start(name)
            if name == order[0]:
                wait_for(lambda: team.holds_every_job(order[0]), timeout=30, what=f"{order[0]} holding every job")
        held["nginx"].close()
        if nginx:
            assert cert is not None and key is not None
            team.nginx = stack.enter_context(nginx_in_front(tmp / "nginx", nginx_port, cert, key,
                                                            [f"127.0.0.1:{ports['a']}", f"127.0.0.1:{ports['b']}"]))
        for name, code in codes.items():
            with team.http() as c:
                r = c.post("/sync/v1/sign-in", json={"code": code, "device_name": f"{name}'s laptop"})
            assert r.status_code == 201, r.text
            team.tokens[name] = str(r.json()["token"])
        try:
            yield team
        except BaseException:
            for replica in team.replicas.values():  # for the failure's report
                print(f"--- replica {replica.name} (pid {replica.pid}) ---\n{replica.log()[-6000:]}")
            raise


@contextmanager
def _held_port() -> Iterator[socket.socket]:
    """A loopback port bound (not listening) until closed: no one else can bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s


def _sandbox(ca: Path | None) -> SandboxProcess:
    """The sandbox's process trusts ``ca`` (nginx's certificate) for the webhooks it sends."""
    saved = os.environ.get("SSL_CERT_FILE")
    if ca is not None:
        os.environ["SSL_CERT_FILE"] = str(ca)  # read by the child's TLS context; restored at once
    try:
        return SandboxProcess().start()
    finally:
        if ca is not None:
            if saved is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = saved


class Follower:
    """A desktop's event stream as EventSource keeps it: when the stream ends or breaks it
    reconnects with ``Last-Event-ID`` — to the same base (nginx), or to the next replica in
    ``bases`` (a desktop that was connected to one replica directly)."""

    def __init__(self, team: Cluster, who: str, cursor: str, bases: list[str | None]) -> None:
        self.team, self.who, self.bases = team, who, bases
        self.last_id = cursor
        self.seqs: list[int] = []
        self.connects: list[str] = []  # the base of each connection made
        self.opened = threading.Event()
        self._closed = threading.Event()
        self._stream: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.opened.wait(30), f"{who}'s stream did not open"

    def _run(self) -> None:
        turn = 0
        while not self._closed.is_set():
            via = self.bases[turn % len(self.bases)]
            try:
                with self.team.http(self.who, via) as client:
                    self._follow(client, via or "nginx")
            except (httpx.HTTPError, OSError, ValueError):
                pass  # broken: reconnect below, as EventSource does
            if self._closed.is_set():
                return
            turn += 1 if len(self.bases) > 1 else 0
            time.sleep(0.2)

    def _follow(self, client: httpx.Client, via: str) -> None:
        headers = {"Accept": "text/event-stream", "Last-Event-ID": self.last_id}
        with client.stream("GET", "/sync/v1/events", headers=headers, timeout=httpx.Timeout(10, read=None)) as r:
            if r.status_code != 200:
                return
            self._stream = r
            if self._closed.is_set():
                return
            self.connects.append(via)
            self.opened.set()
            for fields in sse_messages(r.iter_lines()):
                if "data" in fields:
                    self.seqs.append(int(json.loads(fields["data"])["seq"]))
                if "id" in fields:
                    self.last_id = fields["id"]

    def close(self) -> None:
        self._closed.set()
        if self._stream is not None:
            shut_down(self._stream)  # not client.close() from this thread: see shut_down
        self._thread.join(10)


def all_events(team: Cluster, who: str, cursor: str, via: str) -> list[int]:
    """Every event ``who`` may see after ``cursor``, read as JSON pages (the truth to compare with)."""
    seqs: list[int] = []
    with team.http(who, via) as c:
        while True:
            r = c.get("/sync/v1/events", params={"since": cursor})
            assert r.status_code == 200, r.text
            body = r.json()
            if body["cursor"] == cursor:
                return seqs
            seqs += [e["seq"] for e in body["events"]]
            cursor = body["cursor"]
