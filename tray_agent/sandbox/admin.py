"""The sandbox's own JSON API (under /_sandbox/): what tests and the customer-phone page use
to play the customer, register the agent's webhook URLs, inject faults, make webhook
delivery hostile, move time and look at what the providers carried.

Changes need the ``X-Sandbox: 1`` header: a web page elsewhere cannot send it without a
CORS preflight the sandbox never grants, so it cannot drive the sandbox behind your back.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from tray_agent.core.errors import InvalidInput
from tray_agent.sandbox import meta_api, twilio_api
from tray_agent.sandbox.state import DeliveryRecord, Fault, NumberHooks

MAX_CUSTOMER_FILE = 100_000_000
SAFE_INLINE = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def require_header(request: Request) -> None:
    if request.headers.get("x-sandbox") != "1":
        raise HTTPException(403, "Sandbox changes need the header X-Sandbox: 1.")


router = APIRouter(prefix="/_sandbox", include_in_schema=False)
changes = APIRouter(prefix="/_sandbox", include_in_schema=False, dependencies=[Depends(require_header)])


def _sb(request: Request) -> Any:
    return request.app.state.sandbox


class SmsNumber(BaseModel):
    number: str
    url: str = ""


class WhatsAppNumber(BaseModel):
    phone_number_id: str
    number: str = ""
    url: str = ""
    verify: bool = True


class FileIn(BaseModel):
    name: str
    mime_type: str = "application/octet-stream"
    data_b64: str


class CustomerMessage(BaseModel):
    channel: Literal["sms", "whatsapp"]
    customer: str = Field(alias="from")
    text: str = ""
    name: str | None = None
    to: str | None = None
    files: list[FileIn] = []


class Options(BaseModel):
    window_mode: Literal["sync", "async"] | None = None
    duplicate: bool | None = None
    hold: bool | None = None
    reverse_statuses: bool | None = None
    auto_status: bool | None = None
    auto_read: bool | None = None
    status_delay: float | None = None
    meta_retries: int | None = None


class FaultIn(BaseModel):
    provider: Literal["twilio", "meta", "any"] = "any"
    kind: Literal["error", "slow", "hang", "drop", "drop_after"] = "error"
    status: int = 500
    code: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    times: int = 1
    method: str | None = None
    path: str | None = None


class StatusIn(BaseModel):
    channel: Literal["sms", "whatsapp"]
    id: str
    status: str
    error_code: int | None = None


def records(rs: list[DeliveryRecord]) -> list[dict[str, Any]]:
    return [{**asdict(r), "at": r.at.isoformat()} for r in rs]


# -- reading ----------------------------------------------------------------------------------


@router.get("/info")
def info(request: Request) -> dict[str, Any]:
    """What a person wiring an agent to the sandbox needs, without any secret."""
    sb = _sb(request)
    st = sb.state
    return {"url": st.base_url, "twilio_account_sid": st.creds.twilio_account_sid,
            "graph_version": st.creds.graph_version, "waba_id": st.creds.waba_id,
            "sms_numbers": {n: {"url": h.url} for n, h in st.sms_hooks.items()},
            "whatsapp_numbers": {p: {"number": h.number, "url": h.url, "verified": h.verified} for p, h in st.wa_hooks.items()},
            "options": _options(st), "now": st.now().isoformat(), "faults_queued": len(st.faults)}


@router.get("/messages")
def messages(request: Request, channel: Literal["sms", "whatsapp"]) -> list[dict[str, Any]]:
    st = _sb(request).state
    with st.lock:
        if channel == "sms":
            return [{"id": m.sid, "from": m.from_, "to": m.to, "text": m.body, "direction": m.direction,
                     "status": m.status, "error_code": m.error_code, "at": m.date_created.isoformat(),
                     "files": [_file(st, b) for _me, b in m.media]} for m in st.sms.values()]
        return [{"id": m.id, "phone_number_id": m.phone_number_id, "customer": m.customer, "type": m.type,
                 "text": m.text, "direction": m.direction, "status": m.status,
                 "error_code": (m.error or {}).get("code"), "at": m.timestamp.isoformat(),
                 "files": [_file(st, m.blob_id)] if m.blob_id else []} for m in st.wa.values()]


@router.get("/customer/thread")
def thread(request: Request, channel: Literal["sms", "whatsapp"], customer: str) -> list[dict[str, Any]]:
    """One customer's conversation with the business, oldest first, as their phone shows it."""
    wanted = _digits(customer)
    mine = []
    for r in messages(request, channel):
        inbound = r["direction"] == "inbound"
        other_party = r["customer"] if channel == "whatsapp" else (r["from"] if inbound else r["to"])
        if wanted and _digits(other_party) == wanted:
            mine.append({**r, "from_customer": inbound})
    return sorted(mine, key=lambda r: r["at"])


def _digits(number: str) -> str:
    return "".join(c for c in str(number) if c.isdigit())


@router.get("/webhooks/log")
def delivery_log(request: Request) -> list[dict[str, Any]]:
    st = _sb(request).state
    with st.lock:
        return records(list(st.log))


@router.get("/faults")
def list_faults(request: Request) -> list[dict[str, Any]]:
    return [asdict(f) for f in _sb(request).state.faults]


@router.get("/blobs/{blob_id}")
def blob(blob_id: str, request: Request) -> Response:
    """Stored files, behind unguessable ids (Twilio's media storage, the phone's pictures).
    Anything but a plain picture is served as a download, never rendered."""
    b = _sb(request).state.blobs.get(blob_id)
    if b is None:
        return JSONResponse({"error": "not_found"}, 404)
    headers = {"Content-Security-Policy": "sandbox; default-src 'none'", "X-Content-Type-Options": "nosniff"}
    if b.mime_type not in SAFE_INLINE:
        safe = "".join(c for c in b.file_name if c.isalnum() or c in "._-") or "file"
        headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return Response(b.data, media_type=b.mime_type, headers=headers)


# -- changing ---------------------------------------------------------------------------------


@changes.post("/numbers/sms")
def register_sms(body: SmsNumber, request: Request) -> dict[str, Any]:
    st = _sb(request).state
    with st.lock:
        st.sms_hooks[body.number] = NumberHooks(body.number, body.url)
    return {"number": body.number, "url": body.url}


@changes.post("/numbers/whatsapp")
async def register_whatsapp(body: WhatsAppNumber, request: Request) -> dict[str, Any]:
    sb = _sb(request)
    with sb.state.lock:
        old = sb.state.wa_hooks.get(body.phone_number_id)
        sb.state.wa_hooks[body.phone_number_id] = NumberHooks(body.number or (old.number if old else ""), body.url)
    ok, detail = await meta_api.verify_callback(sb, body.phone_number_id) if body.verify and body.url else (False, "not verified")
    return {"phone_number_id": body.phone_number_id, "url": body.url, "verified": ok, "detail": detail}


@changes.post("/customer/send")
async def customer_send(request: Request) -> JSONResponse:
    """The customer's phone sends a message (JSON, or a multipart form from the phone page);
    the webhook goes out before this answers, and its outcome is returned."""
    sb = _sb(request)
    try:
        msg = await _customer_message(request)
        files = [(f.name, f.mime_type, _b64(f.data_b64)) for f in msg.files]
        if any(len(d) > MAX_CUSTOMER_FILE for _n, _m, d in files):
            raise InvalidInput("Files from the sandbox phone are limited to 100 MB.")
        if msg.channel == "sms":
            sms = twilio_api.customer_message(sb, msg.customer, msg.text, files, msg.to)
            ids, out = [sms.sid], [twilio_api.inbound_delivery(sb, sms, str(request.base_url).rstrip("/"))]
        else:
            was = meta_api.customer_messages(sb, msg.customer, msg.text, files, msg.to)
            ids, out = [m.id for m in was], [meta_api.inbound_delivery(sb, m, msg.name) for m in was]
    except InvalidInput as exc:
        return JSONResponse({"error": "invalid_input", "message": exc.message}, 422)
    delivered: list[DeliveryRecord] = []
    for d in out:
        if d is not None:
            delivered.extend(await sb.deliverer.submit(d))
    return JSONResponse({"ids": ids, "deliveries": records(delivered),
                         "webhook": "none registered" if all(d is None for d in out) else "sent"})


async def _customer_message(request: Request) -> CustomerMessage:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        files = []
        for item in form.getlist("file"):
            if isinstance(item, str) or not item.filename:
                continue
            data = await item.read()
            files.append(FileIn(name=item.filename, mime_type=item.content_type or "application/octet-stream",
                                data_b64=base64.b64encode(data).decode()))
        raw: dict[str, Any] = {k: form.get(k) for k in ("channel", "from", "text", "name", "to") if form.get(k)}
        raw["files"] = files
    else:
        try:
            raw = await request.json()
        except ValueError:
            raise InvalidInput("Send JSON or a form.") from None
    try:
        return CustomerMessage.model_validate(raw)
    except ValueError as exc:
        raise InvalidInput(f"Not a customer message: {str(exc).splitlines()[0]}") from None


def _b64(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("A file's data_b64 is not base64.") from None


@changes.post("/status")
async def send_status(body: StatusIn, request: Request) -> JSONResponse:
    """Send one status callback now (failed with an error code, late, duplicated …)."""
    sb = _sb(request)
    if body.channel == "sms":
        msg = sb.state.sms.get(body.id)
        step = twilio_api.status_step(sb, msg, body.status, body.error_code) if msg else None
    else:
        wmsg = sb.state.wa.get(body.id)
        error = None
        if body.error_code is not None:
            error = meta_api.REENGAGE if body.error_code == 131047 else {
                "code": body.error_code, "title": "Message undeliverable", "message": "Message undeliverable",
                "error_data": {"details": "Injected by the sandbox."}}
        step = meta_api.status_step(sb, wmsg, body.status, error) if wmsg else None
    if step is None:
        return JSONResponse({"error": "not_found", "message": f"No {body.channel} message {body.id}."}, 404)
    apply, d = step
    apply()
    return JSONResponse({"deliveries": records(await sb.deliverer.submit(d) if d else [])})


@changes.post("/options")
def set_options(body: Options, request: Request) -> dict[str, Any]:
    st = _sb(request).state
    with st.lock:
        for k, v in body.model_dump(exclude_none=True).items():
            setattr(st, k, v)
        return _options(st)


@changes.post("/webhooks/flush")
async def flush(request: Request, order: Literal["fifo", "reverse", "shuffle"] = "fifo") -> JSONResponse:
    return JSONResponse({"deliveries": records(await _sb(request).deliverer.flush(order))})


@changes.post("/faults")
def add_fault(body: FaultIn, request: Request) -> dict[str, Any]:
    st = _sb(request).state
    with st.lock:
        st.faults.append(Fault(**body.model_dump()))
    return {"queued": len(st.faults)}


@changes.delete("/faults")
def clear_faults(request: Request) -> dict[str, Any]:
    st = _sb(request).state
    with st.lock:
        st.faults.clear()
    return {"queued": 0}


@changes.post("/clock/advance")
def advance(request: Request, seconds: float) -> dict[str, Any]:
    st = _sb(request).state
    with st.lock:
        st.clock.offset += timedelta(seconds=seconds)
    return {"now": st.now().isoformat()}


@changes.post("/reset")
def reset(request: Request) -> dict[str, Any]:
    sb = _sb(request)
    sb.state.reset()
    sb.deliverer.held.clear()
    return {"ok": True}


def _options(st: Any) -> dict[str, Any]:
    return {k: getattr(st, k) for k in Options.model_fields}


def _file(st: Any, blob_id: str | None) -> dict[str, Any]:
    b = st.blobs.get(blob_id or "")
    if b is None:
        return {"name": "file", "expired": True}
    return {"name": b.file_name, "mime_type": b.mime_type, "size": len(b.data), "url": f"/_sandbox/blobs/{b.id}"}
