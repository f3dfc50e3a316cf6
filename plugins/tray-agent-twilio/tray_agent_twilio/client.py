"""Twilio's REST API as the channel uses it: send, list, fetch media, check the account.

Form bodies, HTTP Basic auth with the Account SID and Auth Token, JSON answers. Every
failure becomes a ``ProviderError`` (see ``errors.py``); nothing here logs a credential.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import httpx

from tray_agent import ProviderError, tls_context
from tray_agent_twilio import errors

DEFAULT_API_BASE = "https://api.twilio.com"
API_VERSION = "2010-04-01"


class TooLarge(Exception):
    """A media file is over the size the agent accepts; it was not downloaded."""


class TwilioApi:
    def __init__(self, api_base: str, account_sid: str, token: Callable[[], str | None], *,
                 timeout: float = 15.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.account_sid = account_sid
        self._token = token
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- plumbing ----------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        # One client per event loop: the CLI's `channel test` and the server run in different loops.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(timeout=self._timeout, transport=self._transport, verify=tls_context(),
                                             headers={"User-Agent": "tray-agent-twilio"})
            self._loop = loop
        return self._client

    def _auth(self) -> httpx.BasicAuth:
        token = self._token()
        if not self.account_sid or not token:
            raise ProviderError("The Twilio account SID or auth token is not set; add them with "
                                "`tray-agent channel add` or the TRAY_AGENT_SECRET_… variable.",
                                retryable=False, provider_code="not_configured")
        return httpx.BasicAuth(self.account_sid, token)

    def url(self, path: str) -> str:
        """An absolute URL for ``path``: Twilio's page URIs are relative to the host."""
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith("/"):
            return self.api_base + path
        return f"{self.api_base}/{API_VERSION}/Accounts/{self.account_sid}/{path}"

    async def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = await self._http().request(method, self.url(path), auth=self._auth(), **kw)
        except httpx.TransportError as exc:
            raise errors.from_transport(exc) from None
        if resp.status_code >= 300:
            raise errors.from_response(resp)
        return resp

    # -- the calls -----------------------------------------------------------------------

    async def create_message(self, form: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """POST Messages.json; the 201 Message resource."""
        # Encoded by hand: MediaUrl repeats, and the order of the parameters is kept.
        resp = await self._request("POST", "Messages.json", content=urlencode(list(form)).encode(),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        return _json(resp)

    async def list_messages(self, params: dict[str, str] | None = None, page_uri: str | None = None) -> dict[str, Any]:
        """One page of the Messages list (newest first); follow ``next_page_uri`` for more."""
        if page_uri:
            return _json(await self._request("GET", page_uri))
        return _json(await self._request("GET", "Messages.json", params=params or {}))

    async def media_list(self, message_sid: str) -> list[dict[str, Any]]:
        body = _json(await self._request("GET", f"Messages/{message_sid}/Media.json"))
        return list(body.get("media_list") or [])

    async def account(self) -> dict[str, Any]:
        return _json(await self._request("GET", f"/{API_VERSION}/Accounts/{self.account_sid}.json"))

    async def download(self, url: str, limit: int) -> tuple[bytes, str]:
        """A media file (Basic auth; Twilio redirects to storage). Raises TooLarge past ``limit``."""
        try:
            async with self._http().stream("GET", self.url(url), auth=self._auth(), follow_redirects=True) as resp:
                if resp.status_code >= 300:
                    await resp.aread()
                    raise errors.from_response(resp, "Twilio media storage")
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
            raise errors.from_transport(exc, "Twilio media storage") from None

    async def aclose(self) -> None:
        if self._client is not None:
            try:
                await self._client.aclose()
            except RuntimeError:  # its loop is gone (a CLI run); nothing left to release
                pass
            self._client = None


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        raise ProviderError(f"Twilio answered HTTP {resp.status_code} with something that is not JSON.",
                            retryable=resp.status_code >= 500) from None
    if not isinstance(body, dict):
        raise ProviderError("Twilio answered with unexpected JSON.", retryable=False)
    return body

