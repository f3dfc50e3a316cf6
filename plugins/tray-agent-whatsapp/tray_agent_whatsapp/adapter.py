"""One configured WhatsApp channel's connection to the Cloud API: sending text and media,
the webhook verification handshake, and signed message/status notifications.

Notifications are verified (X-Hub-Signature-256 over the raw body), stored through the
context (which commits), and only then acknowledged; anything unstored gets a non-200 so
Meta delivers it again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from tray_agent import (
    MB, PRODUCT_MAX_FILE_BYTES, ChannelConfig, ChannelContext, Health, InboundFile, InboundMessage,
    InvalidInput, OutboundFile, OutboundMessage, ProviderError, SendResult, StatusUpdate,
    StorageUnavailable, WebhookRoute, report_problem,
)
from tray_agent_whatsapp import MAX_WEBHOOK_BYTES, inbound
from tray_agent_whatsapp.client import DEFAULT_API_BASE, DEFAULT_API_VERSION, GraphApi, TooLarge

log = logging.getLogger(__name__)

EVENTS_PATH = "events"
SIGNATURE_HEADER = "X-Hub-Signature-256"
CAPTION_MAX = 1024
SECRET_TTL = 60.0
IMAGE_TYPES = {"image/jpeg", "image/png"}
VIDEO_TYPES = {"video/mp4", "video/3gpp"}
AUDIO_TYPES = {"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}


@dataclass(frozen=True)
class Part:
    """One Cloud API message of an outbound message: text, or one file (with a caption)."""

    text: str = ""
    file: OutboundFile | None = None


class WhatsAppAdapter:
    def __init__(self, cfg: ChannelConfig, ctx: ChannelContext, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        s = cfg.settings
        self.cfg = cfg
        self.ctx = ctx
        self.phone_number_id = str(s.get("phone_number_id") or "")
        self.media_mode = str(s.get("media_mode") or "upload").lower()
        self._secrets: dict[str, tuple[str | None, float]] = {}
        self.api = GraphApi(str(s.get("api_base") or DEFAULT_API_BASE), str(s.get("api_version") or DEFAULT_API_VERSION),
                            self.phone_number_id, lambda: self._secret("access_token"),
                            timeout=float(s.get("timeout_seconds") or 15.0), transport=transport)
        # Parts of a multi-part message Meta already took, so a retry sends only the rest.
        self._sent_parts: dict[int, dict[int, str]] = {}

    # -- the ChannelAdapter protocol -------------------------------------------------------

    def webhook_routes(self) -> list[WebhookRoute]:
        return [
            WebhookRoute("GET", EVENTS_PATH, self._on_verify, "Meta webhook verification (callback URL)"),
            WebhookRoute("POST", EVENTS_PATH, self._on_event, "WhatsApp messages and delivery statuses",
                         max_body_bytes=MAX_WEBHOOK_BYTES),
        ]

    async def send(self, message: OutboundMessage) -> SendResult:
        done = self._sent_parts.setdefault(message.message_id, {})
        last = ""
        try:
            for i, part in enumerate(plan(message)):
                if i in done:
                    last = done[i]
                    continue
                payload = await self._payload(message, part)
                done[i] = last = await self.api.send(payload, message.attempt)
        except ProviderError as exc:
            if not exc.retryable or exc.permanent_rule:
                self._sent_parts.pop(message.message_id, None)
            raise
        self._sent_parts.pop(message.message_id, None)
        return SendResult(last)

    async def poll(self) -> None:
        return None  # push only

    async def check_health(self) -> Health:
        try:
            number = await self.api.phone_number()
        except ProviderError as exc:
            return Health(False, exc.message)
        shown = number.get("display_phone_number") or self.cfg.business_address
        name = number.get("verified_name") or "unverified name"
        quality = number.get("quality_rating")
        return Health(True, f"WhatsApp number {shown} ({name})" + (f", quality {quality}" if quality else "") + ".")

    async def aclose(self) -> None:
        await self.api.aclose()

    # -- sending ---------------------------------------------------------------------------

    async def _payload(self, message: OutboundMessage, part: Part) -> dict[str, Any]:
        base: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                                **recipient(message.customer_address)}
        if part.file is None:
            return {**base, "type": "text", "text": {"body": part.text, "preview_url": False}}
        f = part.file
        kind = media_type(f.mime_type, f.size)
        if self.media_mode == "link":
            if not f.public_url:
                raise ProviderError(f"{f.file_name} has no link WhatsApp could fetch it from.", retryable=False)
            media: dict[str, Any] = {"link": f.public_url}
        else:
            media = {"id": await self.api.upload(Path(f.path), f.mime_type, f.file_name, message.attempt)}
        if part.text and kind in ("image", "video", "document"):
            media["caption"] = part.text
        if kind == "document":
            media["filename"] = f.file_name
        return {**base, "type": kind, kind: media}

    # -- webhooks ----------------------------------------------------------------------------

    async def _on_verify(self, request: Request) -> Response:
        q = request.query_params
        expected = self._secret("verify_token") or ""
        given = q.get("hub.verify_token", "")
        if q.get("hub.mode") == "subscribe" and expected and hmac.compare_digest(given.encode(), expected.encode()):
            return PlainTextResponse(q.get("hub.challenge", ""))
        return PlainTextResponse("Webhook verification failed: wrong mode or verify token.", 403)

    async def _on_event(self, request: Request) -> Response:
        raw = await request.body()  # bounded by the route's max_body_bytes before we get here
        if not self._signed(raw, request.headers.get(SIGNATURE_HEADER)):
            return PlainTextResponse("Invalid or missing X-Hub-Signature-256.", 403)
        problems: list[str] = []
        try:
            items: list[inbound.Incoming] = []
            updates: list[StatusUpdate] = []
            for value in inbound.values(inbound.parse(raw), self.phone_number_id):
                items.extend(inbound.messages(value, problems))
                updates.extend(inbound.statuses(value, problems))
        except inbound.NotGenuine as exc:
            await report_problem(self.ctx, f"refused a notification: {exc}")
            return JSONResponse({"error": "body_too_large", "message": str(exc)}, 413)
        except inbound.BadWebhook as exc:
            await report_problem(self.ctx, f"refused a notification: {exc}")
            return PlainTextResponse(str(exc), 400)
        try:
            ready = [await self._with_media(item) for item in items]
            for m, error in zip(ready, await self.ctx.store(ready), strict=True):
                if isinstance(error, InvalidInput):  # e.g. a sender no address kind fits: never storable
                    problems.append(f"message {m.provider_message_id} was not stored: {error.message}")
                elif error is not None:
                    raise error
            if updates:
                await asyncio.to_thread(self._statuses, updates)
        except (ProviderError, StorageUnavailable) as exc:  # not stored now: Meta delivers it again
            return PlainTextResponse(exc.message, 503)
        # What was valid is stored: acknowledge, or Meta would retry the whole notification
        # for a week and every retry would fail on the same bad entry.
        for problem in problems:
            await report_problem(self.ctx, problem)
        return PlainTextResponse("ok")

    def _statuses(self, updates: list[StatusUpdate]) -> None:
        for u in updates:
            self.ctx.update_status(u)

    async def _with_media(self, item: inbound.Incoming) -> InboundMessage:
        """The message with its file downloaded (lookup, then the short-lived URL). A file
        that can never be fetched is named in the text; a passing failure raises, so the
        notification is refused and Meta sends it again."""
        ref = item.media
        if ref is None:
            return item.message
        note = ""
        try:
            info = await self.api.media_info(ref.media_id)
            size = int(info.get("file_size") or 0)
            if size > PRODUCT_MAX_FILE_BYTES:
                raise TooLarge(size)
            data, ctype = await self.api.download(str(info.get("url") or ""), PRODUCT_MAX_FILE_BYTES)
        except TooLarge as exc:
            note = (f"[{ref.file_name} ({exc.args[0] / MB:.0f} MB) was not received: files are limited to "
                    f"{PRODUCT_MAX_FILE_BYTES / MB:.0f} MB.]")
        except ProviderError as exc:
            if exc.retryable:
                raise
            note = f"[{ref.file_name} could not be downloaded from WhatsApp: {exc.message}]"
        m = item.message
        if note:
            text = f"{m.text}\n{note}" if m.text else note
            return InboundMessage(m.provider_message_id, m.customer_address, text, m.customer_name, m.sent_at, (), m.meta)
        mime = (ref.mime_type or ctype.split(";")[0].strip()) or "application/octet-stream"
        return InboundMessage(m.provider_message_id, m.customer_address, m.text, m.customer_name, m.sent_at,
                              (InboundFile(ref.file_name, mime, data),), m.meta)

    def _signed(self, raw: bytes, header: str | None) -> bool:
        if not header or not header.startswith("sha256="):
            return False
        given = header[len("sha256="):].strip().lower().encode("ascii", "replace")
        for fresh in (False, True):  # the secret may have been rotated since it was cached
            secret = self._secret("app_secret", fresh=fresh)
            if secret and hmac.compare_digest(hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest().encode(), given):
                return True
        return False

    def _secret(self, name: str, fresh: bool = False) -> str | None:
        # The keyring can take milliseconds per lookup; webhooks must not pay that each time.
        value, at = self._secrets.get(name, (None, 0.0))
        if fresh or value is None or time.monotonic() - at > SECRET_TTL:
            value = self.ctx.secret(name)
            self._secrets[name] = (value, time.monotonic())
        return value


def recipient(address: str) -> dict[str, str]:
    """Whom a send goes to: a phone number as ``to`` (digits), a customer known only by a
    business-scoped user id as ``recipient``."""
    if address.startswith("+"):
        return {"to": address.lstrip("+")}
    return {"recipient": address}


def media_type(mime: str, size: int) -> str:
    """The Cloud API message type a file goes as; what Meta takes only as a file is a document."""
    mime = mime.split(";")[0].strip().lower()
    if mime in IMAGE_TYPES:
        return "image"
    if mime in VIDEO_TYPES:
        return "video"
    if mime in AUDIO_TYPES:
        return "audio"
    if mime == "image/webp" and size <= 100_000:
        return "sticker"
    return "document"


def plan(message: OutboundMessage) -> list[Part]:
    """The Cloud API messages for one outbound message. Files marked as links (over Meta's
    limit for their type) become lines of the text; a lone captionable file carries the
    text as its caption; otherwise the text goes first, then each file."""
    links = [f"{f.file_name}: {f.public_url}" for f in message.files if f.as_link]
    native = [f for f in message.files if not f.as_link]
    text = "\n".join([message.text, *links]) if message.text and links else message.text or "\n".join(links)
    if len(native) == 1 and text and len(text) <= CAPTION_MAX and \
            media_type(native[0].mime_type, native[0].size) in ("image", "video", "document"):
        return [Part(text, native[0])]
    parts = [Part(text)] if text else []
    return parts + [Part("", f) for f in native]
