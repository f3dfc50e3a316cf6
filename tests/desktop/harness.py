"""The real tray daemon (``tray_agent.desktop.daemon.run``) with the suite's fake channel
types and a few test-only routes under ``/plugins/test/``, so tests (and
``bench/daemon_footprint.py``) drive customer traffic into the daemon process over HTTP:
commits happen in the daemon, so its event bus wakes exactly as for a webhook.

Run as ``python -m tests.desktop.harness`` with ``TRAY_AGENT_HOME`` set.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

from tray_agent.app import App
from tray_agent.channels import InboundMessage
from tray_agent.core.errors import ProviderError
from tray_agent.hookspecs import hookimpl
from tray_agent.paths import resolve
from tray_agent.plugins import PluginHost
from tests.support import FakeChannels

CHANNEL_NAME = "Test SMS"
BUSINESS_NUMBER = "+14155550100"
COLLEAGUE = ("Colleague", "colleague@example.com")


class DesktopTestHooks:
    """Test-only endpoints, registered in-process like any plugin's routes."""

    def __init__(self, fake: FakeChannels) -> None:
        self.fake = fake
        self.app: App | None = None
        self._ids = itertools.count(1)

    def _channel_id(self) -> int:
        assert self.app is not None
        return next(c.id for c in self.app.inbox.list_channels() if c.name == CHANNEL_NAME)

    def _conversation_of(self, customer: str) -> int | None:
        """The customer's conversation as this agent sees it (None: a colleague's)."""
        assert self.app is not None
        me = self.app.agent.id
        for c in self.app.inbox.list_inbox(me, "all", limit=200).items:
            if c.customer_address == customer:
                return c.id
        return None

    def _colleague(self) -> int:
        assert self.app is not None
        return self.app.inbox.ensure_agent(*COLLEAGUE).id

    @hookimpl
    def register_routes(self, router: Any, inbox: Any) -> None:
        @router.post("/test/inbound")
        def inbound(body: dict[str, Any]) -> dict[str, Any]:
            """Customer messages, one commit each (``count`` of them, numbered)."""
            count = int(body.get("count", 1))
            t0 = time.time()
            ids = []
            for i in range(count):
                text = body["text"] if count == 1 else f"{body['text']} {i + 1}"
                ids.append(inbox.receive(self._channel_id(), InboundMessage(
                    provider_message_id=f"test-{uuid.uuid4().hex}", customer_address=body["customer"],
                    text=text, customer_name=body.get("name"))))
            return {"message_ids": ids, "conversation_id": self._conversation_of(body["customer"]),
                    "received_at": t0, "committed_at": time.time()}

        @router.post("/test/colleague-claims")
        def colleague_claims(body: dict[str, Any]) -> dict[str, Any]:
            inbox.claim(self._colleague(), int(body["conversation_id"]))
            return {"ok": True}

        @router.post("/test/transfer-to-me")
        def transfer_to_me(body: dict[str, Any]) -> dict[str, Any]:
            assert self.app is not None
            colleague, cid = self._colleague(), int(body["conversation_id"])
            inbox.claim(colleague, cid)
            inbox.transfer(colleague, cid, to_agent_id=self.app.agent.id, note=body.get("note", ""))
            return {"ok": True}

        @router.post("/test/failed-send")
        def failed_send(body: dict[str, Any]) -> dict[str, Any]:
            """The agent replies; the provider refuses it for good (a ``failed`` status)."""
            assert self.app is not None
            adapter = self.fake.adapters[self._channel_id()]
            adapter.failures.append(ProviderError(body.get("reason", "The number is not reachable."),
                                                  retryable=False, provider_code=30003))
            msg = inbox.reply(self.app.agent.id, int(body["conversation_id"]), body.get("text", "Hello?"))
            return {"message_id": msg.id}

        @router.post("/test/read")
        def read(body: dict[str, Any]) -> dict[str, Any]:
            assert self.app is not None
            inbox.mark_read(self.app.agent.id, int(body["conversation_id"]))
            return {"ok": True}


def build_app() -> App:
    fake = FakeChannels()
    hooks = DesktopTestHooks(fake)
    host = PluginHost()
    host.register(fake, name="fake_channels")
    host.register(hooks, name="desktop_test_hooks")
    app = App(resolve(), plugins=host)
    hooks.app = app
    if not any(c.name == CHANNEL_NAME for c in app.inbox.list_channels()):
        app.inbox.add_channel("fake-sms", CHANNEL_NAME, BUSINESS_NUMBER)
    return app


def main() -> None:
    from tray_agent.desktop import daemon

    app = build_app()
    try:
        daemon.run(app)
    finally:
        app.close()


if __name__ == "__main__":
    main()
