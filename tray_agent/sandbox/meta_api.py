"""The sandbox's Meta: the WhatsApp Business Cloud API under /v{NN}.0/ with Bearer auth,
text/media/template sends, media upload → id → URL → authenticated download with Meta's
per-type size caps, the 24-hour rule (131047 at once or as a later failed status), and
signed notifications to the registered callback URL, which is verified by the GET
handshake first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from tray_agent.channels import tls_context
from tray_agent.core import phone
from tray_agent.core.errors import InvalidInput
from tray_agent.sandbox.state import BSUID, WaMessage, bsuid_for
from tray_agent.sandbox.webhooks import Delivery, progress

router = APIRouter(include_in_schema=False)
V = "/v{version}"
LIMITS = {"image": 5_000_000, "audio": 16_000_000, "video": 16_000_000, "document": 100_000_000, "sticker": 100_000}
REENGAGE: dict[str, Any] = {"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
            "error_data": {"details": "Message failed to send because more than 24 hours have passed since the "
                                      "customer last replied to this number."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}
ORDER = ["accepted", "sent", "delivered", "read"]


def meta_error(status: int, code: int, message: str, details: str = "",
               headers: dict[str, str] | None = None) -> JSONResponse:
    err: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                           "fbtrace_id": secrets.token_urlsafe(9)}
    if details:
        err["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return JSONResponse({"error": err}, status, headers=headers)


def _sb(request: Request) -> Any:
    return request.app.state.sandbox


def _unauthorised(request: Request) -> JSONResponse | None:
    token = _sb(request).state.creds.meta_access_token
    auth = request.headers.get("authorization", "")
    given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if given and hmac.compare_digest(given.encode(), token.encode()):
        return None
    return meta_error(401, 190, "Invalid OAuth access token - Cannot parse access token")


def wa_type(mime: str) -> str:
    mime = mime.split(";")[0].strip().lower()
    if mime in ("image/jpeg", "image/png"):
        return "image"
    if mime in ("video/mp4", "video/3gpp"):
        return "video"
    if mime.startswith("audio/"):
        return "audio"
    if mime == "image/webp":
        return "sticker"
    return "document"


def _no_object(node: str) -> JSONResponse:
    return meta_error(400, 100, f"Unsupported post request. Object with ID '{node}' does not exist, cannot be loaded "
                                "due to missing permissions, or does not support this operation.")


# -- the Graph API --------------------------------------------------------------------------------


@router.post(V + "/{node}/messages")
async def send_message(version: str, node: str, request: Request) -> Response:
    if (denied := _unauthorised(request)) is not None:
        return denied
    sb = _sb(request)
    state = sb.state
    if node not in state.wa_hooks:
        return _no_object(node)
    try:
        body = await request.json()
    except ValueError:
        return meta_error(400, 100, "(#100) The request body is not valid JSON.")
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return meta_error(400, 100, "(#100) The parameter messaging_product is required.")
    if body.get("status") == "read":
        return JSONResponse({"success": True})
    given = str(body.get("to") or "") or str(body.get("recipient") or "")
    try:
        wa_id = _recipient(state, body)
    except InvalidInput as exc:
        return meta_error(400, 100, "(#100) Invalid parameter", exc.message)
    kind = str(body.get("type") or "text")
    closed = kind != "template" and not state.window_open(node, wa_id)
    if closed and state.window_mode == "sync":
        return meta_error(400, 131047, "(#131047) Re-engagement message", REENGAGE["error_data"]["details"])
    msg = WaMessage(id=state.wamid(), phone_number_id=node, customer=wa_id, direction="outbound", type=kind, text="",
                    timestamp=state.now(), status="accepted")
    content = v if isinstance(v := body.get(kind), dict) else {}
    if kind == "text":
        msg.text = str(content.get("body") or "")
        if not msg.text or len(msg.text) > 4096:
            return meta_error(400, 100, "(#100) Invalid parameter", "text.body must be 1 to 4096 characters.")
    elif kind == "template":
        msg.text = f"[template {content.get('name', '?')}]"
    elif kind in LIMITS:
        problem = await _attach(sb, msg, kind, content)
        if problem is not None:
            return problem
    else:
        return meta_error(400, 131051, "(#131051) Unsupported message type", f"type {kind!r} is not supported.")
    with state.lock:
        state.wa[msg.id] = msg
    if closed:  # the Cloud API's usual way: accepted now, refused in a later status
        sb.deliverer.spawn(progress(sb.deliverer, [status_step(sb, msg, "failed", REENGAGE)]))
    elif state.auto_status:
        steps = ["sent", "delivered"] + (["read"] if state.auto_read else [])
        sb.deliverer.spawn(progress(sb.deliverer, [status_step(sb, msg, s) for s in steps]))
    return JSONResponse({"messaging_product": "whatsapp", "contacts": [{"input": given, **identity(wa_id)}],
                         "messages": [{"id": msg.id}]})


def _recipient(state: Any, body: dict[str, Any]) -> str:
    """The customer a send names: a phone number as ``to``, or a business-scoped user id
    as ``recipient`` (``to`` wins when both are given, as at Meta)."""
    if body.get("to"):
        try:
            return phone.normalize("+" + str(body["to"]).lstrip("+")).lstrip("+")
        except InvalidInput:
            raise InvalidInput(f"'{body.get('to')}' is not a valid WhatsApp number.") from None
    uid = str(body.get("recipient") or "")
    if not BSUID.fullmatch(uid):
        raise InvalidInput("The parameter to (a phone number) or recipient (a business-scoped user id) is required.")
    if uid in state.wa_usernames:
        return uid
    with state.lock:  # a phone customer's BSUID reaches the same customer as their number
        known = {bsuid_for(m.customer): m.customer for m in state.wa.values() if m.customer.isdigit()}
    if uid not in known:
        raise InvalidInput(f"No WhatsApp user has the business-scoped user id {uid}.")
    return known[uid]


def identity(customer: str) -> dict[str, str]:
    """A customer's ids as Meta's payloads carry them: ``wa_id`` only where the phone number
    is shared, ``user_id`` (the BSUID) always."""
    if customer.isdigit():
        return {"wa_id": customer, "user_id": bsuid_for(customer)}
    return {"user_id": customer}


async def _attach(sb: Any, msg: WaMessage, kind: str, content: dict[str, Any]) -> JSONResponse | None:
    state = sb.state
    msg.text = str(content.get("caption") or "")
    if content.get("id"):
        blob_id = state.wa_media.get(str(content["id"]))
        if blob_id is None:
            return meta_error(400, 131053, "(#131053) Media upload error", f"Unknown media id {content['id']}.")
    elif content.get("link"):
        try:
            async with httpx.AsyncClient(follow_redirects=True, timeout=15.0, verify=tls_context()) as http:
                r = await http.get(str(content["link"]))
        except httpx.HTTPError:
            return meta_error(400, 131053, "(#131053) Media upload error", "The media link could not be fetched.")
        if r.status_code != 200:
            return meta_error(400, 131053, "(#131053) Media upload error", f"The media link answered HTTP {r.status_code}.")
        if len(r.content) > LIMITS[kind]:
            return meta_error(400, 131053, "(#131053) Media upload error", f"{kind} files are limited to {LIMITS[kind]} bytes.")
        ctype = r.headers.get("content-type", "application/octet-stream").split(";")[0]
        name = str(content.get("filename") or "") or str(content["link"]).rsplit("/", 1)[-1]
        blob_id = state.add_blob(r.content, ctype, name).id
    else:
        return meta_error(400, 100, "(#100) Invalid parameter", f"{kind} needs an id or a link.")
    msg.blob_id = blob_id
    msg.file_name = str(content.get("filename") or "") or state.blobs[blob_id].file_name
    return None


@router.post(V + "/{node}/media")
async def upload_media(version: str, node: str, request: Request) -> Response:
    if (denied := _unauthorised(request)) is not None:
        return denied
    state = _sb(request).state
    if node not in state.wa_hooks:
        return _no_object(node)
    form = await request.form()
    upload = form.get("file")
    if form.get("messaging_product") != "whatsapp" or upload is None or isinstance(upload, str):
        return meta_error(400, 100, "(#100) Invalid parameter", "messaging_product=whatsapp and a file are required.")
    data = await upload.read()
    mime = str(form.get("type") or upload.content_type or "application/octet-stream")
    kind = wa_type(mime)
    if len(data) > LIMITS[kind]:
        return meta_error(400, 131053, "(#131053) Media upload error",
                          f"{kind} files are limited to {LIMITS[kind] // 1000:,} KB; this one is {len(data) // 1000:,} KB.")
    blob = state.add_blob(data, mime, upload.filename or "file")
    media_id = str(secrets.randbelow(9 * 10**14) + 10**14)
    with state.lock:
        state.wa_media[media_id] = blob.id
    return JSONResponse({"id": media_id})


@router.get(V + "/{node}")
async def get_node(version: str, node: str, request: Request) -> Response:
    if (denied := _unauthorised(request)) is not None:
        return denied
    state = _sb(request).state
    blob_id = state.wa_media.get(node)
    if blob_id is not None and blob_id in state.blobs:
        blob = state.blobs[blob_id]
        return JSONResponse({"messaging_product": "whatsapp", "id": node, "mime_type": blob.mime_type,
                             "sha256": hashlib.sha256(blob.data).hexdigest(), "file_size": len(blob.data),
                             "url": f"{str(request.base_url).rstrip('/')}/_sandbox/wa-media/{node}?ext={secrets.token_hex(4)}"})
    hooks = state.wa_hooks.get(node)
    if hooks is not None:
        return JSONResponse({"id": node, "display_phone_number": hooks.number, "verified_name": "Tray Agent Sandbox",
                             "quality_rating": "GREEN"})
    return _no_object(node)


@router.delete(V + "/{node}")
async def delete_media(version: str, node: str, request: Request) -> Response:
    if (denied := _unauthorised(request)) is not None:
        return denied
    state = _sb(request).state
    with state.lock:
        found = state.wa_media.pop(node, None)
    return JSONResponse({"success": True}) if found else _no_object(node)


@router.get("/_sandbox/wa-media/{media_id}")
async def download_media(media_id: str, request: Request) -> Response:
    """The short-lived media URL: needs the same Bearer token as the API."""
    if (denied := _unauthorised(request)) is not None:
        return denied
    state = _sb(request).state
    blob = state.blobs.get(state.wa_media.get(media_id, ""))
    if blob is None:
        return meta_error(404, 100, "(#100) The media was not found or has expired.")
    return Response(blob.data, media_type=blob.mime_type)


# -- notifications to the agent -----------------------------------------------------------------


def _envelope(sb: Any, phone_number_id: str, value: dict[str, Any]) -> dict[str, Any]:
    state = sb.state
    number = state.wa_hooks[phone_number_id].number
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": number.lstrip("+"), "phone_number_id": phone_number_id}, **value}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": state.creds.waba_id, "changes": [{"field": "messages", "value": value}]}]}


def status_step(sb: Any, msg: WaMessage, status: str,
                error: dict[str, Any] | None = None) -> tuple[Callable[[], None], Delivery | None]:
    state = sb.state
    ids = identity(msg.customer)
    item: dict[str, Any] = {"id": msg.id, "status": status, "timestamp": str(int(state.now().timestamp())),
                            **({"recipient_id": ids["wa_id"]} if "wa_id" in ids else {}),
                            "recipient_user_id": ids["user_id"]}
    if status == "sent":
        item["conversation"] = {"id": secrets.token_hex(16), "origin": {"type": "service"}}
        item["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    if error is not None:
        item["errors"] = [error]

    def apply() -> None:
        with state.lock:
            if status == "failed":
                msg.status, msg.error = "failed", error
            elif msg.status in ORDER and ORDER.index(status) > ORDER.index(msg.status):
                msg.status = status

    hooks = state.wa_hooks.get(msg.phone_number_id)
    d = sb.deliverer.meta("status", hooks.url, _envelope(sb, msg.phone_number_id, {"statuses": [item]})) \
        if hooks is not None and hooks.url else None
    return apply, d


def inbound_delivery(sb: Any, msg: WaMessage, name: str | None) -> Delivery | None:
    state = sb.state
    hooks = state.wa_hooks.get(msg.phone_number_id)
    if hooks is None or not hooks.url:
        return None
    ids = identity(msg.customer)
    item: dict[str, Any] = {**({"from": ids["wa_id"]} if "wa_id" in ids else {}), "from_user_id": ids["user_id"],
                            "id": msg.id, "timestamp": str(int(msg.timestamp.timestamp())), "type": msg.type}
    if msg.type == "text":
        item["text"] = {"body": msg.text}
    else:
        blob = state.blobs[msg.blob_id or ""]
        media: dict[str, Any] = {"id": msg.media_id, "mime_type": blob.mime_type,
                                 "sha256": hashlib.sha256(blob.data).hexdigest()}
        if msg.text and msg.type in ("image", "video", "document"):
            media["caption"] = msg.text
        if msg.type == "document":
            media["filename"] = blob.file_name
        item[msg.type] = media
    profile = {"name": name or "Sandbox customer"}
    if state.wa_usernames.get(msg.customer):
        profile["username"] = state.wa_usernames[msg.customer]
    value = {"contacts": [{"profile": profile, **ids}], "messages": [item]}
    return sb.deliverer.meta("message", hooks.url, _envelope(sb, msg.phone_number_id, value))


def customer_messages(sb: Any, customer: str, text: str, files: list[tuple[str, str, bytes]],
                      phone_number_id: str | None = None) -> list[WaMessage]:
    """A customer writes to the business on WhatsApp: one message per file (the text as
    the first file's caption), else one text message. Each restarts the 24-hour window.
    A customer given as ``@username`` writes without sharing a phone number."""
    state = sb.state
    wa_id = _customer_id(state, customer)
    pnid = phone_number_id or state.creds.phone_number_id
    if pnid not in state.wa_hooks:
        raise InvalidInput(f"{pnid} is not a WhatsApp number of this sandbox.")
    if not text and not files:
        raise InvalidInput("Write something or attach a file.")
    now = state.now()
    out = []
    if not files:
        out.append(WaMessage(state.wamid(), pnid, wa_id, "inbound", "text", text, now))
    for i, (name, mime, data) in enumerate(files):
        blob = state.add_blob(data, mime, name)
        media_id = str(secrets.randbelow(9 * 10**14) + 10**14)
        with state.lock:
            state.wa_media[media_id] = blob.id
        out.append(WaMessage(state.wamid(), pnid, wa_id, "inbound", wa_type(mime), text if i == 0 else "", now,
                             blob_id=blob.id, media_id=media_id, file_name=name))
    with state.lock:
        for m in out:
            state.wa[m.id] = m
        state.last_inbound[(pnid, wa_id)] = now
    return out


def _customer_id(state: Any, customer: str) -> str:
    """A phone customer's wa_id; for ``@username`` (or a BSUID), the BSUID they write by."""
    text = (customer or "").strip()
    if text.startswith("@") and len(text) > 1:
        uid = bsuid_for(text.lower())
        with state.lock:
            state.wa_usernames[uid] = text[1:]
        return uid
    if BSUID.fullmatch(text):
        with state.lock:
            state.wa_usernames.setdefault(text, "")
        return text
    return phone.normalize(text).lstrip("+")


async def verify_callback(sb: Any, phone_number_id: str) -> tuple[bool, str]:
    """Meta's handshake when a callback URL is set: GET it with hub.mode=subscribe, the
    verify token and a challenge, which must come back verbatim."""
    state = sb.state
    hooks = state.wa_hooks[phone_number_id]
    challenge = str(secrets.randbelow(10**9))
    params = {"hub.mode": "subscribe", "hub.verify_token": state.creds.meta_verify_token, "hub.challenge": challenge}
    try:
        async with httpx.AsyncClient(timeout=10.0, verify=tls_context()) as http:
            r = await http.get(hooks.url, params=params)
    except httpx.HTTPError as exc:
        return False, f"the callback URL could not be reached: {type(exc).__name__}"
    ok = r.status_code == 200 and r.text == challenge
    with state.lock:
        hooks.verified = ok
    return ok, "verified" if ok else f"the callback answered HTTP {r.status_code} without the challenge"
