"""Test helpers shared across the suite: in-process channel types that exercise every rule
the core enforces, without any provider."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from tray_agent.channels import ChannelConfig, ChannelType, Health, OutboundMessage, SendResult, WebhookRoute
from tray_agent.core.errors import ProviderError
from tray_agent.core.rules import MB, ChannelRules
from tray_agent.hookspecs import hookimpl

ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7"/></svg>'


@dataclass
class RecordingAdapter:
    """Remembers what it was asked to send; ``failures`` makes the next sends raise. With the
    channel setting ``webhook = "record"`` it serves ``POST /webhooks/{id}/inbound`` and
    remembers who called it (the client's address as the server sees it, the headers)."""

    config: ChannelConfig
    ctx: object
    sent: list[OutboundMessage] = field(default_factory=list)
    failures: list[ProviderError] = field(default_factory=list)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    webhooks: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    async def send(self, message: OutboundMessage) -> SendResult:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return SendResult(f"{self.config.kind}-out-{next(self.ids)}")

    def webhook_routes(self) -> list[WebhookRoute]:
        if self.config.settings.get("webhook") != "record":
            return []
        return [WebhookRoute("POST", "inbound", self._record, "records its caller")]

    async def _record(self, request: Request) -> Response:
        self.webhooks.append((request.client.host if request.client else "", dict(request.headers)))
        return Response(status_code=204)

    async def poll(self) -> None:
        return None

    async def check_health(self) -> Health:
        return Health(True, "recording")

    async def aclose(self) -> None:
        return None


class FakeChannels:
    """A plugin registering an SMS-like and a WhatsApp-like channel type."""

    def __init__(self) -> None:
        self.adapters: dict[int, RecordingAdapter] = {}

    def _factory(self, cfg: ChannelConfig, ctx: object) -> RecordingAdapter:
        adapter = RecordingAdapter(cfg, ctx)
        self.adapters[cfg.id] = adapter
        return adapter

    @hookimpl
    def register_channel_types(self, register):  # type: ignore[no-untyped-def]
        register(ChannelType(
            name="fake-sms", label="Fake SMS", icon_svg=ICON, factory=self._factory,
            rules=ChannelRules(business_can_start=True, auto_close_configurable=True,
                               native_file_limits={"": 5 * MB}, max_text_chars=1600),
        ))
        register(ChannelType(
            name="fake-wa", label="Fake WhatsApp", icon_svg=ICON, factory=self._factory,
            rules=ChannelRules(business_can_start=False, reply_window=timedelta(hours=24),
                               auto_close_after=timedelta(hours=24),
                               native_file_limits={"image/": 5 * MB, "video/": 16 * MB},
                               files_as_links=False),
        ))
