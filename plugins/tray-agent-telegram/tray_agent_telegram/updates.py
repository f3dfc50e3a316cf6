"""Turning Telegram ``Update`` objects into inbound messages. Pure functions: the adapter
downloads files; this module only reads the update's fields and refuses what it cannot use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeGuard


@dataclass(frozen=True)
class FileRef:
    file_id: str
    file_name: str
    mime_type: str
    size: int | None


@dataclass(frozen=True)
class ParsedMessage:
    """A private-chat message from a customer, before its files are downloaded."""

    provider_message_id: str
    chat_id: str
    text: str
    customer_name: str | None
    sent_at: datetime | None
    files: tuple[FileRef, ...]
    meta: dict[str, Any]


def update_id(update: Any) -> int | None:
    value = update.get("update_id") if isinstance(update, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_update(update: Any) -> ParsedMessage | None:
    """The customer message in ``update``, or None for anything else (edits, channel posts,
    group chats, service messages, malformed data)."""
    if not isinstance(update, dict):
        return None
    msg = update.get("message")
    if not isinstance(msg, dict):
        return None
    chat = msg.get("chat")
    if not isinstance(chat, dict) or chat.get("type") != "private" or not _is_int(chat.get("id")):
        return None  # groups and channels are not one-to-one customer conversations
    if not _is_int(msg.get("message_id")):
        return None
    sender = v if isinstance(v := msg.get("from"), dict) else {}
    if sender.get("is_bot"):
        return None
    text = msg.get("text") if isinstance(msg.get("text"), str) else msg.get("caption")
    files = _files(msg)
    if not isinstance(text, str):
        text = ""
    if not text and not files:
        return None  # stickers, locations, polls...: nothing an agent can answer yet
    date = msg.get("date")
    chat_id = str(chat["id"])
    return ParsedMessage(
        # message_id is unique within a chat; the pair is unique for the bot.
        provider_message_id=f"{chat_id}:{msg['message_id']}",
        chat_id=chat_id,
        text=text,
        customer_name=_name(sender) or _name(chat),
        sent_at=datetime.fromtimestamp(date, timezone.utc) if _is_int(date) else None,
        files=files,
        meta={"telegram_username": sender.get("username")} if sender.get("username") else {},
    )


def _files(msg: dict[str, Any]) -> tuple[FileRef, ...]:
    doc = msg.get("document")
    if isinstance(doc, dict) and isinstance(doc.get("file_id"), str):
        return (FileRef(doc["file_id"], str(doc.get("file_name") or "document"),
                        str(doc.get("mime_type") or "application/octet-stream"), _size(doc)),)
    photos = msg.get("photo")
    if isinstance(photos, list):
        sized = [p for p in photos if isinstance(p, dict) and isinstance(p.get("file_id"), str)]
        if sized:  # Telegram lists each photo in several sizes; keep the largest
            best = max(sized, key=lambda p: (p.get("width") or 0) * (p.get("height") or 0))
            return (FileRef(best["file_id"], "photo.jpg", "image/jpeg", _size(best)),)
    return ()


def _size(obj: dict[str, Any]) -> int | None:
    return obj["file_size"] if _is_int(obj.get("file_size")) else None


def _name(obj: dict[str, Any]) -> str | None:
    parts = [obj.get("first_name"), obj.get("last_name")]
    name = " ".join(p for p in parts if isinstance(p, str) and p).strip()
    return name or None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
