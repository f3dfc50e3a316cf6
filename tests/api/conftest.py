"""HTTP tests against a real agent on loopback (uvicorn in a thread), one per module,
with the fake SMS/WhatsApp channel types and a "tiny" one whose file limit is 64 kB."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from tray_agent.channels import ChannelType
from tray_agent.core.rules import ChannelRules
from tray_agent.hookspecs import hookimpl
from tests.api.live import LiveAgent, live_agent
from tests.support import ICON, RecordingAdapter

TINY_LIMIT = 64_000


class TinyChannel:
    """A channel type with a small file limit, to exercise refusals without 100 MB bodies."""

    @hookimpl
    def register_channel_types(self, register):  # type: ignore[no-untyped-def]
        register(ChannelType(name="fake-tiny", label="Tiny", icon_svg=ICON, factory=RecordingAdapter,
                             rules=ChannelRules(business_can_start=True, max_file_bytes=TINY_LIMIT)))


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAgent]:
    with live_agent(tmp_path_factory.mktemp("agent"), plugins=(TinyChannel(),)) as a:
        yield a


@pytest.fixture
def client(agent: LiveAgent) -> Iterator[httpx.Client]:
    with agent.client() as c:
        yield c


@pytest.fixture
def anon(agent: LiveAgent) -> Iterator[httpx.Client]:
    """No token at all."""
    with httpx.Client(base_url=agent.url, timeout=10) as c:
        yield c


def raw_request(agent: LiveAgent, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (headers a client library would not send) and read the answer."""
    host, port = agent.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head_raw, _, rest = data.partition(b"\r\n\r\n")
        lines = head_raw.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        # The body may come in later segments than the head: read all that was announced.
        while len(rest) < int(headers.get("content-length", 0)):
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(lines[0].split()[1]), headers, rest


class SseReader:
    """Reads an event stream in a thread; ``wait(pred)`` blocks until the events read so
    far satisfy ``pred``."""

    def __init__(self, agent: LiveAgent, path: str, headers: dict[str, str] | None = None) -> None:
        self.events: list[dict[str, str]] = []
        self.status: int | None = None
        self._cond = threading.Condition()
        self._stop = False
        self._client = agent.client()
        self._thread = threading.Thread(target=self._run, args=(path, headers or {}), daemon=True)
        self._thread.start()

    def _run(self, path: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", path, headers=headers, timeout=httpx.Timeout(10, read=60)) as r:
                self.status = r.status_code
                ev: dict[str, str] = {}
                for line in r.iter_lines():
                    if self._stop:
                        return
                    if line:
                        key, _, value = line.partition(":")
                        ev[key] = value[1:] if value.startswith(" ") else value
                        continue
                    if ev:
                        with self._cond:
                            self.events.append(ev)
                            self._cond.notify_all()
                        ev = {}
        except httpx.HTTPError:
            pass
        finally:
            with self._cond:
                self._stop = True
                self._cond.notify_all()

    def data(self) -> list[dict]:
        """The inbox events (not hello/ping/resync), decoded."""
        return [json.loads(e["data"]) for e in self.events if "event" not in e and "data" in e]

    def wait(self, pred: Callable[["SseReader"], bool], timeout: float = 5.0) -> "SseReader":
        with self._cond:
            if not self._cond.wait_for(lambda: pred(self) or self._stop, timeout):
                raise AssertionError(f"stream did not get there in {timeout}s: {self.events}")
        assert pred(self), f"stream ended early ({self.status}): {self.events}"
        return self

    def close(self) -> None:
        # The reader may be blocked until the next heartbeat; it is a daemon thread and
        # ends for good when the server stops at the end of the module.
        self._stop = True
        self._client.close()


@pytest.fixture
def sse(agent: LiveAgent) -> Iterator[Callable[..., SseReader]]:
    readers: list[SseReader] = []

    def open_(path: str = "/api/events/stream", headers: dict[str, str] | None = None) -> SseReader:
        r = SseReader(agent, path, headers)
        readers.append(r)
        return r

    yield open_
    for r in readers:
        r.close()
