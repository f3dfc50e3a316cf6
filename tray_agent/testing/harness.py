"""What a channel plugin's author supplies to run the conformance suite: a harness that
knows how to wire the channel to a fake provider and how that provider signs its calls.

Subclass ``ChannelHarness``, fill in the abstract methods, return an instance from a
``channel_harness`` fixture, and subclass ``ChannelConformance`` in a test module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from tray_agent.testing.agent import AgentUnderTest, WebhookRequest


class ChannelHarness(ABC):
    """How to build one channel type against its fake provider.

    Class attributes describe the channel; methods build requests exactly as the real
    provider would send them, so the suite exercises the adapter's real parsing and
    signature checks over HTTP.
    """

    #: The entry-point name in group ``tray_agent`` (what TRAY_AGENT_LOAD_PLUGINS lists).
    entry_point: str
    #: The ``ChannelType.name`` the plugin registers.
    channel_type: str
    #: Headers that carry the provider's signature (removed/corrupted by the default
    #: ``unsigned``/``badly_signed``).
    signature_headers: tuple[str, ...] = ()
    #: Does the provider send delivery-status callbacks? (Telegram's Bot API does not.)
    status_callbacks: bool = True
    #: A customer address as this provider gives it (E.164 for phone channels).
    customer: str = "+14155550123"

    # -- required ---------------------------------------------------------------------

    @abstractmethod
    def make_channel(self, agent: AgentUnderTest) -> int:
        """Configure one channel pointed at the fake provider (settings, secrets via
        ``agent.set_secret``) and return its id. Do not start it: the suite does."""

    @abstractmethod
    def inbound_request(self, agent: AgentUnderTest, channel_id: int, *,
                        provider_message_id: str, text: str) -> WebhookRequest:
        """A correctly signed webhook delivering one customer message from ``self.customer``."""

    @abstractmethod
    def sign(self, agent: AgentUnderTest, channel_id: int, request: WebhookRequest) -> WebhookRequest:
        """``request`` with a valid signature for its body (used for malformed payloads)."""

    @abstractmethod
    def fake_provider_fail_next(self, status: int, retry_after: float | None = None) -> None:
        """Make the fake provider answer the next send with this HTTP status (and its
        rate-limit hint, if given), in the provider's own error format."""

    @abstractmethod
    def sent_texts(self) -> list[str]:
        """Texts the fake provider has accepted for delivery, oldest first."""

    # -- optional ---------------------------------------------------------------------

    def status_request(self, agent: AgentUnderTest, channel_id: int, provider_message_id: str,
                       status: str) -> WebhookRequest:
        """A signed status callback moving ``provider_message_id`` to ``status``
        ("sent", "delivered", "read" or "failed"). Needed when ``status_callbacks``."""
        raise NotImplementedError("set status_callbacks = False or implement status_request")

    def unsigned(self, request: WebhookRequest) -> WebhookRequest:
        """The same request without its signature."""
        return request.with_headers(**{h: None for h in self.signature_headers})

    def badly_signed(self, request: WebhookRequest) -> WebhookRequest:
        """The same request with a signature that is well-formed but wrong."""
        lowered = {k.lower(): v for k, v in request.headers.items()}
        changes: dict[str, str | None] = {}
        for h in self.signature_headers:
            value = lowered.get(h.lower(), "")
            changes[h] = _corrupt(value) if value else "bad-signature"
        return request.with_headers(**changes)

    def bad_payloads(self, inbound: WebhookRequest) -> list[WebhookRequest]:
        """Malformed bodies on the inbound webhook (the suite signs each one)."""
        bodies = [b"", b"not json at all", b"{}", b"[]", b'{"unexpected": {"nested": [1, 2, 3]}}',
                  b"\xff\xfe\x00garbage", inbound.body[: max(1, len(inbound.body) // 2)]]
        return [WebhookRequest(inbound.path, body, dict(inbound.headers), inbound.method, inbound.query)
                for body in bodies]


def _corrupt(value: str) -> str:
    """Change the last characters of a signature while keeping its alphabet and length."""
    tail = value[-4:]
    swapped = "".join("A" if c != "A" else "B" for c in tail)
    return value[:-4] + swapped
