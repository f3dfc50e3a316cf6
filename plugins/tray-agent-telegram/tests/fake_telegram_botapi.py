"""A fake Telegram Bot API server for tests, speaking the real protocol: methods under
``/bot<token>/<method>`` with JSON, form or multipart parameters, the ``ok``/``result``
envelope and its errors, long-polled ``getUpdates`` with offset acknowledgement,
``setWebhook`` (409 for getUpdates while one is set), ``getFile`` and file downloads."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuv"
BOT_USERNAME = "tray_test_bot"
UPLOAD_LIMIT = 50 * 1000 * 1000


@dataclass
class Sent:
    method: str
    chat_id: str
    text: str | None = None
    caption: str | None = None
    document_name: str | None = None
    document: bytes | None = None


@dataclass
class FakeTelegram:
    url: str = ""
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    chats: set[str] = field(default_factory=set)
    webhook: dict[str, Any] = field(default_factory=dict)
    fail_next: list[tuple[int, float | None]] = field(default_factory=list)
    #: (offset, timeout) of every getUpdates call, for assertions about acknowledgement.
    polls: list[tuple[int | None, int]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(500))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what a test does to the world -------------------------------------------------------

    def customer_writes(self, chat_id: int, text: str | None = None, *, first_name: str = "Ada",
                        last_name: str | None = "Lovelace", document: tuple[str, bytes, str] | None = None,
                        message_id: int | None = None, chat_type: str = "private",
                        file_size: int | None = None) -> dict[str, Any]:
        """Queue an update as Telegram would when a user writes to the bot."""
        msg: dict[str, Any] = {
            "message_id": message_id if message_id is not None else next(self._ids),
            "from": {"id": chat_id, "is_bot": False, "first_name": first_name,
                     **({"last_name": last_name} if last_name else {})},
            "chat": {"id": chat_id, "type": chat_type, "first_name": first_name},
            "date": int(time.time()),
        }
        if text is not None:
            msg["caption" if document else "text"] = text
        if document is not None:
            name, data, mime = document
            file_id = self.add_file(data, f"documents/{name}")
            msg["document"] = {"file_id": file_id, "file_unique_id": file_id[::-1], "file_name": name,
                               "mime_type": mime, "file_size": file_size if file_size is not None else len(data)}
        update = {"update_id": next(self._update_ids), "message": msg}
        with self._lock:
            self.chats.add(str(chat_id))
            self.updates.append(update)
        return update

    def webhook_update(self, chat_id: int, text: str, message_id: int) -> dict[str, Any]:
        """The update Telegram would POST to a webhook (not queued for getUpdates)."""
        update = self.customer_writes(chat_id, text, message_id=message_id)
        with self._lock:
            self.updates.remove(update)
        return update

    def add_file(self, data: bytes, path: str) -> str:
        file_id = f"FILE{next(self._ids)}"
        self.files[file_id] = (path, data)
        return file_id

    def texts(self) -> list[str]:
        return [s.text or s.caption or "" for s in self.sent]

    # -- the server ---------------------------------------------------------------------------

    def app(self) -> FastAPI:
        api = FastAPI()

        @api.api_route("/bot{token}/{method}", methods=["GET", "POST"])
        async def method(token: str, method: str, request: Request) -> Response:
            if token != TOKEN:
                return _error(401, "Unauthorized")
            params, uploads = await _params(request)
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                return _error(404, "Not Found")
            try:
                result = await handler(params, uploads)
            except _ApiError as exc:
                return _error(exc.code, exc.description, exc.retry_after)
            return JSONResponse({"ok": True, "result": result})

        @api.get("/file/bot{token}/{path:path}")
        async def download(token: str, path: str) -> Response:
            for file_path, data in self.files.values():
                if token == TOKEN and file_path == path:
                    return Response(data, media_type="application/octet-stream")
            return Response(status_code=404)

        return api

    async def _m_getMe(self, p: dict[str, Any], _u: dict[str, Any]) -> Any:
        return {"id": 123456, "is_bot": True, "first_name": "Tray Test", "username": BOT_USERNAME}

    async def _m_getUpdates(self, p: dict[str, Any], _u: dict[str, Any]) -> Any:
        if self.webhook.get("url"):
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                 "use deleteWebhook to delete the webhook first")
        offset = _int(p.get("offset"))
        timeout = _int(p.get("timeout")) or 0
        limit = min(max(_int(p.get("limit")) or 100, 1), 100)
        self.polls.append((offset, timeout))
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if offset is not None:  # everything below offset is confirmed: forget it
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                pending = self.updates[:limit]
            if pending or time.monotonic() >= deadline:
                return pending
            await asyncio.sleep(0.05)

    async def _m_sendMessage(self, p: dict[str, Any], _u: dict[str, Any]) -> Any:
        chat_id = self._chat(p)
        text = p.get("text") or ""
        if not text:
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        self._maybe_fail()
        self.sent.append(Sent("sendMessage", chat_id, text=text))
        return self._message(chat_id, text=text)

    async def _m_sendDocument(self, p: dict[str, Any], uploads: dict[str, Any]) -> Any:
        chat_id = self._chat(p)
        doc = uploads.get("document")
        if doc is None:
            raise _ApiError(400, "Bad Request: there is no document in the request")
        name, data = doc
        if len(data) > UPLOAD_LIMIT:
            raise _ApiError(413, "Request Entity Too Large")
        self._maybe_fail()
        self.sent.append(Sent("sendDocument", chat_id, caption=p.get("caption"), document_name=name, document=data))
        return self._message(chat_id, caption=p.get("caption"), document={"file_name": name})

    async def _m_getFile(self, p: dict[str, Any], _u: dict[str, Any]) -> Any:
        file_id = str(p.get("file_id", ""))
        if file_id not in self.files:
            raise _ApiError(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": file_id[::-1], "file_size": len(data), "file_path": path}

    async def _m_setWebhook(self, p: dict[str, Any], _u: dict[str, Any]) -> Any:
        secret = str(p.get("secret_token") or "")
        if secret and not all(c.isalnum() or c in "_-" for c in secret):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": p.get("url", ""), "secret_token": secret,
                        "allowed_updates": p.get("allowed_updates")}
        return True

    async def _m_deleteWebhook(self, p: dict[str, Any], _u: dict[str, Any]) -> Any:
        self.webhook = {}
        return True

    async def _m_getWebhookInfo(self, p: dict[str, Any], _u: dict[str, Any]) -> Any:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self.updates)}

    # -- helpers ------------------------------------------------------------------------

    def _chat(self, p: dict[str, Any]) -> str:
        chat_id = str(p.get("chat_id", ""))
        if not chat_id:
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if chat_id not in self.chats:
            raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat_id

    def _maybe_fail(self) -> None:
        if self.fail_next:
            status, retry_after = self.fail_next.pop(0)
            raise _ApiError(status, f"Too Many Requests: retry after {int(retry_after or 1)}"
                            if status == 429 else "Internal Server Error" if status >= 500 else "Bad Request: simulated",
                            retry_after)

    def _message(self, chat_id: str, **content: Any) -> dict[str, Any]:
        return {"message_id": next(self._ids), "date": int(time.time()),
                "chat": {"id": int(chat_id), "type": "private"},
                **{k: v for k, v in content.items() if v is not None}}


class _ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: float | None = None) -> None:
        self.code, self.description, self.retry_after = code, description, retry_after


def _error(code: int, description: str, retry_after: float | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": int(retry_after)}
    return JSONResponse(body, code)


async def _params(request: Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """Parameters as Telegram takes them: query string, JSON, urlencoded or multipart."""
    params: dict[str, Any] = dict(request.query_params)
    uploads: dict[str, tuple[str, bytes]] = {}
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        body = json.loads(await request.body() or b"{}")
        params.update(body)
    elif ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        for key, value in form.multi_items():
            if hasattr(value, "read"):
                uploads[key] = (value.filename or key, await value.read())
            else:
                params[key] = value
    for key in ("allowed_updates",):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params, uploads


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
