"""One Telegram bot as a Tray Agent channel: long-polls ``getUpdates`` (or takes the
webhook, verified by ``X-Telegram-Bot-Api-Secret-Token``), ingests private-chat messages
and their files, and sends replies with ``sendMessage`` / ``sendDocument``."""

from __future__ import annotations

import hmac
import json
import logging
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tray_agent import (
    ChannelConfig, ChannelContext, Health, InboundFile, InboundMessage, InvalidInput, OutboundFile,
    OutboundMessage, ProviderError, SendResult, WebhookRoute,
)
from tray_agent_telegram.botapi import DEFAULT_API_BASE, BotApi
from tray_agent_telegram.limits import DOWNLOAD_LIMIT, UPLOAD_LIMIT
from tray_agent_telegram.updates import ParsedMessage, parse_update, update_id

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CAPTION_LIMIT = 1024
MODES = ("polling", "webhook")


class TelegramAdapter:
    def __init__(self, config: ChannelConfig, ctx: ChannelContext,
                 client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.ctx = ctx
        settings = config.settings
        self.mode = str(settings.get("mode") or "polling")
        if self.mode not in MODES:
            raise InvalidInput(f"Telegram mode must be 'polling' or 'webhook', not {self.mode!r}.")
        try:
            self.poll_timeout = int(settings.get("poll_timeout", 25))
        except (TypeError, ValueError):
            raise InvalidInput("Telegram poll_timeout must be a whole number of seconds.") from None
        self.register_webhook = str(settings.get("register_webhook", "true")).lower() not in ("0", "false", "no")
        self.api = BotApi(ctx.secret("bot_token"), str(settings.get("api_base") or DEFAULT_API_BASE), client)
        #: The next update_id to ask for: everything below it is acknowledged to Telegram.
        self.offset: int | None = None
        self._webhook_set = False
        #: Parts of a message already delivered, so a retry after a partial failure
        #: (text sent, document rate-limited) does not send the text twice.
        self._delivered: dict[int, dict[str, str]] = {}

    # -- outbound ------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        chat_id = message.customer_address
        done = self._delivered.setdefault(message.message_id, {})
        text = message.text
        uploads: list[OutboundFile] = []
        for f in message.files:
            if f.as_link or f.size > UPLOAD_LIMIT:
                if not f.public_url:
                    raise ProviderError(f"{f.file_name} is {f.size / 1e6:.1f} MB, over Telegram's 50 MB upload "
                                        "limit, and no download link could be made for it.", retryable=False)
                text += f"\n{f.file_name}: {f.public_url}"
            else:
                uploads.append(f)
        caption = None
        if len(uploads) == 1 and len(text) <= CAPTION_LIMIT:
            caption, text = text or None, ""  # one file with a short text: one Telegram message
        if text and "text" not in done:
            result = await self.api.call("sendMessage", {"chat_id": chat_id, "text": text})
            done["text"] = _message_id(chat_id, result)
        for i, f in enumerate(uploads):
            key = f"file{i}"
            if key in done:
                continue
            data = await _read(f)
            result = await self.api.call(
                "sendDocument", {"chat_id": chat_id, "caption": caption if i == 0 else None},
                files={"document": (f.file_name, data, f.mime_type)}, timeout=300.0)
            done[key] = _message_id(chat_id, result)
        self._delivered.pop(message.message_id, None)
        last = list(done.values())[-1] if done else None
        if last is None:
            raise ProviderError("There was nothing to send.", retryable=False)
        return SendResult(last, "sent")

    # -- inbound: long polling -----------------------------------------------------------

    async def poll(self) -> None:
        if self.mode == "webhook":
            if self.register_webhook and not self._webhook_set:
                await self._set_webhook()
            return
        params: dict[str, Any] = {"timeout": self.poll_timeout, "allowed_updates": ["message"]}
        if self.offset is not None:
            params["offset"] = self.offset
        try:
            updates = await self.api.call("getUpdates", params, timeout=self.poll_timeout + 15)
        except ProviderError as exc:
            if exc.provider_code == 409:
                raise ProviderError("A webhook is set for this bot, so Telegram refuses getUpdates; set the "
                                    "channel's mode to 'webhook' or delete the webhook.", retryable=False,
                                    provider_code=409) from None
            raise
        if not isinstance(updates, list):
            raise ProviderError("Telegram answered getUpdates with something other than a list.", retryable=True)
        for update in sorted(updates, key=lambda u: update_id(u) or 0):
            uid = update_id(update)
            parsed = parse_update(update)
            if parsed is not None:
                # A retryable download failure stops here without acknowledging: the
                # same update comes back on the next poll (ingest is idempotent).
                await self._ingest(parsed)
            if uid is not None:
                self.offset = max(self.offset or 0, uid + 1)

    # -- inbound: webhook ----------------------------------------------------------------

    def webhook_routes(self) -> list[WebhookRoute]:
        return [WebhookRoute("POST", "update", self._webhook, "Telegram updates (setWebhook with secret_token)")]

    async def _webhook(self, request: Request) -> Response:
        secret = self.ctx.secret("webhook_secret") or ""
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return JSONResponse({"error": "wrong or missing secret token"}, 403)
        try:
            update = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, 400)
        parsed = parse_update(update)
        if parsed is None:
            return JSONResponse({"ignored": True})  # 2xx, or Telegram re-sends it for 24 h
        try:
            await self._ingest(parsed)
        except ProviderError as exc:
            # Telegram re-delivers a webhook that failed: right for a passing outage.
            log.warning("Telegram update could not be stored yet: %s", exc.message)
            return JSONResponse({"error": exc.message}, 503)
        return JSONResponse({"ok": True})

    async def _set_webhook(self) -> None:
        secret = self.ctx.secret("webhook_secret")
        if not secret:
            raise ProviderError("Webhook mode needs the webhook_secret secret.", retryable=False)
        await self.api.call("setWebhook", {"url": self._webhook_url(), "secret_token": secret,
                                           "allowed_updates": ["message"]})
        self._webhook_set = True

    def _webhook_url(self) -> str:
        return f"{self.ctx.public_base_url}/webhooks/{self.config.id}/update"

    # -- storing -------------------------------------------------------------------------

    async def _ingest(self, parsed: ParsedMessage) -> int:
        files: list[InboundFile] = []
        notes: list[str] = []
        for ref in parsed.files:
            if ref.size is not None and ref.size > DOWNLOAD_LIMIT:
                notes.append(f"[{ref.file_name} was not downloaded: bots can fetch files up to 20 MB]")
                continue
            try:
                _path, data = await self.api.download(ref.file_id)
            except ProviderError as exc:
                if exc.retryable:
                    raise
                notes.append(f"[{ref.file_name} could not be downloaded: {exc.message}]")
                continue
            files.append(InboundFile(ref.file_name, ref.mime_type, data))
        text = "\n".join([parsed.text, *notes]).strip() if notes else parsed.text
        return self.ctx.receive(InboundMessage(
            provider_message_id=parsed.provider_message_id, customer_address=parsed.chat_id, text=text,
            customer_name=parsed.customer_name, sent_at=parsed.sent_at, files=tuple(files), meta=parsed.meta))

    # -- the rest of the contract ------------------------------------------------------------

    async def check_health(self) -> Health:
        try:
            me = await self.api.call("getMe")
            info = await self.api.call("getWebhookInfo")
        except ProviderError as exc:
            return Health(False, exc.message)
        name = f"@{me.get('username')}" if isinstance(me, dict) else "the bot"
        hook = info.get("url", "") if isinstance(info, dict) else ""
        if self.mode == "polling" and hook:
            return Health(False, f"{name}: a webhook is set ({hook}), so polling is refused; use mode=webhook.")
        if self.mode == "webhook" and self._webhook_set and hook != self._webhook_url():
            return Health(False, f"{name}: Telegram's webhook points at {hook or 'nothing'}.")
        last_error = info.get("last_error_message") if isinstance(info, dict) else None
        if self.mode == "webhook" and last_error:
            return Health(False, f"{name}: Telegram reports the webhook failing: {last_error}")
        return Health(True, f"{name} ({self.mode})")

    async def aclose(self) -> None:
        if self.mode == "polling" and self.offset is not None:
            try:  # confirm what we stored, so a restart does not fetch it again
                await self.api.call("getUpdates", {"offset": self.offset, "limit": 1, "timeout": 0}, timeout=5.0)
            except ProviderError:
                pass
        await self.api.aclose()


def _message_id(chat_id: str, result: Any) -> str:
    mid = result.get("message_id") if isinstance(result, dict) else None
    if mid is None:
        raise ProviderError("Telegram accepted the message but returned no message_id.", retryable=False)
    return f"{chat_id}:{mid}"


async def _read(f: OutboundFile) -> bytes:
    import asyncio

    return await asyncio.to_thread(Path(f.path).read_bytes)
