"""Benchmark: what oversized webhook bodies cost the agent. Sixteen 20 MB bodies at once,
unsigned, at the WhatsApp and SMS endpoints: once with a Content-Length (refused before
reading) and once chunked (cut at the endpoint's limit while streaming).

    python bench/webhook_bodies.py [--channel whatsapp|sms] [--size 20000000] [--concurrency 16]

The agent runs in a subprocess (as in webhook_ingest.py); prints the answers, the time,
and the agent's resident memory before and at its peak (VmHWM), with the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._machine import describe  # noqa: E402
from bench.webhook_ingest import serve  # noqa: E402

CHUNK = 64 * 1024


def memory_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


async def one(host: str, port: int, path: str, size: int, chunked: bool) -> str:
    reader, writer = await asyncio.open_connection(host, port)
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                 f"{length}\r\n\r\n".encode())
    answer = asyncio.ensure_future(reader.readline())
    sent = 0
    try:
        while sent < size and not answer.done():
            block = b"x" * min(CHUNK, size - sent)
            writer.write((f"{len(block):x}\r\n".encode() + block + b"\r\n") if chunked else block)
            await writer.drain()
            sent += len(block)
        if not answer.done() and chunked:
            writer.write(b"0\r\n\r\n")
        line = await asyncio.wait_for(answer, 30)
    except (TimeoutError, OSError):
        # Refused mid-upload: the answer may have arrived before the reset.
        line = answer.result() if answer.done() and answer.exception() is None else b""
    finally:
        if not answer.done():
            answer.cancel()
        writer.close()
    return line.decode(errors="replace").strip()[:40] or "(connection reset before an answer was read)"


async def burst(host: str, port: int, path: str, size: int, n: int, chunked: bool) -> Counter[str]:
    return Counter(await asyncio.gather(*(one(host, port, path, size, chunked) for _ in range(n))))


def wait_listening(port: int, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channel", choices=["whatsapp", "sms"], default="whatsapp")
    ap.add_argument("--size", type=int, default=20_000_000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()

    from tray_agent.net import free_port

    home = Path(tempfile.mkdtemp(prefix="tray-bench-"))
    port = free_port()
    code = f"import sys; sys.argv=['x']; from bench.webhook_ingest import serve; serve({str(home)!r}, {port}, {args.channel!r})"
    agent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             cwd=str(Path(__file__).resolve().parents[1]))
    try:
        info = json.loads(agent.stdout.readline())  # type: ignore[union-attr]
        path = f"/webhooks/{info['channel']}/{'events' if args.channel == 'whatsapp' else 'inbound'}"
        wait_listening(port)
        time.sleep(0.5)
        before = memory_mb(agent.pid)
        print(f"oversized webhook bodies ({args.channel}, {args.concurrency} x {args.size / 1e6:.0f} MB, unsigned)")
        for chunked in (False, True):
            t0 = time.perf_counter()
            answers = asyncio.run(burst("127.0.0.1", port, path, args.size, args.concurrency, chunked))
            took = time.perf_counter() - t0
            how = "chunked, no Content-Length" if chunked else "with Content-Length"
            print(f"  {how:<28} {dict(answers)} in {took:.2f} s")
        after = memory_mb(agent.pid)
        print(f"  agent memory: {before['VmRSS']:.0f} MB before, peak {after['VmHWM']:.0f} MB "
              f"(+{after['VmHWM'] - before['VmRSS']:.0f} MB)")
    finally:
        agent.terminate()
        agent.wait(10)
    print(f"  {describe()}")


if __name__ == "__main__":
    _ = serve  # the agent side is webhook_ingest's, started in the subprocess
    main()
