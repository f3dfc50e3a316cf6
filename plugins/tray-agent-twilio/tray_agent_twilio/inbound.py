"""Reading what Twilio sends: inbound-message webhooks, status callbacks and list entries.

Pure functions from Twilio's parameters to the core's ``InboundMessage``/``StatusUpdate``;
the text stays exactly as the customer wrote it (it is shown as text, never as HTML).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

from tray_agent import InboundFile, InboundMessage, StatusUpdate
from tray_agent_twilio import RULES
from tray_agent_twilio.errors import DELIVERY_ERRORS, RULE_CODES

#: Twilio's limit for a message Body, as the channel declares it.
MAX_BODY_CHARS = RULES.max_text_chars

#: Twilio's MessageStatus → the core's delivery statuses. Others (receiving, received,
#: scheduled …) say nothing about an outbound message's delivery and are ignored.
STATUS_MAP = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "sending",
    "sent": "sent", "delivered": "delivered", "partially_delivered": "delivered", "read": "read",
    "undelivered": "failed", "failed": "failed", "canceled": "failed",
}


class BadWebhook(ValueError):
    """The request is signed but not a usable Twilio message (one line for the log)."""


class NotGenuine(BadWebhook):
    """Signed, but beyond anything Twilio sends (a Body over its maximum): refused with 413."""


@dataclass(frozen=True)
class MediaRef:
    url: str
    content_type: str


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """Every (name, value) pair of a form body, repeated names and blank values kept:
    the signature covers all of them."""
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadWebhook("The webhook body is not UTF-8 form data.") from None


def first(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The first value of each parameter."""
    out: dict[str, str] = {}
    for k, v in params:
        out.setdefault(k, v)
    return out


def inbound_media(form: dict[str, str]) -> list[MediaRef]:
    try:
        count = int(form.get("NumMedia") or 0)
    except ValueError:
        raise BadWebhook("NumMedia is not a number.") from None
    refs = []
    for i in range(min(count, 10)):
        url = form.get(f"MediaUrl{i}")
        if url:
            refs.append(MediaRef(url, form.get(f"MediaContentType{i}") or "application/octet-stream"))
    return refs


def inbound_message(form: dict[str, str], files: Sequence[InboundFile] = (), notes: Sequence[str] = ()) -> InboundMessage:
    """An inbound-message webhook (or a list entry turned into the same shape) as the core's message."""
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
    sender = form.get("From")
    if not sid or not sender:
        raise BadWebhook("The webhook has no MessageSid or From; it is not an inbound Twilio message.")
    text = form.get("Body", "")
    if len(text) > MAX_BODY_CHARS:
        raise NotGenuine(f"A Body of {len(text)} characters is longer than Twilio's {MAX_BODY_CHARS}.")
    if notes:
        text = "\n".join([text, *notes]) if text else "\n".join(notes)
    meta: dict[str, Any] = {"to": form.get("To", "")}
    for k in ("FromCity", "FromState", "FromCountry"):
        if form.get(k):
            meta[k] = form[k]
    return InboundMessage(provider_message_id=sid, customer_address=sender, text=text,
                          files=tuple(files), meta=meta, sent_at=rfc2822(form.get("DateSent")))


def list_entry_form(m: dict[str, Any]) -> dict[str, str]:
    """A Messages-list entry in the inbound webhook's parameter names."""
    return {"MessageSid": str(m.get("sid") or ""), "From": str(m.get("from") or ""), "To": str(m.get("to") or ""),
            "Body": str(m.get("body") or ""), "NumMedia": str(m.get("num_media") or "0"),
            "DateSent": str(m.get("date_sent") or m.get("date_created") or "")}


def status_update(form: dict[str, str]) -> StatusUpdate | None:
    """A status callback as the core's update; None for statuses that say nothing new."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    raw = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or not raw:
        raise BadWebhook("The status callback has no MessageSid or MessageStatus.")
    status = STATUS_MAP.get(raw)
    if status is None:
        return None
    code = form.get("ErrorCode") or None
    message = None
    if status == "failed":
        base = DELIVERY_ERRORS.get(code or "", f"Twilio reports the message {raw}")
        message = base if code is None or code in base else f"{base} (error {code})"
    return StatusUpdate(provider_message_id=sid, status=status, error_code=code, error_message=message,
                        rule_violation=code is not None and code.isdigit() and int(code) in RULE_CODES)


def media_file_name(message_sid: str, index: int, content_type: str) -> str:
    ext = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
    return f"{message_sid}-{index}{ext}"


def rfc2822(value: str | None) -> datetime | None:
    """A Twilio date (``Thu, 30 Jul 2015 20:12:31 +0000``) as an aware datetime."""
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
