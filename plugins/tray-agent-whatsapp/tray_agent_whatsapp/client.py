"""Meta's Graph API as the WhatsApp channel uses it: messages, media upload, lookup and
download, and the phone number (for health checks).

Bearer token on every call, JSON bodies (multipart for uploads); every failure becomes a
``ProviderError`` (see ``errors.py``); nothing here logs a credential.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tray_agent import ProviderError, tls_context
from tray_agent_whatsapp import errors

DEFAULT_API_BASE = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"


class TooLarge(Exception):
    """A media file is over the size the agent accepts; it was not downloaded."""


class GraphApi:
    def __init__(self, api_base: str, api_version: str, phone_number_id: str, token: Callable[[], str | None], *,
                 timeout: float = 15.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        version = (api_version or DEFAULT_API_VERSION).strip("/")
        self.version = version if version.startswith("v") else f"v{version}"
        self.phone_number_id = phone_number_id
        self._token = token
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        # One client per event loop: the CLI's `channel test` and the server run in different loops.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(timeout=self._timeout, transport=self._transport, verify=tls_context(),
                                             headers={"User-Agent": "tray-agent-whatsapp"})
            self._loop = loop
        return self._client

    def _headers(self) -> dict[str, str]:
        token = self._token()
        if not token or not self.phone_number_id:
            raise ProviderError("The WhatsApp phone number ID or access token is not set; add them with "
                                "`tray-agent channel add` or the TRAY_AGENT_SECRET_… variable.",
                                retryable=False, provider_code="not_configured")
        return {"Authorization": f"Bearer {token}"}

    def url(self, path: str) -> str:
        return f"{self.api_base}/{self.version}/{path.lstrip('/')}"

    async def _call(self, method: str, path: str, *, attempt: int = 1, sending: bool = False,
                    **kw: Any) -> dict[str, Any]:
        try:
            resp = await self._http().request(method, self.url(path), headers=self._headers(), **kw)
        except httpx.TransportError as exc:
            raise errors.from_transport(exc, sending) from None
        if resp.status_code >= 300:
            raise errors.from_response(resp, attempt)
        try:
            body = resp.json()
        except ValueError:
            raise ProviderError(f"WhatsApp answered HTTP {resp.status_code} with something that is not JSON.",
                                retryable=False) from None
        if not isinstance(body, dict):
            raise ProviderError("WhatsApp answered with unexpected JSON.", retryable=False)
        return body

    async def send(self, payload: dict[str, Any], attempt: int = 1) -> str:
        """POST /{phone-number-id}/messages; the new message's wamid."""
        body = await self._call("POST", f"{self.phone_number_id}/messages", json=payload, attempt=attempt, sending=True)
        try:
            return str(body["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise ProviderError("WhatsApp accepted the request but returned no message id.", retryable=False) from None

    async def upload(self, path: Path, mime_type: str, file_name: str, attempt: int = 1) -> str:
        """POST /{phone-number-id}/media (multipart); the media id to send by."""
        with open(path, "rb") as fh:
            body = await self._call("POST", f"{self.phone_number_id}/media", attempt=attempt,
                                    data={"messaging_product": "whatsapp", "type": mime_type},
                                    files={"file": (file_name, fh, mime_type)})
        media_id = str(body.get("id") or "")
        if not media_id:
            raise ProviderError("WhatsApp accepted the upload but returned no media id.", retryable=False)
        return media_id

    async def media_info(self, media_id: str) -> dict[str, Any]:
        """GET /{media-id}: a short-lived download URL, the MIME type and size."""
        return await self._call("GET", media_id)

    async def download(self, url: str, limit: int) -> tuple[bytes, str]:
        """The media bytes (same Bearer header); raises TooLarge past ``limit``."""
        try:
            async with self._http().stream("GET", url, headers=self._headers(), follow_redirects=True) as resp:
                if resp.status_code >= 300:
                    await resp.aread()
                    raise errors.from_response(resp)
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise TooLarge(int(declared))
                chunks, size = [], 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(size)
                    chunks.append(chunk)
                return b"".join(chunks), resp.headers.get("content-type", "application/octet-stream")
        except httpx.TransportError as exc:
            raise errors.from_transport(exc, sending=False) from None

    async def phone_number(self) -> dict[str, Any]:
        return await self._call("GET", self.phone_number_id,
                                params={"fields": "display_phone_number,verified_name,quality_rating"})

    async def aclose(self) -> None:
        if self._client is not None:
            try:
                await self._client.aclose()
            except RuntimeError:  # its loop is gone (a CLI run); nothing left to release
                pass
            self._client = None

