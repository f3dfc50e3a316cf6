"""One configured SMS channel's connection to Twilio: send, webhooks, polling, recovery.

Inbound webhooks are verified (X-Twilio-Signature over the URL the provider was given),
stored through the context (which commits), and only then acknowledged with TwiML.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from datetime import datetime, timedelta
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from tray_agent import (
    MB, PRODUCT_MAX_FILE_BYTES, ChannelConfig, ChannelContext, Health, InboundFile, InboundMessage,
    OutboundMessage, ProviderError, SendResult, StorageUnavailable, TrayAgentError, WebhookRoute,
    report_problem,
)
from tray_agent_twilio import MAX_WEBHOOK_BYTES, MMS_MAX_BYTES, errors, inbound, signature
from tray_agent_twilio.client import DEFAULT_API_BASE, TooLarge, TwilioApi

log = logging.getLogger(__name__)

INBOUND_PATH = "inbound"
STATUS_PATH = "status"
TWIML_EMPTY = "<Response/>"
MAX_MEDIA = 10
#: Provider ids remembered to skip re-reading them while polling (the core dedupes anyway).
SEEN_LIMIT = 20_000
#: Twilio and the agent disagree about the time by up to this much when matching a lost send.
CLOCK_SKEW = timedelta(minutes=5)
SECRET_TTL = 60.0


class TwilioAdapter:
    def __init__(self, cfg: ChannelConfig, ctx: ChannelContext, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        s = cfg.settings
        self.cfg = cfg
        self.ctx = ctx
        self.business = cfg.business_address
        self.service_sid = str(s.get("messaging_service_sid") or "")
        self.poll_mode = str(s.get("poll") or "auto").lower()
        #: How long a send waits for Twilio's answer: after a crash mid-send, the replica taking
        #: the outbox over asks ``find_sent`` only once a send still in flight would have landed.
        self.send_timeout = float(s.get("timeout_seconds") or 15.0)
        self.api = TwilioApi(str(s.get("api_base") or DEFAULT_API_BASE), str(s.get("account_sid") or ""),
                             self._token, timeout=self.send_timeout, transport=transport)
        self._token_cache: tuple[str | None, float] = (None, 0.0)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._poll_floor: datetime | None = None
        self.page_size = 100
        # Sends whose connection broke after the request went out: look before resending.
        self._ambiguous: set[int] = set()

    # -- the ChannelAdapter protocol -------------------------------------------------------

    def webhook_routes(self) -> list[WebhookRoute]:
        return [
            WebhookRoute("POST", INBOUND_PATH, self._on_inbound, "Twilio number: \"A message comes in\" webhook",
                         max_body_bytes=MAX_WEBHOOK_BYTES),
            WebhookRoute("POST", STATUS_PATH, self._on_status, "Twilio status callbacks (requested with each send)",
                         max_body_bytes=MAX_WEBHOOK_BYTES),
        ]

    async def send(self, message: OutboundMessage) -> SendResult:
        if message.message_id in self._ambiguous:
            found = await self._find(message)
            if found:
                self._ambiguous.discard(message.message_id)
                return SendResult(found)
        form = self._form(message)
        try:
            resource = await self.api.create_message(form)
        except errors.Ambiguous:
            self._ambiguous.add(message.message_id)
            raise
        self._ambiguous.discard(message.message_id)
        sid = str(resource.get("sid") or "")
        if not sid:
            raise ProviderError("Twilio accepted the request but returned no message SID.", retryable=False)
        # Twilio's "queued" means it has the message: for the inbox that is "sent"; the
        # status callbacks take it to delivered (or failed) from here.
        return SendResult(sid, "failed" if resource.get("status") == "failed" else "sent")

    async def find_sent(self, message_id: int) -> str | None:
        """After a crash mid-send: the SID of this message if Twilio already has it."""
        lookup = getattr(self.ctx, "outbound_message", None)
        message = lookup(message_id) if lookup is not None else None
        if message is None:
            return None
        return await self._find(message)

    async def poll(self) -> None:
        if self._polling():
            await self.poll_once()

    async def check_health(self) -> Health:
        try:
            account = await self.api.account()
        except ProviderError as exc:
            return Health(False, exc.message)
        status = str(account.get("status") or "active")
        name = str(account.get("friendly_name") or self.api.account_sid)
        if status != "active":
            return Health(False, f"The Twilio account {name} is {status}.")
        return Health(True, f"Twilio account {name} is active; sending from {self.service_sid or self.business}.")

    async def aclose(self) -> None:
        await self.api.aclose()

    # -- sending ---------------------------------------------------------------------------

    def _form(self, message: OutboundMessage) -> list[tuple[str, str]]:
        body, media = compose(message)
        if len(body) > 1600:
            raise ProviderError(f"The message and its file links are {len(body)} characters; SMS takes up to 1600. "
                                "Send fewer files at once.", retryable=False, provider_code=21617)
        form = [("To", message.customer_address)]
        form.append(("MessagingServiceSid", self.service_sid) if self.service_sid else ("From", self.business))
        if body:
            form.append(("Body", body))
        form.extend(("MediaUrl", url) for url in media)
        if self.ctx.public_base_url and not self._hidden_from_provider():
            form.append(("StatusCallback", self.webhook_url(STATUS_PATH)))
        return form

    async def _find(self, message: OutboundMessage) -> str | None:
        """The SID of this message if Twilio has it: an outbound message to this customer
        with this body, created after it was queued (less clock skew), that no other message
        of the channel holds. Identical texts are normal ("Thanks!"): a SID another message
        has is never this one's, and two candidates are no answer (ProviderError: the
        message fails visibly rather than being sent twice or taking another's SID)."""
        body, _media = compose(message)
        params = {"To": message.customer_address, "PageSize": "50"}
        if not self.service_sid:
            params["From"] = self.business
        since = (message.created_at - CLOCK_SKEW) if message.created_at else None
        page = await self.api.list_messages(params)
        candidates: list[str] = []
        for _ in range(3):  # newest first: a lost send is on the first page or two
            older = False
            for m in page.get("messages") or []:
                created = inbound.rfc2822(m.get("date_created"))
                if since is not None and created is not None and created < since:
                    older = True
                    break
                if str(m.get("direction", "")).startswith("outbound") and (m.get("body") or "") == body:
                    candidates.append(str(m["sid"]))
            if older or not page.get("next_page_uri"):
                break
            page = await self.api.list_messages(page_uri=page["next_page_uri"])
        held = getattr(self.ctx, "provider_ids_held", None)
        if held is not None and candidates:
            taken = held(candidates, message.message_id)
            candidates = [c for c in candidates if c not in taken]
        if len(candidates) > 1:
            raise ProviderError(f"Twilio holds {len(candidates)} messages that could be this one; it was not "
                                "sent again in case one of them is it.", retryable=False)
        return candidates[0] if candidates else None

    # -- webhooks ----------------------------------------------------------------------------

    def webhook_url(self, path: str) -> str:
        return f"{self.ctx.public_base_url}/webhooks/{self.ctx.channel_id}/{path}"

    async def _on_inbound(self, request: Request) -> Response:
        params, denied = await self._verified(request, INBOUND_PATH)
        if denied is not None:
            return denied
        form = inbound.first(params)
        try:
            message = await self._inbound_message(form, inbound.inbound_media(form))
            [error] = await self.ctx.store([message])
            if error is not None:
                raise error
        except inbound.NotGenuine as exc:
            await report_problem(self.ctx, f"refused an inbound webhook: {exc}")
            return JSONResponse({"error": "body_too_large", "message": str(exc)}, 413)
        except StorageUnavailable as exc:
            return PlainTextResponse(exc.message, 503)  # not stored: let Twilio's fallback retry
        except (inbound.BadWebhook, TrayAgentError) as exc:
            # Signed, yet never storable: a retry would fail the same way, so acknowledge
            # and record it for `doctor` rather than have Twilio log an error for ever.
            problem = exc.message if isinstance(exc, TrayAgentError) else str(exc)
            await report_problem(self.ctx, f"inbound message {form.get('MessageSid', '?')[:64]} was not stored: {problem}")
            return Response(TWIML_EMPTY, media_type="text/xml")
        self._remember(message.provider_message_id)
        return Response(TWIML_EMPTY, media_type="text/xml")

    async def _on_status(self, request: Request) -> Response:
        params, denied = await self._verified(request, STATUS_PATH)
        if denied is not None:
            return denied
        try:
            update = inbound.status_update(inbound.first(params))
            if update is not None:
                await asyncio.to_thread(self.ctx.update_status, update)
        except inbound.BadWebhook as exc:
            await report_problem(self.ctx, f"a status callback was skipped: {exc}")
        except StorageUnavailable as exc:
            return PlainTextResponse(exc.message, 503)
        return Response(TWIML_EMPTY, media_type="text/xml")

    async def _verified(self, request: Request, path: str) -> tuple[list[tuple[str, str]], Response | None]:
        """The form's parameters, or a 403 when X-Twilio-Signature does not match."""
        try:
            params = inbound.parse_form(await request.body())
        except inbound.BadWebhook as exc:
            return [], PlainTextResponse(str(exc), 400)
        # Only the URL we gave Twilio (built from `[api] public_url`, else our own address)
        # counts: a URL rebuilt from the request's Host header would accept a request signed
        # for another install's URL with the same path and token, replayed here.
        query = request.url.query
        urls = [self.webhook_url(path) + (f"?{query}" if query else "")]
        given = request.headers.get(signature.HEADER)
        algorithm = signature.algorithm_from(request.headers.get(signature.SETTINGS_HEADER))
        if signature.is_valid(self._token() or "", urls, params, given, algorithm):
            return params, None
        # The token may have been rotated since it was cached: look once more.
        if given and signature.is_valid(self._token(fresh=True) or "", urls, params, given, algorithm):
            return params, None
        return [], PlainTextResponse("Invalid or missing X-Twilio-Signature.", 403)

    def _token(self, fresh: bool = False) -> str | None:
        # The keyring can take milliseconds per lookup; webhooks must not pay that each time.
        token, at = self._token_cache
        if fresh or token is None or time.monotonic() - at > SECRET_TTL:
            token = self.ctx.secret("auth_token")
            self._token_cache = (token, time.monotonic())
        return token

    # -- inbound messages (webhook and polling) ---------------------------------------------

    async def _inbound_message(self, form: dict[str, str], refs: list[inbound.MediaRef]) -> InboundMessage:
        """The message with its media downloaded. A file that cannot be fetched is named in
        the text instead: Twilio does not resend webhooks, so the text must not be lost."""
        sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
        files: list[InboundFile] = []
        notes: list[str] = []
        for i, ref in enumerate(refs[:MAX_MEDIA]):
            try:
                data, ctype = await self.api.download(ref.url, PRODUCT_MAX_FILE_BYTES)
            except TooLarge as exc:
                notes.append(f"[A {ref.content_type} file of {exc.args[0] / MB:.0f} MB was not received: "
                             f"files are limited to {PRODUCT_MAX_FILE_BYTES / MB:.0f} MB.]")
                continue
            except ProviderError as exc:
                log.warning("channel %s: media %d of %s could not be fetched: %s", self.cfg.name, i, sid, exc.message)
                notes.append(f"[A {ref.content_type} file could not be downloaded from Twilio: {exc.message}]")
                continue
            mime = (ctype or ref.content_type).split(";")[0].strip() or ref.content_type
            files.append(InboundFile(inbound.media_file_name(sid, i, mime), mime, data))
        return inbound.inbound_message(form, files, notes)

    def _polling(self) -> bool:
        if self.poll_mode in ("on", "true", "yes", "1"):
            return True
        if self.poll_mode != "auto":
            return False
        return self._hidden_from_provider()

    def _hidden_from_provider(self) -> bool:
        """Twilio cannot call a loopback webhook URL: then the Messages list is the only
        way in, and asking for status callbacks would only fill Twilio's error log."""
        return _is_loopback(self.ctx.public_base_url) and not _is_loopback(self.api.api_base)

    async def poll_once(self) -> int:
        """Read the Messages list to the business number (newest first, following
        next_page_uri) and store inbound messages not seen yet. Returns how many."""
        params = {"To": self.business, "PageSize": str(self.page_size)}
        if self._poll_floor is not None:
            params["DateSent>"] = self._poll_floor.date().isoformat()
        page = await self.api.list_messages(params)
        stored = 0
        newest: datetime | None = None
        while True:
            older = False
            for m in page.get("messages") or []:
                sent = inbound.rfc2822(m.get("date_sent") or m.get("date_created"))
                if sent is not None:
                    newest = sent if newest is None or sent > newest else newest
                    # The first poll has no date floor: a day before the newest message is enough.
                    if self._poll_floor is None and newest - sent > timedelta(days=1):
                        older = True
                        continue
                sid = str(m.get("sid") or "")
                if m.get("direction") != "inbound" or not sid or sid in self._seen:
                    continue
                stored += await self._ingest_listed(m)
            nxt = page.get("next_page_uri")
            if older or not nxt:
                break
            page = await self.api.list_messages(page_uri=nxt)
        if newest is not None:
            # Dated by Twilio's clock, not ours, so a skewed desktop clock misses nothing.
            floor = newest - timedelta(days=1)
            self._poll_floor = floor if self._poll_floor is None else max(self._poll_floor, floor)
        return stored

    async def _ingest_listed(self, m: dict[str, Any]) -> int:
        form = inbound.list_entry_form(m)
        refs: list[inbound.MediaRef] = []
        if int(m.get("num_media") or 0) > 0:
            for item in await self.api.media_list(form["MessageSid"]):
                uri = str(item.get("uri") or "")
                refs.append(inbound.MediaRef(uri.removesuffix(".json"), str(item.get("content_type") or "")))
        stored = 1
        try:
            message = await self._inbound_message(form, refs)
            [error] = await self.ctx.store([message])
            if error is not None:
                raise error
        except StorageUnavailable:
            raise  # not stored: the next poll tries again
        except (inbound.BadWebhook, TrayAgentError) as exc:  # can never be stored: do not try forever
            await report_problem(self.ctx, f"listed message {form['MessageSid'][:64]} was skipped: "
                               f"{exc.message if isinstance(exc, TrayAgentError) else exc}")
            stored = 0
        self._remember(form["MessageSid"])
        return stored

    def _remember(self, sid: str) -> None:
        self._seen[sid] = None
        while len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)


def compose(message: OutboundMessage) -> tuple[str, list[str]]:
    """The Body and MediaUrls for a message. Files go as MMS media while the whole message
    stays within Twilio's ~5 MB; the rest (and files marked as links) as download links."""
    text = message.text or ""
    budget = MMS_MAX_BYTES - len(text.encode("utf-8"))
    media: list[str] = []
    links: list[str] = []
    for f in message.files:
        if not f.public_url:
            raise ProviderError(f"{f.file_name} has no link Twilio could fetch it from.", retryable=False)
        if not f.as_link and len(media) < MAX_MEDIA and f.size <= budget:
            media.append(f.public_url)
            budget -= f.size
        else:
            links.append(f"{f.file_name}: {f.public_url}")
    body = "\n".join([text, *links]) if text and links else text or "\n".join(links)
    return body, media


def _is_loopback(url: str) -> bool:
    host = urlsplit(url or "").hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
