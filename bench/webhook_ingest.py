"""Benchmark: sustained signed-webhook ingest through the agent's real HTTP endpoint.

The agent (API server, runtime, a WhatsApp or SMS channel) runs in a subprocess on
127.0.0.1; this process is the provider, firing pre-signed webhooks over keep-alive
connections. Every 200 is an acknowledgement the agent gives only after the commit, so
the send → 200 latency bounds "arrival to committed event" from above.

    python bench/webhook_ingest.py [--channel whatsapp|sms] [--requests 20000]
                                   [--seconds 30] [--concurrency 24] [--customers 2000]

Prints webhooks/s, p50/p99 latency, acknowledged vs stored, and the machine. Targets:
>= 1,000 webhooks/s, p99 <= 50 ms, acknowledged == stored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._machine import describe, percentiles  # noqa: E402

SECRET = "bench-app-secret"
TOKEN = "bench-twilio-token-0123456789abcdef"
BUSINESS = "+14155550100"
PNID = "100000000000001"


# -- the agent, in its own process ----------------------------------------------------------


def serve(home: str, port: int, kind: str) -> None:
    """The agent side: one channel of ``kind``, credentials from the environment."""
    from tray_agent.app import App
    from tray_agent.paths import resolve
    from tray_agent.run.runner import Runner
    from tray_agent.credentials import env_name

    os.environ.update({env_name("Bench", "app_secret"): SECRET, env_name("Bench", "access_token"): "x",
                       env_name("Bench", "auth_token"): TOKEN, "TRAY_AGENT_SANDBOX_MODE": "off",
                       "TRAY_AGENT_LOAD_PLUGINS": "twilio,whatsapp",
                       "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    app = App(resolve(home))
    settings = {"phone_number_id": PNID} if kind == "whatsapp" else {"account_sid": "AC" + "0" * 32, "poll": "off"}
    channel = app.inbox.add_channel(kind, "Bench", BUSINESS, settings).id
    runner = Runner(app, port=port)
    print(json.dumps({"channel": channel, "url": runner.url}), flush=True)
    app.settle()
    asyncio.run(runner.serve())


# -- the provider: pre-signed requests over keep-alive connections ----------------------------


def build_requests(kind: str, url: str, channel: int, n: int, customers: int) -> list[bytes]:
    """Complete HTTP/1.1 requests, signed as the provider signs them (not timed)."""
    host = url.split("//", 1)[1]
    out = []
    for i in range(n):
        customer = f"1415{2000000 + i % customers:07d}"
        if kind == "whatsapp":
            from tray_agent.sandbox.webhooks import meta_signature

            path = f"/webhooks/{channel}/events"
            body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
                "field": "messages", "value": {
                    "messaging_product": "whatsapp", "metadata": {"display_phone_number": BUSINESS[1:], "phone_number_id": PNID},
                    "contacts": [{"profile": {"name": f"Customer {i % customers}"}, "wa_id": customer}],
                    "messages": [{"from": customer, "id": f"wamid.bench{i:09d}", "timestamp": str(int(time.time())),
                                  "type": "text", "text": {"body": f"Where is my order #{i}?"}}]}}]}]}).encode()
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(SECRET, body)}
        else:
            from tray_agent.sandbox.webhooks import twilio_signature

            path = f"/webhooks/{channel}/inbound"
            params = [("MessageSid", f"SM{i:032d}"), ("AccountSid", "AC" + "0" * 32), ("From", "+" + customer),
                      ("To", BUSINESS), ("Body", f"Where is my order #{i}?"), ("NumMedia", "0")]
            body = urlencode(params).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded",
                       "X-Twilio-Signature": twilio_signature(TOKEN, url + path, params)}
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        out.append(head.encode() + body)
    return out


async def fire(url: str, requests: list[bytes], concurrency: int, seconds: float) -> tuple[list[float], int, int, float]:
    host, port = url.split("//", 1)[1].split(":")
    latencies: list[float] = []
    acked = failed = 0
    next_i = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal acked, failed, next_i
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while next_i < len(requests) and time.perf_counter() < deadline:
                req = requests[next_i]
                next_i += 1
                t0 = time.perf_counter()
                writer.write(req)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - t0) * 1000)
                if status_line.split(b" ", 2)[1] == b"200":
                    acked += 1
                else:
                    failed += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, acked, failed, time.perf_counter() - t0


def stored(home: Path) -> int:
    db = next(home.rglob("tray-agent.sqlite3"))
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM message WHERE direction = 'in'").fetchone()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channel", choices=["whatsapp", "sms"], default="whatsapp")
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--seconds", type=float, default=30.0, help="stop sending after this long")
    ap.add_argument("--concurrency", type=int, default=24, help="keep-alive connections")
    ap.add_argument("--customers", type=int, default=2_000)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--serve", nargs=2, metavar=("HOME", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.channel)
        return

    from tray_agent.net import free_port

    home = Path(tempfile.mkdtemp(prefix="tray-bench-"))
    port = free_port()
    agent = subprocess.Popen([sys.executable, __file__, "--channel", args.channel, "--serve", str(home), str(port)],
                             stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(agent.stdout.readline())  # type: ignore[union-attr]
        url, channel = info["url"], info["channel"]
        total = args.warmup + args.requests
        requests = build_requests(args.channel, url, channel, total, args.customers)
        for _ in range(200):  # until the server answers
            try:
                asyncio.run(fire(url, requests[:1], 1, 5))
                break
            except OSError:
                time.sleep(0.05)
        asyncio.run(fire(url, requests[1:args.warmup], min(args.concurrency, 8), 30))
        lat, acked, failed, elapsed = asyncio.run(fire(url, requests[args.warmup:], args.concurrency, args.seconds))
        time.sleep(0.2)
        in_store = stored(home) - args.warmup
    finally:
        agent.terminate()
        agent.wait(10)
    p50, p99 = percentiles(lat)
    print(f"webhook ingest ({args.channel}, signed, over HTTP on 127.0.0.1, {args.concurrency} connections)")
    print(f"  webhooks/s:   {acked / elapsed:,.0f}  ({acked:,} in {elapsed:.1f} s)")
    print(f"  latency:      p50 {p50:.1f} ms, p99 {p99:.1f} ms  (send -> 200; the 200 comes after the commit)")
    print(f"  acknowledged: {acked:,}   stored: {in_store:,}   refused: {failed:,}   "
          f"{'OK' if acked == in_store else 'MISMATCH'}")
    print(f"  {describe()}")


if __name__ == "__main__":
    main()
