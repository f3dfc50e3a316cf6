"""The WhatsApp channel: Meta's WhatsApp Business Cloud API as a Tray Agent plugin.

Registers the ``whatsapp`` channel type (customer-started conversations, the 24-hour
reply window, Meta's per-type media limits); the adapter is imported only when used.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from collections.abc import Callable
from typing import TYPE_CHECKING

from tray_agent import MB, PRODUCT_MAX_FILE_BYTES, AddressKind, ChannelRules, ChannelType, hookimpl

if TYPE_CHECKING:
    from tray_agent import ChannelAdapter, ChannelConfig, ChannelContext

#: Meta's own limits per media type; over them a file goes as a download link.
NATIVE_LIMITS = {
    "image/": 5 * MB,
    "audio/": 16 * MB,
    "video/": 16 * MB,
    "image/webp": 100_000,  # stickers
    "": PRODUCT_MAX_FILE_BYTES,  # documents
}

RULES = ChannelRules(
    business_can_start=False,
    reply_window=timedelta(hours=24),
    auto_close_after=timedelta(hours=24),
    auto_close_configurable=False,
    max_file_bytes=PRODUCT_MAX_FILE_BYTES,
    native_file_limits=NATIVE_LIMITS,
    files_as_links=True,
    read_receipts=True,
    address_kind="phone",
    max_text_chars=4096,
    # A customer who chose a username may come without a phone number: Meta then names
    # them by their business-scoped user id ("US.13491208655302741918"), which takes replies.
    other_address_kinds=(AddressKind("user_id", "WhatsApp user ID", r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}"),),
)

#: Meta's notifications batch many messages but stay within a few megabytes.
MAX_WEBHOOK_BYTES = 3 * MB

SETTINGS = {
    "business_number": "The WhatsApp business number customers write to, in E.164 (+14155550101).",
    "phone_number_id": "The Cloud API's Phone number ID for that number (WhatsApp > API Setup).",
    "waba_id": "Optional: the WhatsApp Business Account ID, shown in diagnostics.",
    "api_base": "Meta's Graph API address (default https://graph.facebook.com); the sandbox sets its own.",
    "api_version": "Graph API version to call, e.g. v21.0 (default v21.0).",
    "media_mode": "How files are sent: upload (to Meta, then by id; default) or link (Meta fetches the agent's link).",
    "timeout_seconds": "How long to wait for Meta before the send counts as failed (default 15).",
}

SECRETS = {
    "access_token": "A system-user access token with whatsapp_business_messaging permission.",
    "app_secret": "The Meta app's App Secret: verifies X-Hub-Signature-256 on every webhook.",
    "verify_token": "Any string you choose; Meta echoes it when you register the webhook URL.",
}


def _factory(cfg: "ChannelConfig", ctx: "ChannelContext") -> "ChannelAdapter":
    from tray_agent_whatsapp.adapter import WhatsAppAdapter  # httpx and friends only when used

    return WhatsAppAdapter(cfg, ctx)


def _icon() -> str:
    return resources.files(__name__).joinpath("icon.svg").read_text(encoding="utf-8").strip()


CHANNEL_TYPE = ChannelType(
    name="whatsapp",
    label="WhatsApp",
    rules=RULES,
    icon_svg=_icon(),
    factory=_factory,
    settings=SETTINGS,
    secrets=SECRETS,
    business_address_setting="business_number",
    poll_interval=None,  # push only: Meta has no list of received messages
)


@hookimpl
def register_channel_types(register: Callable[[ChannelType], None]) -> None:
    """The ``whatsapp`` channel type, served by the WhatsApp Business Cloud API."""
    register(CHANNEL_TYPE)
