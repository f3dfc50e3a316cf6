"""The two sides bench/team_server.py drives the replicas with: Twilio, posting signed
inbound webhooks at a steady rate from its own process, and light desktops, each an SSE
stream of the sync API read with a bare HTTP/1.1 connection (no full client per agent).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

#: Every channel's Twilio auth token (replicas read it from the environment).
TOKEN = "bench-twilio-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
#: Concurrent webhook requests (connections) the provider keeps, across the replicas.
WORKERS = 64


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- Twilio: signed inbound webhooks from a separate process ---------------------------------


@dataclass(frozen=True)
class Plan:
    urls: list[str]  # the replicas' base URLs; webhook i goes to urls[i % len(urls)]
    channels: list[tuple[int, str]]  # (channel id, business number); webhook i to channels[i % n]
    rate: float
    seconds: float
    customers: int  # distinct senders per channel
    out: str  # where the results go (JSON lines)
    prefix: str = "SMbench"
    #: httpx (an AsyncClient per replica, keep-alive), or raw: pre-built HTTP/1.1 requests
    #: on a pool of keep-alive sockets, ~100x less CPU per request on a machine it shares.
    client: str = "httpx"


def webhook(plan: Plan, i: int) -> tuple[str, str, bytes, dict[str, str], str]:
    """Webhook ``i`` as Twilio sends it: a form post signed over the URL it was given."""
    from tray_agent.sandbox.webhooks import twilio_signature

    base = plan.urls[i % len(plan.urls)]
    channel, business = plan.channels[i % len(plan.channels)]
    sid = f"{plan.prefix}{i:024d}"
    customer = f"+1415{2000000 + (i // len(plan.channels)) % plan.customers:07d}"
    path = f"/webhooks/{channel}/inbound"
    params = [("ToCountry", "US"), ("SmsMessageSid", sid), ("NumMedia", "0"), ("SmsSid", sid),
              ("SmsStatus", "received"), ("Body", f"Where is my order #{i}?"), ("To", business),
              ("NumSegments", "1"), ("MessageSid", sid), ("AccountSid", ACCOUNT_SID), ("From", customer),
              ("ApiVersion", "2010-04-01")]
    headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "TwilioProxy/1.1",
               "X-Twilio-Signature": twilio_signature(TOKEN, base + path, params)}
    return base, path, urlencode(params).encode(), headers, sid


def send_webhooks(plan: Plan) -> None:
    """The provider's process: its own event loop, httpx with keep-alive to each replica."""
    asyncio.run(_send(plan))


async def _send(plan: Plan) -> None:
    import httpx

    n = int(plan.rate * plan.seconds)
    requests = [webhook(plan, i) for i in range(n)]  # signed before the clock starts
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    clients = {u: httpx.AsyncClient(base_url=u, limits=limits, timeout=60) for u in plan.urls}
    pools: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {u: [] for u in plan.urls}
    rows: list[tuple[str, float, float, float, int]] = []

    async def post_raw(base: str, path: str, body: bytes, headers: dict[str, str]) -> int:
        host, port = base.split("//", 1)[1].rsplit(":", 1)
        head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
        request = (head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() + body
        while True:
            pooled = bool(pools[base])
            conn = pools[base].pop() if pooled else await asyncio.open_connection(host, int(port))
            reader, writer = conn
            writer.write(request)
            line = await reader.readline()
            if line or not pooled:
                break
            # The server closed this keep-alive connection while it sat idle in the pool (its
            # keep-alive timeout) before reading the request: send it again on a new one, as
            # any HTTP client does.
            writer.close()
        status = int(line.split(b" ", 2)[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        pools[base].append(conn)
        return status

    async def one(due: float, base: str, path: str, body: bytes, headers: dict[str, str], sid: str) -> None:
        sent = time.monotonic()
        try:
            if plan.client == "raw":
                status = await post_raw(base, path, body, headers)
            else:
                status = (await clients[base].post(path, content=body, headers=headers)).status_code
        except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            status = 0
        rows.append((sid, due, sent, time.monotonic(), status))

    # Open loop: each webhook is due at its time; WORKERS connections send what is due (a
    # task per webhook would pile thousands of waiters on httpx's pool when the server lags,
    # and the sender's CPU would go to that queue). Lag behind the due time is reported.
    queue: asyncio.Queue[tuple[float, str, str, bytes, dict[str, str], str] | None] = asyncio.Queue()

    async def worker() -> None:
        while (item := await queue.get()) is not None:
            await one(*item)

    workers = [asyncio.create_task(worker()) for _ in range(WORKERS)]
    cpu0 = time.process_time()
    t0 = time.monotonic() + 0.2
    for i, (base, path, body, headers, sid) in enumerate(requests):
        due = t0 + i / plan.rate
        if (delay := due - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, base, path, body, headers, sid))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    for c in clients.values():
        await c.aclose()
    with open(plan.out, "w") as f:
        json.dump({"rows": rows, "t0": t0, "t_end": max((r[3] for r in rows), default=t0),
                   "cpu": time.process_time() - cpu0}, f)


# -- the desktops: one bare SSE stream per agent ----------------------------------------------


@dataclass
class Arrivals:
    #: (message id, client index, monotonic time) per inbound message.created received.
    got: list[tuple[int, int, float]] = field(default_factory=list)
    connected: int = 0
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)


async def follow(base: str, token: str, cursor: str, index: int, arrivals: Arrivals, stop: asyncio.Event) -> None:
    """Follow one agent's events, resuming from the last id after a dropped connection."""
    host, port = base.split("//", 1)[1].rsplit(":", 1)
    first = True
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError as exc:
            arrivals.errors.append(f"connect: {exc}")
            await asyncio.sleep(1)
            continue
        try:
            writer.write((f"GET /sync/v1/events?since={cursor} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                          f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n").encode())
            status = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            if b" 200 " not in status:
                arrivals.errors.append(status.decode(errors="replace").strip())
                return
            if first:
                arrivals.connected += 1
                first = False
            cursor = await _read_events(reader, index, arrivals, cursor, stop)
        except (OSError, asyncio.IncompleteReadError) as exc:
            arrivals.errors.append(f"stream: {type(exc).__name__}")
        finally:
            writer.close()
        if not stop.is_set():
            arrivals.reconnects += 1


async def _read_events(reader: asyncio.StreamReader, index: int, arrivals: Arrivals, cursor: str,
                       stop: asyncio.Event) -> str:
    # Uvicorn sends each SSE write as one chunk, so chunk-size lines are lines of their own.
    buf = b""
    while not stop.is_set():
        data = await reader.read(65536)
        if not data:
            return cursor
        now = time.monotonic()
        *lines, buf = (buf + data).split(b"\n")
        for line in lines:
            if line.startswith(b"id: "):
                cursor = line[4:].decode()
            elif line.startswith(b"data: ") and b'"message.created"' in line:
                e = json.loads(line[6:])
                if e["data"].get("direction") == "in":
                    arrivals.got.append((e["message_id"], index, now))
    return cursor
