"""The desktop's line to the team server: its URLs (tried in turn), the device token from
the OS keyring, TLS trust (the system's, or ``[team] ca``), and the connection state the
window and ``doctor`` show (online, connecting, offline) with its last error."""

from __future__ import annotations

import hashlib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tray_agent import credentials
from tray_agent.core.clock import Clock
from tray_agent.core.errors import TrayAgentError

def token_key(config_dir: Path) -> tuple[str, str]:
    """Where this installation's device token lives in the keyring: one entry per config
    folder, so two homes on one computer (or one test process) keep their own."""
    digest = hashlib.sha256(str(config_dir.resolve()).encode()).hexdigest()[:16]
    return ("team", f"device_token_{digest}")

TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class Unreachable(TrayAgentError):
    """No server answered (network down, refused, TLS failed): nothing was done upstream."""

    status = 503
    code = "offline"


class Refused(TrayAgentError):
    """The server refused the action: its status, its stable code and its message."""

    def __init__(self, status: int, code: str, message: str, **details: object) -> None:
        super().__init__(message or code, **details)
        self.status = status
        self.code = code


def tls_context(ca: str | None) -> ssl.SSLContext:
    """The system's trust, or only the given CA file's (a private CA)."""
    if ca:
        try:
            return ssl.create_default_context(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            raise TrayAgentError(f"Cannot read the CA file {ca}: {exc}") from None
    return ssl.create_default_context()


def explain(exc: Exception, url: str) -> str:
    """One line for a failed connection, naming an untrusted certificate as such."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(exc, ssl.SSLCertVerificationError):
        return (f"The certificate of {url} is not trusted by this computer; if the team uses a private CA, "
                "pass its certificate with --ca FILE.")
    if isinstance(exc, httpx.TimeoutException):
        return f"{url} did not answer in time."
    return f"Cannot reach {url}: {' '.join(text.split()).rstrip('.') or type(exc).__name__}."


#: What a reused connection that the server closed meanwhile raises (not a timeout).
STALE_CONNECTION = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class LinkState:
    state: str  # online | connecting | offline
    since: datetime
    server: str | None
    last_error: str | None = None


class Link:
    """Shared by the sync task (the event stream) and the actions (requests)."""

    def __init__(self, servers: list[str], ca: str | None, clock: Clock, key: tuple[str, str]) -> None:
        if not servers:
            raise TrayAgentError("No team server is configured; run `tray-agent connect URL` first.")
        self.servers = servers
        self.ca = ca or None
        self.clock = clock
        self._key = key
        self._token: str | None = None
        self._index = 0
        self._lock = threading.Lock()
        self.status = LinkState("connecting", clock.now(), servers[0])
        self.on_change: list[Callable[[LinkState], None]] = []
        self._verify = tls_context(self.ca)
        #: One keep-alive client per thread and server: a burst of requests reuses its connection.
        self._clients = threading.local()

    @property
    def url(self) -> str:
        return self.servers[self._index % len(self.servers)]

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = credentials.get(*self._key)
        if not self._token:
            raise TrayAgentError("This desktop has no device token; run `tray-agent connect URL` again.")
        return self._token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def next_server(self) -> None:
        """After a failure: the next configured URL (the cursor carries over)."""
        with self._lock:
            self._index += 1

    def set_state(self, state: str, error: str | None = None) -> None:
        with self._lock:
            before = self.status
            if before.state == state and before.last_error == error and before.server == self.url:
                return
            self.status = LinkState(state, self.clock.now() if before.state != state else before.since,
                                    self.url, error)
        for fn in list(self.on_change):
            fn(self.status)

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self._verify, timeout=TIMEOUT, headers=self.headers(), **kw)

    def _client_for(self, url: str) -> httpx.Client:
        held: dict[str, httpx.Client] = getattr(self._clients, "by_url", None) or {}
        self._clients.by_url = held
        if url not in held:
            held[url] = httpx.Client(base_url=url, verify=self._verify, timeout=TIMEOUT, headers=self.headers())
        return held[url]

    def _drop_client(self, url: str) -> None:
        held: dict[str, httpx.Client] = getattr(self._clients, "by_url", None) or {}
        c = held.pop(url, None)
        if c is not None:
            c.close()

    def async_client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, verify=self._verify, headers=self.headers(), **kw)

    def request(self, method: str, path: str, **kw: Any) -> Any:
        """One request to the current server (then the others); the JSON answer, or raises
        ``Refused`` (the server said no) or ``Unreachable`` (no server answered)."""
        error = ""
        for _ in range(len(self.servers)):
            url = self.url
            try:
                try:
                    r = self._client_for(url).request(method, path, **kw)
                except STALE_CONNECTION:
                    # A kept-alive connection the server had closed (it may close one after
                    # answering 500, or when idle): once more on a new one. Safe to repeat:
                    # every action carries its idempotency key.
                    self._drop_client(url)
                    r = self._client_for(url).request(method, path, **kw)
            except (httpx.TransportError, ssl.SSLError, OSError) as exc:
                error = explain(exc, url)
                self._drop_client(url)
                self.next_server()
                continue
            if r.status_code in (502, 503, 504) and not _is_api_error(r):
                error = f"{url} answered {r.status_code}."
                self.next_server()
                continue
            return answer(r)
        self.set_state("offline", error)
        raise Unreachable(f"Offline: {error}")


    def download(self, path: str) -> tuple[bytes, str]:
        """A file's bytes and Content-Type from the current server (``Refused``/``Unreachable``
        as ``request``)."""
        url = self.url
        try:
            r = self._client_for(url).get(path)
        except (httpx.TransportError, ssl.SSLError, OSError) as exc:
            self._drop_client(url)
            raise Unreachable(f"Offline: {explain(exc, url)}") from None
        if not r.is_success:
            answer(r)
        return r.content, r.headers.get("content-type", "application/octet-stream").split(";")[0]


def _is_api_error(r: httpx.Response) -> bool:
    try:
        return isinstance(r.json(), dict) and "error" in r.json()
    except ValueError:
        return False


def answer(r: httpx.Response) -> Any:
    """The JSON of a 2xx answer; a refusal as ``Refused`` with the server's code and message."""
    try:
        body = r.json()
    except ValueError:
        body = None
    if r.is_success:
        return body
    if isinstance(body, dict) and "error" in body:
        details = {k: v for k, v in body.items() if k not in ("error", "message")}
        raise Refused(r.status_code, str(body["error"]), str(body.get("message") or ""), **details)
    raise Refused(r.status_code, "server_error", f"The team server answered {r.status_code}.")
