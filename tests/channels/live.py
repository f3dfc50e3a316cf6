"""A real agent wired to the real sandbox over loopback HTTP: the agent's API server (with
its runtime: outbox worker, webhooks) and the sandbox each on a free port, an SMS and a
WhatsApp channel pointed at the sandbox, and the sandbox's webhooks at the agent."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tray_agent.api.thread import ServerThread
from tray_agent.app import App
from tray_agent.core.clock import FrozenClock
from tray_agent.core.models import Message
from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin

SMS_NAME, WA_NAME = "Test SMS", "Test WhatsApp"
CUSTOMER = "+14155550123"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a0a0a7b50000000049454e44ae426082")


def wait_for(check: Callable[[], Any], timeout: float = 8.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def channel_secrets(sandbox: Sandbox) -> dict[tuple[str, str], str]:
    c = sandbox.creds
    return {(SMS_NAME, "auth_token"): c.twilio_auth_token, (WA_NAME, "access_token"): c.meta_access_token,
            (WA_NAME, "app_secret"): c.meta_app_secret, (WA_NAME, "verify_token"): c.meta_verify_token}


def add_channels(app: App, sandbox: Sandbox) -> tuple[int, int]:
    c = sandbox.creds
    sms = app.inbox.add_channel("sms", SMS_NAME, c.sms_number, {
        "account_sid": c.twilio_account_sid, "api_base": sandbox.url, "poll": "off", "timeout_seconds": 3}).id
    wa = app.inbox.add_channel("whatsapp", WA_NAME, c.whatsapp_number, {
        "phone_number_id": c.phone_number_id, "api_base": sandbox.url, "api_version": c.graph_version,
        "timeout_seconds": 3}).id
    return sms, wa


@dataclass
class Live:
    app: App
    clock: FrozenClock
    sandbox: Sandbox
    admin: SandboxAdmin
    server: ServerThread
    sms: int
    wa: int

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def me(self) -> int:
        return self.app.agent.id

    def hook(self, channel: int, path: str) -> str:
        return f"{self.url}/webhooks/{channel}/{path}"

    def wire(self) -> None:
        """Point the sandbox's numbers at this agent (Meta's handshake included)."""
        self.sandbox.register_sms(self.hook(self.sms, "inbound"))
        out = self.admin.register_whatsapp(self.sandbox.creds.phone_number_id, self.hook(self.wa, "events"))
        assert out["verified"], out

    def conversations(self, channel: int) -> list[Any]:
        return list(self.app.inbox.list_inbox(self.me, "all", channel_id=channel, limit=200).items)

    def conversation(self, channel: int) -> Any:
        convs = wait_for(lambda: self.conversations(channel), what="a conversation")
        assert len(convs) == 1, convs
        return convs[0]

    def messages(self, conversation_id: int) -> list[Any]:
        return list(self.app.inbox.history(self.me, conversation_id, limit=200).items)

    def message(self, message_id: int) -> Any:
        with self.app.db.read() as s:
            conv = s.get(Message, message_id).conversation_id  # type: ignore[union-attr]
        return next(m for m in self.messages(conv) if m.id == message_id)

    def stored(self) -> int:
        """How many messages the store holds, on every channel."""
        from sqlalchemy import func, select

        with self.app.db.read() as s:
            return int(s.execute(select(func.count()).select_from(Message)).scalar_one())

    def wait_status(self, message_id: int, *statuses: str) -> Any:
        return wait_for(lambda: (m := self.message(message_id)).status in statuses and m,
                        what=f"message {message_id} to reach {statuses}")

    def advance(self, seconds: float) -> None:
        """Move the agent's clock and wake its outbox worker, which otherwise sleeps until
        the time it computed from the clock before it moved."""
        self.clock.advance(seconds)
        self.app.inbox.sends.published(self.app.inbox.last_seq())

    def retry_until(self, message_id: int, *statuses: str, rounds: int = 10) -> Any:
        """Keep moving time past each retry until the message reaches ``statuses``."""
        for _ in range(rounds):
            try:
                return wait_for(lambda: (m := self.message(message_id)).status in statuses and m, timeout=0.5)
            except AssertionError:
                self.advance(300)
        raise AssertionError(f"message {message_id} never reached {statuses}")

    def wait_retry_scheduled(self, message_id: int) -> Any:
        return wait_for(lambda: (m := self.message(message_id)).status == "queued"
                        and (m.status_reason or "").startswith("Retrying") and m,
                        what=f"message {message_id} to wait for a retry")

    def outbox_due_in(self) -> float:
        from tray_agent.core.clock import utc

        due = self.app.inbox.outbox_next_due_at()
        assert due is not None, "nothing is waiting in the outbox"
        return (utc(due) - self.clock.now()).total_seconds()
