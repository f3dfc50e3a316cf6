"""A real Tray Agent for a plugin's tests: its own temporary home, only the named plugins
loaded from their installed entry points, the local API served on loopback, and a clock
the test can move. Nothing touches the user's data, keyring or real providers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from tray_agent.net import free_port

TOKEN = "conformance-token"


class OffsetClock:
    """Wall-clock time that a test can push forward (retry delays, reply windows)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, delta: timedelta | float) -> datetime:
        self.offset += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        return self.now()


@dataclass(frozen=True)
class WebhookRequest:
    """An HTTP request a provider would make to one of the channel's webhooks.

    ``path`` is relative to the channel's webhook root (``/webhooks/{channel_id}/``).
    """

    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    query: str = ""

    def with_headers(self, **changes: str | None) -> "WebhookRequest":
        """A copy with headers replaced (a value of None removes that header)."""
        lowered = {k.lower(): k for k in self.headers}
        headers = dict(self.headers)
        for name, value in changes.items():
            name = name.replace("_", "-")
            existing = lowered.get(name.lower())
            if existing is not None:  # keep the spelling the request already used
                headers.pop(existing)
                name = existing
            if value is not None:
                headers[name] = value
        return WebhookRequest(self.path, self.body, headers, self.method, self.query)


class AgentUnderTest:
    """The agent with one plugin loaded, serving its API (and the webhooks) on loopback.

    Background loops are not started: the test drives the outbox (``drain_outbox``) and
    polling (``poll``) itself, so every step is deterministic.
    """

    def __init__(self, home: Path, entry_points: list[str] | None) -> None:
        from tray_agent.api.thread import ServerThread
        from tray_agent.app import App
        from tray_agent.config import load
        from tray_agent.paths import resolve
        from tray_agent.plugins import PluginHost
        from tray_agent.run.runner import Runner

        self._env: dict[str, str | None] = {}
        self._closed = False
        # Secrets come from environment variables only: never read or write a real keyring.
        self.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
        self.setenv("TRAY_AGENT_LOAD_PLUGINS", ",".join(entry_points) if entry_points is not None else None)
        self.paths = resolve(home).ensure()
        self.clock = OffsetClock()
        self.plugins = PluginHost()
        self.app = App(self.paths, load(self.paths, environ={}), clock=self.clock, plugins=self.plugins)
        self.runner = Runner(self.app, host="127.0.0.1", port=free_port(), token=TOKEN, background=False)
        self.url = self.runner.url
        self.runtime = self.runner.runtime
        self.api = self.runner.api
        self.server = ServerThread(self.runner)
        self.http = httpx.Client(base_url=self.url, timeout=30.0)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> "AgentUnderTest":
        self.server.start()
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.server.loop is not None:
                self.server.stop()  # the runner closes the adapters the test built
        finally:
            self.http.close()
            self.app.close()
            for name, old in self._env.items():
                if old is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = old

    def setenv(self, name: str, value: str | None) -> None:
        """Set (or with None, remove) an environment variable until ``close()``."""
        self._env.setdefault(name, os.environ.get(name))
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    def set_secret(self, channel_name: str, name: str, value: str) -> None:
        """Give a channel a credential the way a server would: an environment variable."""
        from tray_agent.credentials import env_name

        self.setenv(env_name(channel_name, name), value)

    # -- channels ------------------------------------------------------------------------

    def add_channel(self, kind: str, name: str, business_address: str,
                    settings: dict[str, Any] | None = None, **kwargs: Any) -> int:
        return self.app.inbox.add_channel(kind, name, business_address, settings or {}, **kwargs).id

    def start_channels(self) -> None:
        """Build the adapters of every configured channel, in the server's loop."""
        self.server.call(self.runtime.start_adapters)

    def adapter(self, channel_id: int) -> Any:
        adapter = self.runtime.adapter(channel_id)
        if adapter is None:
            detail = self.app.inbox.get_channel(channel_id).health_detail
            raise AssertionError(f"channel {channel_id} did not start: {detail}")
        return adapter

    def webhook_url(self, channel_id: int, path: str = "") -> str:
        return f"{self.url}/webhooks/{channel_id}/{path.lstrip('/')}"

    def post(self, channel_id: int, request: WebhookRequest) -> httpx.Response:
        """Deliver a provider's request to the channel's webhook over real HTTP."""
        url = self.webhook_url(channel_id, request.path) + (f"?{request.query}" if request.query else "")
        return self.http.request(request.method, url, content=request.body, headers=request.headers)

    def poll(self, channel_id: int) -> None:
        self.server.run(self.adapter(channel_id).poll())

    def check_health(self, channel_id: int) -> tuple[bool, str]:
        return self.server.run(self.runtime.check_health(channel_id, self.adapter(channel_id)))

    def drain_outbox(self) -> int:
        """Send every message that is due now, once; returns how many were attempted."""
        return self.server.run(self.runtime.drain_outbox())

    # -- the inbox, as an agent sees it ----------------------------------------------------

    @property
    def agent_id(self) -> int:
        return self.app.agent.id

    def conversations(self, channel_id: int | None = None) -> list[Any]:
        return list(self.app.inbox.list_inbox(self.agent_id, "all", channel_id=channel_id, limit=200).items)

    def messages(self, conversation_id: int) -> list[Any]:
        return list(self.app.inbox.history(self.agent_id, conversation_id, limit=200).items)

    def message(self, message_id: int) -> Any:
        for conv in self.conversations():
            for m in self.messages(conv.id):
                if m.id == message_id:
                    return m
        raise AssertionError(f"no message {message_id}")

    def reply(self, conversation_id: int, text: str, files: Sequence[Path] = ()) -> Any:
        import mimetypes

        staged = []
        for p in files:
            mime = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
            staged.append(self.app.inbox.files.stage_bytes(p.read_bytes(), p.name, mime, 10**10))
        return self.app.inbox.reply(self.agent_id, conversation_id, text, staged)

    def alive(self) -> bool:
        """Does the agent's API still answer?"""
        try:
            r = self.http.get("/api/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
            return r.status_code == 200
        except httpx.HTTPError:
            return False
