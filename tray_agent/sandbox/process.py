"""The provider sandbox in a child process of its own, so what it keeps (every message it
carried, its web stack) costs the agent nothing. The agent hands it the run's fake
credentials over a pipe and keeps that pipe open: when the agent exits or dies, the
child reads end-of-file and stops (and on Linux the kernel also signals it).

Run as ``python -m tray_agent.sandbox.process``; the parent side is ``SandboxProcess``.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from typing import IO, Any

import httpx

from tray_agent.sandbox.state import SandboxCredentials

log = logging.getLogger(__name__)

ADMIN_HEADERS = {"X-Sandbox": "1"}


class SandboxProcess:
    """The parent's handle: the same surface the auto-start uses on an in-process ``Sandbox``
    (``url``, ``creds``, ``register_*``, ``verify_whatsapp``, ``stop``)."""

    def __init__(self, *, port: int = 0, credentials: SandboxCredentials | None = None) -> None:
        self.port = port
        self.creds = credentials or SandboxCredentials.generate()
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> "SandboxProcess":
        # Credentials travel on stdin, never in argv or the environment (both are readable
        # by other processes of the user, and the environment is inherited).
        self.proc = subprocess.Popen([sys.executable, "-m", "tray_agent.sandbox.process"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
                                     # Out of the terminal's group: a Ctrl+C while it starts
                                     # would kill it half-way; the agent stops it (stdin).
                                     **_own_group())
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"port": self.port, "creds": asdict(self.creds)}).encode() + b"\n")
        self.proc.stdin.flush()
        line = _readline(self.proc.stdout, timeout)
        try:
            self.url = str(json.loads(line)["url"])
        except (ValueError, KeyError, TypeError):
            self.stop()
            raise RuntimeError("The provider sandbox process did not start.") from None
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        r = httpx.post(self.url + path, json=body, headers=ADMIN_HEADERS, timeout=30.0)
        r.raise_for_status()
        return r.json()

    def register_sms(self, url: str, number: str | None = None) -> None:
        self._post("/_sandbox/numbers/sms", {"number": number or self.creds.sms_number, "url": url})

    def register_whatsapp(self, url: str, phone_number_id: str | None = None) -> None:
        self._post("/_sandbox/numbers/whatsapp", {"phone_number_id": phone_number_id or self.creds.phone_number_id,
                                                 "number": self.creds.whatsapp_number, "url": url, "verify": False})

    async def verify_whatsapp(self, phone_number_id: str | None = None) -> tuple[bool, str]:
        """Meta's GET handshake against the callback URL that is registered already."""
        pnid = phone_number_id or self.creds.phone_number_id
        async with httpx.AsyncClient(base_url=self.url, headers=ADMIN_HEADERS, timeout=30.0) as http:
            info = (await http.get("/_sandbox/info")).json()["whatsapp_numbers"][pnid]
            r = await http.post("/_sandbox/numbers/whatsapp", json={
                "phone_number_id": pnid, "number": info.get("number") or self.creds.whatsapp_number,
                "url": info["url"], "verify": True})
        body = r.json()
        return bool(body.get("verified")), str(body.get("detail", ""))

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # the child's signal to stop
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
        if proc.stdout is not None:
            proc.stdout.close()


def _own_group() -> dict[str, Any]:
    return {"process_group": 0} if os.name == "posix" else {}


def _readline(stream: IO[bytes], timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
    return buf


def _die_with_parent() -> None:
    """Ask the kernel to end this process when the parent goes (Linux); stdin EOF covers the rest."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass


def child_main() -> int:
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        return 0
    logging.basicConfig(level=logging.WARNING, format="sandbox: %(levelname)s %(name)s: %(message)s")
    stdin = sys.stdin.buffer
    spec = json.loads(stdin.readline() or b"{}")
    from tray_agent.sandbox.server import Sandbox

    sandbox = Sandbox(port=int(spec.get("port") or 0), credentials=SandboxCredentials(**spec["creds"])).start()
    sys.stdout.write(json.dumps({"url": sandbox.url}) + "\n")
    sys.stdout.flush()
    done = threading.Event()
    # A stop of the whole service (systemd's stop, the session ending) signals us beside
    # the agent: stop as quietly as when the agent asks.
    for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)):  # no SIGHUP on Windows
        if sig is not None:
            signal.signal(sig, lambda *_: done.set())
    fd = stdin.fileno()

    def wait_for_eof() -> None:
        # os.read, not stdin.read(): a daemon thread blocked inside the buffered reader
        # holds its lock, and the interpreter aborts when it finds it held at exit.
        while os.read(fd, 4096):
            pass  # the agent writes nothing more; its end closing (stop or death) is the signal
        done.set()

    reader = threading.Thread(target=wait_for_eof, daemon=True)
    reader.start()
    done.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
