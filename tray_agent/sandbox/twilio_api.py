"""The sandbox's Twilio: the Programmable Messaging REST API under /2010-04-01/Accounts/,
with Basic auth, 201 Message resources, Twilio's error JSON, list paging by
next_page_uri, media sub-resources (redirecting to storage), and signed inbound and
status-callback webhooks to the registered URLs.
"""

from __future__ import annotations

import base64
import hmac
import re
from datetime import date, datetime, timezone
from email.utils import format_datetime
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from tray_agent.channels import tls_context
from tray_agent.core import phone
from tray_agent.core.errors import InvalidInput
from tray_agent.sandbox.state import Blob, SmsMessage
from tray_agent.sandbox.webhooks import Delivery, progress

router = APIRouter(include_in_schema=False)
API = "/2010-04-01"
ACCOUNT = API + "/Accounts/{account_sid}"
MMS_LIMIT = 5_000_000
ORDER = ["queued", "sending", "sent", "delivered", "read"]


def twilio_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                         "status": status}, status, headers=headers)


def _sb(request: Request) -> Any:
    return request.app.state.sandbox


def _unauthorised(request: Request, account_sid: str) -> JSONResponse | None:
    creds = _sb(request).state.creds
    auth = request.headers.get("authorization", "")
    try:
        user, _, password = base64.b64decode(auth.split(" ", 1)[1]).decode().partition(":") \
            if auth.lower().startswith("basic ") else ("", "", "")
    except (ValueError, IndexError, UnicodeDecodeError):
        user, password = "", ""
    ok = (hmac.compare_digest(user.encode(), creds.twilio_account_sid.encode())
          and hmac.compare_digest(password.encode(), creds.twilio_auth_token.encode())
          and account_sid == creds.twilio_account_sid)
    return None if ok else twilio_error(401, 20003, "Authenticate")


def rfc2822(dt: datetime | None) -> str | None:
    return None if dt is None else format_datetime(dt.astimezone(timezone.utc))


def resource(m: SmsMessage, account_sid: str) -> dict[str, Any]:
    base = f"{API}/Accounts/{account_sid}/Messages/{m.sid}"
    return {
        "account_sid": account_sid, "api_version": "2010-04-01", "body": m.body,
        "date_created": rfc2822(m.date_created), "date_sent": rfc2822(m.date_sent),
        "date_updated": rfc2822(m.date_sent or m.date_created), "direction": m.direction,
        "error_code": m.error_code, "error_message": m.error_message, "from": m.from_,
        "messaging_service_sid": m.messaging_service_sid, "num_media": str(len(m.media)),
        "num_segments": str(max(1, -(-len(m.body) // 153))), "price": None, "price_unit": "USD",
        "sid": m.sid, "status": m.status, "to": m.to, "uri": f"{base}.json",
        "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
    }


# -- the REST API -------------------------------------------------------------------------------


@router.get(ACCOUNT + ".json")
async def fetch_account(account_sid: str, request: Request) -> Response:
    if (denied := _unauthorised(request, account_sid)) is not None:
        return denied
    return JSONResponse({"sid": account_sid, "friendly_name": "Tray Agent sandbox", "status": "active",
                         "type": "Full", "uri": f"{API}/Accounts/{account_sid}.json"})


@router.post(ACCOUNT + "/Messages.json")
async def create_message(account_sid: str, request: Request) -> Response:
    if (denied := _unauthorised(request, account_sid)) is not None:
        return denied
    sb = _sb(request)
    state = sb.state
    form = await request.form()
    to, sender = str(form.get("To") or ""), str(form.get("From") or "")
    service = str(form.get("MessagingServiceSid") or "") or None
    body, media_urls = str(form.get("Body") or ""), [str(u) for u in form.getlist("MediaUrl")]
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    try:
        to = phone.normalize(to)
    except InvalidInput:
        return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if service is None and sender not in state.sms_hooks:
        return twilio_error(400, 21606, f"The From phone number {sender} is not a valid, SMS-capable inbound phone "
                                        "number or short code for your account.")
    if not body and not media_urls:
        return twilio_error(400, 21619, "A text message body or media urls must be specified.")
    if len(body) > 1600:
        return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    if len(media_urls) > 10:
        return twilio_error(400, 21623, "Number of media files exceeds allowed limit (10).")
    if to in state.opted_out:
        return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
    media = []
    total = len(body.encode())
    async with httpx.AsyncClient(follow_redirects=True, timeout=15.0, verify=tls_context()) as http:
        for url in media_urls:
            try:
                r = await http.get(url)
            except httpx.HTTPError:
                return twilio_error(400, 21620, f"Invalid media URL(s): {url} could not be fetched.")
            if r.status_code != 200:
                return twilio_error(400, 21620, f"Invalid media URL(s): {url} answered HTTP {r.status_code}.")
            total += len(r.content)
            if total > MMS_LIMIT:
                return twilio_error(400, 30019, f"The message and its media are over {MMS_LIMIT // 1_000_000} MB, "
                                                "the most MMS can carry.")
            ctype = r.headers.get("content-type", "application/octet-stream").split(";")[0]
            name = url.rsplit("/", 1)[-1] or "media"
            media.append((state.sid("ME"), state.add_blob(r.content, ctype, name).id))
    msg = SmsMessage(sid=state.sid("MM" if media else "SM"), from_=sender or state.creds.sms_number, to=to, body=body,
                     direction="outbound-api", status="queued", date_created=state.now(), media=media,
                     status_callback=str(form.get("StatusCallback") or ""), messaging_service_sid=service)
    with state.lock:
        state.sms[msg.sid] = msg
    if state.auto_status:
        sb.deliverer.spawn(progress(sb.deliverer, [status_step(sb, msg, s) for s in ("sent", "delivered")]))
    return JSONResponse(resource(msg, account_sid), 201)


@router.get(ACCOUNT + "/Messages.json")
async def list_messages(account_sid: str, request: Request) -> Response:
    if (denied := _unauthorised(request, account_sid)) is not None:
        return denied
    state = _sb(request).state
    q = request.query_params
    try:
        size = max(1, min(1000, int(q.get("PageSize") or 50)))
        page = max(0, int(q.get("Page") or 0))
        on, after, before = (_day(q.get(k)) for k in ("DateSent", "DateSent>", "DateSent<"))
    except ValueError:
        return twilio_error(400, 20001, "Invalid paging or date parameter.")
    with state.lock:
        found = [m for m in state.sms.values()
                 if (not q.get("To") or m.to == q["To"]) and (not q.get("From") or m.from_ == q["From"])
                 and _date_ok(m.date_sent, on, after, before)]
    found.sort(key=lambda m: (m.date_sent or m.date_created, m.sid), reverse=True)
    chunk = found[page * size:(page + 1) * size]
    filters = [(k, v) for k, v in q.multi_items() if k not in ("Page", "PageSize", "PageToken")]
    base = f"{API}/Accounts/{account_sid}/Messages.json"

    def uri(p: int) -> str:
        extra = [("PageToken", f"PA{found[p * size - 1].sid}")] if p > 0 else []
        return f"{base}?{urlencode(filters + [('PageSize', str(size)), ('Page', str(p))] + extra)}"

    has_next = (page + 1) * size < len(found)
    return JSONResponse({
        "messages": [resource(m, account_sid) for m in chunk], "uri": uri(page), "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1) if has_next else None,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
        "page": page, "page_size": size, "start": page * size, "end": page * size + max(0, len(chunk) - 1),
    })


@router.get(ACCOUNT + "/Messages/{sid}.json")
async def fetch_message(account_sid: str, sid: str, request: Request) -> Response:
    if (denied := _unauthorised(request, account_sid)) is not None:
        return denied
    m = _sb(request).state.sms.get(sid)
    if m is None:
        return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
    return JSONResponse(resource(m, account_sid))


@router.get(ACCOUNT + "/Messages/{sid}/Media.json")
async def list_media(account_sid: str, sid: str, request: Request) -> Response:
    if (denied := _unauthorised(request, account_sid)) is not None:
        return denied
    state = _sb(request).state
    m = state.sms.get(sid)
    if m is None:
        return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
    items = [{"sid": me, "parent_sid": sid, "account_sid": account_sid, "content_type": state.blobs[b].mime_type,
              "date_created": rfc2822(m.date_created), "uri": f"{API}/Accounts/{account_sid}/Messages/{sid}/Media/{me}.json"}
             for me, b in m.media if b in state.blobs]
    uri = f"{API}/Accounts/{account_sid}/Messages/{sid}/Media.json"
    return JSONResponse({"media_list": items, "uri": uri, "first_page_uri": uri, "next_page_uri": None,
                         "previous_page_uri": None, "page": 0, "page_size": 50, "start": 0, "end": max(0, len(items) - 1)})


@router.get(ACCOUNT + "/Messages/{sid}/Media/{media_sid}.json")
async def fetch_media(account_sid: str, sid: str, media_sid: str, request: Request) -> Response:
    if (denied := _unauthorised(request, account_sid)) is not None:
        return denied
    blob = _media_blob(request, sid, media_sid)
    if blob is None:
        return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
    return JSONResponse({"sid": media_sid, "parent_sid": sid, "account_sid": account_sid, "content_type": blob.mime_type,
                         "uri": f"{API}/Accounts/{account_sid}/Messages/{sid}/Media/{media_sid}.json"})


@router.get(ACCOUNT + "/Messages/{sid}/Media/{media_sid}")
async def media_content(account_sid: str, sid: str, media_sid: str, request: Request) -> Response:
    if (denied := _unauthorised(request, account_sid)) is not None:
        return denied
    blob = _media_blob(request, sid, media_sid)
    if blob is None:
        return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
    # Like Twilio, the file itself lives in storage behind a short-lived, unguessable URL.
    return RedirectResponse(f"{str(request.base_url).rstrip('/')}/_sandbox/blobs/{blob.id}", 307)


def _media_blob(request: Request, sid: str, media_sid: str) -> Blob | None:
    state = _sb(request).state
    m = state.sms.get(sid)
    blob_id = dict(m.media).get(media_sid) if m else None
    return state.blobs.get(blob_id) if blob_id else None


# -- webhooks to the agent ------------------------------------------------------------------------


def status_step(sb: Any, msg: SmsMessage, status: str,
                error_code: int | None = None) -> tuple[Callable[[], None], Delivery | None]:
    """(apply, delivery) for one status of an outbound message: the callback is signed
    over the StatusCallback URL the agent gave with the send."""
    state = sb.state
    params = [("MessageSid", msg.sid), ("SmsSid", msg.sid), ("AccountSid", state.creds.twilio_account_sid),
              ("From", msg.from_), ("To", msg.to), ("MessageStatus", status), ("SmsStatus", status),
              ("ApiVersion", "2010-04-01")]
    if error_code is not None:
        params.append(("ErrorCode", str(error_code)))
    if status == "delivered":
        params.append(("RawDlrDoneDate", state.now().strftime("%y%m%d%H%M")))

    def apply() -> None:
        with state.lock:
            if status in ("failed", "undelivered"):
                msg.status, msg.error_code = status, error_code
            elif msg.status in ORDER and ORDER.index(status) > ORDER.index(msg.status):
                msg.status = status
                if status == "sent":
                    msg.date_sent = msg.date_sent or state.now()

    d = sb.deliverer.twilio("status", msg.status_callback, params) if msg.status_callback else None
    return apply, d


def inbound_delivery(sb: Any, msg: SmsMessage, base_url: str) -> Delivery | None:
    """The "A message comes in" webhook for a customer's message, or None with no URL set."""
    state = sb.state
    hooks = state.sms_hooks.get(msg.to)
    if hooks is None or not hooks.url:
        return None
    acct = state.creds.twilio_account_sid
    params = [("ToCountry", "US"), ("SmsMessageSid", msg.sid), ("NumMedia", str(len(msg.media))),
              ("SmsSid", msg.sid), ("SmsStatus", "received"), ("Body", msg.body), ("FromCountry", "US"),
              ("To", msg.to), ("MessageSid", msg.sid), ("AccountSid", acct), ("From", msg.from_),
              ("NumSegments", str(max(1, -(-len(msg.body) // 153)))), ("ApiVersion", "2010-04-01")]
    for i, (me, blob_id) in enumerate(msg.media):
        params.append((f"MediaContentType{i}", state.blobs[blob_id].mime_type))
        params.append((f"MediaUrl{i}", f"{base_url}{API}/Accounts/{acct}/Messages/{msg.sid}/Media/{me}"))
    return sb.deliverer.twilio("message", hooks.url, params)


#: An alphanumeric sender id ("MyBank"): up to 11 letters, digits and spaces, a letter among them.
SENDER_ID = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")


def _sender(customer: str) -> str:
    """A customer's number in E.164, or a business's alphanumeric sender id as Twilio passes it."""
    text = (customer or "").strip()
    if SENDER_ID.fullmatch(text) and not text.replace(" ", "").isdigit():
        return text
    return phone.normalize(text)


def customer_message(sb: Any, customer: str, text: str, files: list[tuple[str, str, bytes]],
                     business: str | None = None) -> SmsMessage:
    """A customer's phone texts the business number: stored as Twilio would (then deliver
    ``inbound_delivery``). Raises InvalidInput with a one-line reason."""
    state = sb.state
    number = _sender(customer)
    to = business or state.creds.sms_number
    if to not in state.sms_hooks:
        raise InvalidInput(f"{to} is not a number of this sandbox.")
    if len(files) > 10 or len(text) > 1600:
        raise InvalidInput("An SMS takes up to 1600 characters and 10 files.")
    media = [(state.sid("ME"), state.add_blob(data, mime, name).id) for name, mime, data in files]
    now = state.now()
    msg = SmsMessage(sid=state.sid("MM" if media else "SM"), from_=number, to=to, body=text, direction="inbound",
                     status="received", date_created=now, date_sent=now, media=media)
    with state.lock:
        state.sms[msg.sid] = msg
        # Twilio's own opt-out keywords: after STOP, sends to this customer get error 21610.
        keyword = text.strip().upper()
        if keyword in ("STOP", "UNSUBSCRIBE"):
            state.opted_out.add(number)
        elif keyword == "START":
            state.opted_out.discard(number)
    return msg


def _day(value: str | None) -> datetime | date | None:
    if not value:
        return None
    if len(value) == 10:
        return date.fromisoformat(value)
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _date_ok(sent: datetime | None, on: Any, after: Any, before: Any) -> bool:
    if on is None and after is None and before is None:
        return True
    if sent is None:
        return False

    def key(bound: Any) -> Any:
        return sent.astimezone(timezone.utc).date() if isinstance(bound, date) and not isinstance(bound, datetime) else sent

    return ((on is None or key(on) == on) and (after is None or key(after) >= after)
            and (before is None or key(before) <= before))
