"""Reading Meta's webhook payloads: customer messages (text, media, locations, replies …)
and delivery statuses, as the core's ``InboundMessage`` and ``StatusUpdate``.

The customer's text is kept exactly as written; it is shown as text, never as HTML.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tray_agent.channels import InboundMessage, StatusUpdate
from tray_agent_whatsapp.errors import REENGAGE_CODE, REENGAGE_REASON, describe

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}


class BadWebhook(ValueError):
    """The body is signed but not a WhatsApp webhook we can read (one line for the log)."""


@dataclass(frozen=True)
class MediaRef:
    media_id: str
    mime_type: str
    file_name: str


@dataclass(frozen=True)
class Incoming:
    """One customer message, its media still to be downloaded."""

    message: InboundMessage
    media: MediaRef | None = None


def parse(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise BadWebhook("The webhook body is not JSON.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("entry", []), list):
        raise BadWebhook("The webhook body is not a WhatsApp Business Account notification.")
    return payload


def values(payload: dict[str, Any], phone_number_id: str) -> Iterator[dict[str, Any]]:
    """The ``messages`` changes addressed to this phone number (an app may serve several)."""
    for entry in payload.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        for change in entry.get("changes") or []:
            if not isinstance(change, dict) or change.get("field", "messages") != "messages":
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            meta = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
            if meta.get("phone_number_id") not in (None, phone_number_id):
                continue
            yield value


def messages(value: dict[str, Any]) -> list[Incoming]:
    names = {}
    for c in value.get("contacts") or []:
        if isinstance(c, dict) and c.get("wa_id"):
            names[str(c["wa_id"])] = ((c.get("profile") or {}).get("name") or None)
    out = []
    for m in value.get("messages") or []:
        if not isinstance(m, dict) or not m.get("id") or not m.get("from"):
            raise BadWebhook("A message in the webhook has no id or sender.")
        kind = str(m.get("type") or "unknown")
        text, media = _content(m, kind)
        meta: dict[str, Any] = {"type": kind}
        if isinstance(m.get("context"), dict) and m["context"].get("id"):
            meta["reply_to"] = str(m["context"]["id"])
        msg = InboundMessage(provider_message_id=str(m["id"]), customer_address=str(m["from"]), text=text,
                             customer_name=names.get(str(m["from"])), sent_at=_unix(m.get("timestamp")), meta=meta)
        out.append(Incoming(msg, media))
    return out


def statuses(value: dict[str, Any]) -> list[StatusUpdate]:
    out = []
    for st in value.get("statuses") or []:
        if not isinstance(st, dict) or not st.get("id"):
            raise BadWebhook("A status in the webhook has no message id.")
        status = STATUSES.get(str(st.get("status") or ""))
        if status is None:
            continue  # "deleted", "warning" …: nothing to move
        code, reason, rule = None, None, False
        if status == "failed":
            errs = [e for e in st.get("errors") or [] if isinstance(e, dict)]
            first = errs[0] if errs else {}
            code = str(first["code"]) if first.get("code") is not None else None
            rule = first.get("code") == REENGAGE_CODE
            reason = REENGAGE_REASON if rule else (
                f"WhatsApp could not deliver it: {describe(first)}" + (f" (error {code})" if code else "")
                if first else "WhatsApp could not deliver it.")
        out.append(StatusUpdate(provider_message_id=str(st["id"]), status=status, at=_unix(st.get("timestamp")),
                                error_code=code, error_message=reason, rule_violation=rule))
    return out


def _content(m: dict[str, Any], kind: str) -> tuple[str, MediaRef | None]:
    body = m.get(kind) if isinstance(m.get(kind), dict) else {}
    if kind == "text":
        return str(body.get("body") or ""), None
    if kind in MEDIA_TYPES:
        if not body.get("id"):
            raise BadWebhook(f"A {kind} message has no media id.")
        mime = str(body.get("mime_type") or "application/octet-stream").split(";")[0].strip()
        name = str(body.get("filename") or "") or f"{kind}-{str(body['id'])[-8:]}{_ext(mime)}"
        return str(body.get("caption") or ""), MediaRef(str(body["id"]), mime, name)
    if kind == "location":
        where = ", ".join(str(body[k]) for k in ("name", "address") if body.get(k))
        return f"Location: {where + ' ' if where else ''}({body.get('latitude')}, {body.get('longitude')})", None
    if kind == "contacts":
        cards = [c for c in m.get("contacts") or [] if isinstance(c, dict)]
        shown = []
        for c in cards:
            name = (c.get("name") or {}).get("formatted_name") or "contact"
            phones = ", ".join(str(p.get("phone")) for p in c.get("phones") or [] if isinstance(p, dict) and p.get("phone"))
            shown.append(f"{name} {phones}".strip())
        return "Contact card: " + "; ".join(shown), None
    if kind == "interactive":
        reply = body.get("button_reply") or body.get("list_reply") or {}
        return str(reply.get("title") or "[an interactive reply]"), None
    if kind == "button":
        return str(body.get("text") or body.get("payload") or ""), None
    if kind == "reaction":
        emoji = body.get("emoji")
        return (f"Reacted {emoji} to a message" if emoji else "Removed a reaction"), None
    return f"[A message of type {kind} that this inbox cannot show]", None


def _ext(mime: str) -> str:
    return {"audio/ogg": ".ogg", "image/jpeg": ".jpg", "audio/mpeg": ".mp3"}.get(mime) \
        or mimetypes.guess_extension(mime) or ".bin"


def _unix(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
