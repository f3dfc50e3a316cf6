"""The contract between the core and a channel plugin.

A plugin registers a ``ChannelType`` (its rules, icon and a factory). For every channel
the user configures, the core asks the type for a ``ChannelAdapter`` bound to that
channel's settings and credentials; the adapter talks to the provider. Inbound traffic
enters the core only through the ``ChannelContext`` the core hands the adapter.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from tray_agent.core.rules import ChannelRules

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response


@dataclass(frozen=True)
class InboundFile:
    """A file that arrived with a customer message, already downloaded by the adapter."""

    file_name: str
    mime_type: str
    data: bytes


@dataclass(frozen=True)
class InboundMessage:
    """One customer message as a channel adapter hands it to the core."""

    provider_message_id: str
    #: The channel's main address kind (a phone number in any form the provider writes it)
    #: or one of its rules' ``other_address_kinds`` (a WhatsApp user id, an SMS sender id).
    customer_address: str
    text: str = ""
    customer_name: str | None = None
    sent_at: datetime | None = None
    files: tuple[InboundFile, ...] = ()
    #: Provider-specific extras kept with the message (JSON-serialisable).
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery-status callback: queued → sent → delivered → read, or failed."""

    provider_message_id: str
    status: str
    at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    #: The provider says a channel rule refused the message (e.g. outside a reply window).
    rule_violation: bool = False


@dataclass(frozen=True)
class OutboundFile:
    file_name: str
    mime_type: str
    size: int
    path: str
    #: A URL the agent serves the file at (for providers that fetch media by URL, and
    #: for files over the channel's native limit); expires with the file.
    public_url: str | None = None
    as_link: bool = False


@dataclass(frozen=True)
class OutboundMessage:
    """What the outbox asks an adapter to send."""

    message_id: int
    customer_address: str
    text: str
    files: tuple[OutboundFile, ...] = ()
    #: Set when this is a retry: an adapter may use it as an idempotency key.
    attempt: int = 1
    #: When the agent queued it: lets ``find_sent`` look for a send lost in a crash.
    created_at: datetime | None = None


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str = "sent"


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str = ""


#: A webhook body limit for routes that declare none: far above a provider's notification.
DEFAULT_WEBHOOK_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class WebhookRoute:
    """An HTTP endpoint the agent serves for the provider, under /webhooks/{channel_id}/."""

    method: str
    path: str
    handler: Callable[["Request"], Awaitable["Response"]]
    #: One line for people wiring it up ("Twilio inbound messages").
    description: str = ""
    #: The largest body the provider ever sends here. Anything larger is refused with 413
    #: before it is read (by Content-Length, else while streaming), signed or not.
    max_body_bytes: int = DEFAULT_WEBHOOK_BODY_BYTES


class ChannelContext(Protocol):
    """What the core gives an adapter: the only way inbound traffic reaches the inbox."""

    channel_id: int

    @property
    def public_base_url(self) -> str:
        """The base URL the agent's webhooks are reachable at (as the provider must call them)."""

    def receive(self, message: InboundMessage) -> int:
        """Store a customer message (idempotently) and return its message id. Commits."""
        ...

    def receive_batch(self, messages: list[InboundMessage]) -> int:
        """Store many text-only messages (no files) in one transaction, idempotently;
        returns how many were new. Commits."""
        ...

    async def store(self, messages: Sequence[InboundMessage]) -> list[BaseException | None]:
        """Store messages from the event loop with group commit: messages arriving together
        share one transaction. Returns, per message, None once it is committed or the
        error that refused it. Answer the provider only after this returns (persist
        first, then ack)."""
        ...

    def update_status(self, update: StatusUpdate) -> None:
        """Move an outbound message's status forward. Commits."""
        ...

    def secret(self, name: str) -> str | None:
        """A credential from the OS keyring (or its environment-variable override)."""
        ...

    def file_url(self, attachment_id: int) -> str:
        """A URL (tokenised, expiring with the file) at which the provider can fetch a file."""
        ...

    def report(self, problem: str) -> None:
        """Record something the provider sent that could not be stored (an entry without an
        id, a sender no address kind fits), for ``doctor`` and ``plugins``. One line, never
        the customer's text: it is logged."""
        ...

    def outbound_message(self, message_id: int) -> OutboundMessage | None:
        """What the outbox holds for a message of this channel: an adapter's optional
        ``find_sent(message_id)`` uses it to look for a send a crash interrupted."""
        ...

    def provider_ids_held(self, provider_ids: Sequence[str], message_id: int | None = None) -> set[str]:
        """Which of these provider ids another message of this channel (not ``message_id``)
        already holds: a lost send's lookup must never take one of them (identical texts
        are normal)."""
        ...


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """The one TLS context a process's channels verify providers with (certifi's CA bundle,
    as httpx's default). Pass it as ``verify=`` to every HTTP client: each context built
    loads the whole bundle again, ~0.9 MB resident and ~20 ms apiece."""
    import httpx  # the plugins' HTTP client; not needed to import this module

    return httpx.create_ssl_context()


async def report_problem(ctx: ChannelContext, problem: str) -> None:
    """``ctx.report(problem)`` from the event loop: recording it writes to the store."""
    import asyncio

    await asyncio.to_thread(ctx.report, problem)


class ChannelAdapter(Protocol):
    """One configured channel's connection to its provider.

    Optional: ``async find_sent(message_id) -> provider id | None`` looks a send a crash
    interrupted up at the provider (without it such a send fails visibly, never resent);
    ``send_timeout`` (seconds) is how long a send can wait for the provider's answer, so a
    team-server replica that takes the outbox over asks ``find_sent`` only once the dead
    holder's call would have landed."""

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send through the provider. Raise ProviderError on a refusal or failure."""
        ...

    def webhook_routes(self) -> list[WebhookRoute]:
        """The endpoints the provider calls; each verifies its signature before anything else."""
        ...

    async def poll(self) -> None:
        """Fetch new inbound messages for providers without push (may do nothing)."""
        ...

    async def check_health(self) -> Health:
        """Is the provider reachable and are the credentials good?"""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True)
class ChannelType:
    """A kind of channel a plugin provides ("sms", "whatsapp", "telegram", ...)."""

    name: str
    label: str
    rules: ChannelRules
    #: SVG markup of the channel's icon; shown beside each conversation.
    icon_svg: str
    #: Builds the adapter for one configured channel.
    factory: Callable[["ChannelConfig", ChannelContext], ChannelAdapter]
    #: Settings the channel takes, name → one-line description (for `channel add`).
    settings: dict[str, str] = field(default_factory=dict)
    #: Credentials it needs, name → description; stored in the OS keyring.
    secrets: dict[str, str] = field(default_factory=dict)
    #: Which of ``secrets`` only some settings need (Telegram's webhook_secret, webhook mode
    #: only): `channel add` does not demand them, the adapter says when one is missing.
    optional_secrets: frozenset[str] = frozenset()
    #: Which setting holds the business address shown to customers.
    business_address_setting: str = "business_number"
    #: Seconds between ``poll()`` calls; None when the channel is push-only.
    poll_interval: float | None = None


@dataclass(frozen=True)
class ChannelConfig:
    """One configured channel as the adapter sees it."""

    id: int
    kind: str
    name: str
    business_address: str
    settings: dict[str, Any]
