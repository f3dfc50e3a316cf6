"""The SMS channel: Twilio Programmable Messaging as a Tray Agent plugin.

Registers the ``sms`` channel type (its rules, icon, settings and secrets); the adapter
that talks to Twilio is imported only when a channel of this type is configured.
"""

from __future__ import annotations

from importlib import resources
from collections.abc import Callable
from typing import TYPE_CHECKING

from tray_agent import MB, PRODUCT_MAX_FILE_BYTES, AddressKind, ChannelRules, ChannelType, hookimpl

if TYPE_CHECKING:
    from tray_agent import ChannelAdapter, ChannelConfig, ChannelContext

#: Twilio MMS takes about 5 MB for the body and all media together; bigger files go as links.
MMS_MAX_BYTES = 5 * MB

RULES = ChannelRules(
    business_can_start=True,
    reply_window=None,
    auto_close_after=None,  # never, unless the administrator sets a time per channel
    auto_close_configurable=True,
    max_file_bytes=PRODUCT_MAX_FILE_BYTES,
    native_file_limits={"": MMS_MAX_BYTES},
    files_as_links=True,
    read_receipts=False,
    address_kind="phone",
    max_text_chars=1600,
    # Businesses text from alphanumeric sender ids ("MyBank") and short codes: neither is a
    # number this channel can send to.
    other_address_kinds=(AddressKind(
        "sender_id", "sender ID", r"(?=.*[A-Za-z])[A-Za-z0-9 &._-]{1,11}|[0-9]{3,8}", replyable=False,
        not_replyable_reason="{address} is a sender ID, not a phone number: SMS cannot reply to it."),),
)

#: An inbound webhook's form: a 1600-character body, ten media URLs and Twilio's other
#: parameters, percent-encoded, stay far below this.
MAX_WEBHOOK_BYTES = 64_000

SETTINGS = {
    "business_number": "The Twilio number customers text, in E.164 (+14155550100).",
    "account_sid": "The Twilio Account SID (AC…), shown on the Twilio console's front page.",
    "messaging_service_sid": "Optional: send through this Messaging Service (MG…) instead of the number.",
    "api_base": "Twilio's API address (default https://api.twilio.com); the sandbox sets its own.",
    "poll": "Fetch inbound messages from Twilio's Messages list: auto (when no public webhook URL), on, off.",
    "timeout_seconds": "How long to wait for Twilio before trying again later (default 15).",
}

SECRETS = {
    "auth_token": "The account's Auth Token: authenticates API calls and verifies Twilio's webhook signatures.",
}

#: Seconds between polls of the Messages list (when polling is on for the channel).
POLL_INTERVAL = 20.0


def _factory(cfg: "ChannelConfig", ctx: "ChannelContext") -> "ChannelAdapter":
    from tray_agent_twilio.adapter import TwilioAdapter  # httpx and friends only when used

    return TwilioAdapter(cfg, ctx)


def _icon() -> str:
    return resources.files(__name__).joinpath("icon.svg").read_text(encoding="utf-8").strip()


CHANNEL_TYPE = ChannelType(
    name="sms",
    label="SMS",
    rules=RULES,
    icon_svg=_icon(),
    factory=_factory,
    settings=SETTINGS,
    secrets=SECRETS,
    business_address_setting="business_number",
    poll_interval=POLL_INTERVAL,
)


@hookimpl
def register_channel_types(register: Callable[[ChannelType], None]) -> None:
    """The ``sms`` channel type, served by Twilio."""
    register(CHANNEL_TYPE)
