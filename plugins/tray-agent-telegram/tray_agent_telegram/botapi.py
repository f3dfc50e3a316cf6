"""A small client for the Telegram Bot API: ``{api_base}/bot<token>/<method>``, the
``{"ok": …, "result": …}`` envelope, and its errors mapped onto ``ProviderError`` (429 with
``parameters.retry_after`` and 5xx are retryable; the rest are not)."""

from __future__ import annotations

from typing import Any

import httpx

from tray_agent import ProviderError, tls_context

DEFAULT_API_BASE = "https://api.telegram.org"


class BotApiError(ProviderError):
    """A Bot API refusal; ``provider_code`` is Telegram's ``error_code``."""


class BotApi:
    def __init__(self, token: str | None, api_base: str = DEFAULT_API_BASE,
                 client: httpx.AsyncClient | None = None) -> None:
        self.token = token
        self.api_base = api_base.rstrip("/")
        # No overall timeout: long polls hold the request open; each call sets its own.
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(30.0), verify=tls_context())

    def _url(self, method: str) -> str:
        if not self.token:
            raise ProviderError("The channel has no bot_token secret set.", retryable=False)
        return f"{self.api_base}/bot{self.token}/{method}"

    async def call(self, method: str, params: dict[str, Any] | None = None, *,
                   files: dict[str, tuple[str, Any, str]] | None = None, timeout: float = 30.0) -> Any:
        """Call one method; JSON body, or multipart when ``files`` are given. Returns ``result``."""
        url = self._url(method)
        try:
            if files:
                data = {k: str(v) for k, v in (params or {}).items() if v is not None}
                r = await self.client.post(url, data=data, files=files, timeout=timeout)
            else:
                r = await self.client.post(url, json=params or {}, timeout=timeout)
        except httpx.TimeoutException:
            raise ProviderError(f"Telegram did not answer {method} in time.", retryable=True) from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"Telegram could not be reached: {exc}", retryable=True) from None
        return self._result(method, r)

    @staticmethod
    def _result(method: str, r: httpx.Response) -> Any:
        try:
            body = r.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("ok") is True and r.status_code < 300:
            return body.get("result")
        code = body.get("error_code", r.status_code) if isinstance(body, dict) else r.status_code
        desc = body.get("description") if isinstance(body, dict) else None
        params = body.get("parameters") if isinstance(body, dict) else None
        retry_after = params.get("retry_after") if isinstance(params, dict) else None
        reason = desc or f"HTTP {r.status_code}"
        raise BotApiError(
            f"Telegram refused {method}: {reason}",
            retryable=code == 429 or (isinstance(code, int) and code >= 500),
            provider_code=code,
            retry_after=float(retry_after) if isinstance(retry_after, (int, float)) else None,
        )

    async def download(self, file_id: str) -> tuple[str, bytes]:
        """A user's file: getFile for its path, then fetch it. Returns (file_path, data)."""
        info = await self.call("getFile", {"file_id": file_id})
        path = info.get("file_path") if isinstance(info, dict) else None
        if not path:
            raise ProviderError("Telegram returned no file_path for the file.", retryable=False)
        url = f"{self.api_base}/file/bot{self.token}/{path}"
        try:
            r = await self.client.get(url, timeout=120.0)
        except httpx.HTTPError as exc:
            raise ProviderError(f"Downloading a file from Telegram failed: {exc}", retryable=True) from None
        if r.status_code != 200:
            raise ProviderError(f"Downloading a file from Telegram failed: HTTP {r.status_code}",
                                retryable=r.status_code >= 500, provider_code=r.status_code)
        return path, r.content

    async def aclose(self) -> None:
        await self.client.aclose()
