"""Registers the Telegram channel type: a bot that customers write to. Its rules say what
the Bot API allows: only the customer can start, any time later the bot may answer, chat
ids are opaque (not phone numbers), uploads stop at 50 MB."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

from tray_agent import (
    PRODUCT_MAX_FILE_BYTES, ChannelConfig, ChannelContext, ChannelRules, ChannelType, hookimpl,
)
from tray_agent_telegram.limits import UPLOAD_LIMIT

if TYPE_CHECKING:
    from tray_agent_telegram.adapter import TelegramAdapter

RULES = ChannelRules(
    # A bot cannot message a user who has not written to it first.
    business_can_start=False,
    # No reply window: once the customer has written, the bot may answer at any time.
    reply_window=None,
    auto_close_after=timedelta(days=7),
    auto_close_configurable=True,
    max_file_bytes=PRODUCT_MAX_FILE_BYTES,
    # sendDocument uploads stop at 50 MB; anything bigger goes as the agent's download link.
    native_file_limits={"": UPLOAD_LIMIT},
    files_as_links=True,
    address_kind="opaque",
    max_text_chars=4096,
)


def _build(config: ChannelConfig, ctx: ChannelContext) -> "TelegramAdapter":
    # Imported on first use: httpx (and what its __init__ pulls in) stays out of a daemon
    # with no Telegram channel configured.
    from tray_agent_telegram.adapter import TelegramAdapter

    return TelegramAdapter(config, ctx)


CHANNEL_TYPE = ChannelType(
    name="telegram",
    label="Telegram",
    rules=RULES,
    icon_svg=resources.files("tray_agent_telegram").joinpath("icon.svg").read_text(),
    factory=_build,
    settings={
        "bot_username": "The bot's @username, shown to agents as the business address",
        "mode": "'polling' (getUpdates long poll, the default) or 'webhook' (needs a public URL)",
        "poll_timeout": "Seconds each getUpdates long poll waits for updates (default 25)",
        "register_webhook": "In webhook mode, call setWebhook at start (default true)",
        "api_base": "The Bot API root (default: Telegram's; tests point it at a fake)",
    },
    secrets={
        "bot_token": "The bot's token from @BotFather",
        "webhook_secret": "Secret token Telegram sends with webhook calls (webhook mode)",
    },
    # Polling (the default) needs only the token.
    optional_secrets=frozenset({"webhook_secret"}),
    business_address_setting="bot_username",
    # Long polling holds each getUpdates open for poll_timeout; this is only the pause between.
    poll_interval=1.0,
)


@hookimpl
def register_channel_types(register: Any) -> None:
    register(CHANNEL_TYPE)
