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

from tray_agent import InboundMessage, StatusUpdate
from tray_agent_whatsapp import RULES
from tray_agent_whatsapp.errors import REENGAGE_CODE, REENGAGE_REASON, describe

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
#: Meta's limit for a text body, as the channel declares it.
MAX_TEXT_CHARS = RULES.max_text_chars
STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}


class BadWebhook(ValueError):
    """The body is signed but not a WhatsApp webhook we can read (one line for the log)."""


class NotGenuine(BadWebhook):
    """Signed, but beyond anything Meta sends (a text over its maximum): refused with 413."""


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
            meta = v if isinstance(v := value.get("metadata"), dict) else {}
            if meta.get("phone_number_id") not in (None, phone_number_id):
                continue
            yield value


def messages(value: dict[str, Any], problems: list[str]) -> list[Incoming]:
    """The customer messages of one change; an entry that can never be stored (no id, no
    sender) is named in ``problems`` and skipped, so the others are not lost with it."""
    contacts = [c for c in value.get("contacts") or [] if isinstance(c, dict)]
    out = []
    for m in value.get("messages") or []:
        if not isinstance(m, dict) or not m.get("id"):
            problems.append("a message without an id was skipped")
            continue
        contact = _contact_of(m, contacts)
        address = _sender(m, contact)
        if not address:
            problems.append(f"message {str(m['id'])[:80]} has no sender (no from, from_user_id or contact) and was skipped")
            continue
        kind = str(m.get("type") or "unknown")
        try:
            text, media = _content(m, kind)
        except NotGenuine:
            raise
        except BadWebhook as exc:
            problems.append(f"message {str(m['id'])[:80]} was skipped: {exc}")
            continue
        meta: dict[str, Any] = {"type": kind}
        if isinstance(m.get("context"), dict) and m["context"].get("id"):
            meta["reply_to"] = str(m["context"]["id"])
        for key, field_ in (("user_id", "user_id"), ("username", "username")):
            if contact.get(field_):
                meta[key] = contact[field_]
        msg = InboundMessage(provider_message_id=str(m["id"]), customer_address=address, text=text,
                             customer_name=contact.get("name"), sent_at=_unix(m.get("timestamp")), meta=meta)
        out.append(Incoming(msg, media))
    return out


def _contact_of(m: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, str]:
    """The sender's entry in ``contacts`` (by phone, then by business-scoped user id; the
    only one when the message names neither), flattened to wa_id, user_id, name, username."""
    phone, uid = str(m.get("from") or ""), str(m.get("from_user_id") or "")
    found = next((c for c in contacts if (phone and str(c.get("wa_id") or "") == phone)
                  or (uid and str(c.get("user_id") or "") == uid)), None)
    if found is None and len(contacts) == 1 and not (phone and contacts[0].get("wa_id")):
        found = contacts[0]
    c = found or {}
    profile = v if isinstance(v := c.get("profile"), dict) else {}
    username = str(profile.get("username") or "")
    name = str(profile.get("name") or "") or (f"@{username.lstrip('@')}" if username else "")
    return {k: v for k, v in (("wa_id", str(c.get("wa_id") or "")), ("user_id", str(c.get("user_id") or "")),
                              ("name", name), ("username", username)) if v}


def _sender(m: dict[str, Any], contact: dict[str, str]) -> str:
    """The customer's address: the phone number where Meta shares it (conversations stay
    keyed by it), else the business-scoped user id of a customer known by username only."""
    return str(m.get("from") or "") or contact.get("wa_id", "") or str(m.get("from_user_id") or "") \
        or contact.get("user_id", "")


def statuses(value: dict[str, Any], problems: list[str]) -> list[StatusUpdate]:
    out = []
    for st in value.get("statuses") or []:
        if not isinstance(st, dict) or not st.get("id"):
            problems.append("a status without a message id was skipped")
            continue
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
    body = v if isinstance(v := m.get(kind), dict) else {}
    if kind == "text":
        text = str(body.get("body") or "")
        if len(text) > MAX_TEXT_CHARS:
            raise NotGenuine(f"A text of {len(text)} characters is longer than WhatsApp's {MAX_TEXT_CHARS}.")
        return text, None
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
