"""Webhooks the sandbox sends to the agent, signed exactly as each provider signs them:
Twilio's X-Twilio-Signature over the registered URL and form parameters, Meta's
X-Hub-Signature-256 over the raw JSON bytes.

Delivery can be made hostile for tests: every webhook twice, held back and released in
reverse or shuffled order, statuses reversed; Meta-style redelivery on a non-200.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from tray_agent.channels import tls_context  # one per process, shared with the channels
from tray_agent.sandbox.state import DeliveryRecord, SandboxState

log = logging.getLogger(__name__)


def twilio_signature(token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL plus sorted ``name + value`` pairs."""
    by_name: dict[str, set[str]] = {}
    for k, v in params:
        by_name.setdefault(k, set()).add(v)
    data = url + "".join(k + v for k in sorted(by_name) for v in sorted(by_name[k]))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def meta_signature(app_secret: str, body: bytes) -> str:
    """X-Hub-Signature-256: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    provider: str  # twilio | meta
    kind: str  # message | status
    url: str
    body: bytes
    headers: dict[str, str]


class Deliverer:
    """Posts webhooks from the sandbox's event loop and records each outcome."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.held: list[Delivery] = []
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- building ---------------------------------------------------------------------------

    def twilio(self, kind: str, url: str, params: list[tuple[str, str]]) -> Delivery:
        sig = twilio_signature(self.state.creds.twilio_auth_token, url, params)
        return Delivery("twilio", kind, url, urlencode(params).encode(),
                        {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig,
                         "User-Agent": "TwilioProxy/1.1 (tray-agent sandbox)"})

    def meta(self, kind: str, url: str, payload: dict[str, Any]) -> Delivery:
        # Meta escapes non-ASCII as \uXXXX; the signature covers exactly these bytes.
        body = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()
        return Delivery("meta", kind, url, body,
                        {"Content-Type": "application/json",
                         "X-Hub-Signature-256": meta_signature(self.state.creds.meta_app_secret, body),
                         "User-Agent": "facebookexternalua (tray-agent sandbox)"})

    # -- sending -----------------------------------------------------------------------------

    async def submit(self, d: Delivery) -> list[DeliveryRecord]:
        """Deliver now (twice when duplicating), or hold it for a later ``flush``. Returns
        every attempt, redeliveries included."""
        with self.state.lock:
            if self.state.hold:
                self.held.append(d)
                return []
        return await self._deliver(d)

    async def flush(self, order: str = "fifo") -> list[DeliveryRecord]:
        with self.state.lock:
            batch, self.held = self.held, []
        if order == "reverse":
            batch.reverse()
        elif order == "shuffle":
            random.shuffle(batch)
        out = []
        for d in batch:
            out.extend(await self._deliver(d))
        return out

    async def _deliver(self, d: Delivery) -> list[DeliveryRecord]:
        out = []
        for _ in range(2 if self.state.duplicate else 1):
            out.extend(await self._post(d))
        return out

    async def _post(self, d: Delivery) -> list[DeliveryRecord]:
        # Meta redelivers a notification that did not get a 200; Twilio does not retry.
        attempts = 1 + (self.state.meta_retries if d.provider == "meta" else 0)
        out: list[DeliveryRecord] = []
        for attempt in range(attempts):
            status, error = None, None
            try:
                resp = await self._http().post(d.url, content=d.body, headers=d.headers)
                status = resp.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            record = DeliveryRecord(self.state.next_record_id(), d.provider, d.kind, d.url, status, error, self.state.now())
            out.append(record)
            with self.state.lock:
                self.state.log.append(record)
            if status is not None and 200 <= status < 300:
                break
            if attempt + 1 < attempts:
                await asyncio.sleep(0.1 * 2 ** attempt)
        return out

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background of the sandbox's loop (status progressions)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("sandbox background delivery failed: %s", task.exception())

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0, verify=tls_context())
        return self._client

    async def aclose(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def progress(deliverer: Deliverer, steps: list[tuple[Callable[[], None], Delivery | None]]) -> None:
    """A message's delivery steps, one after another, spaced by the status delay: each
    updates the sandbox's record (forward only) and sends its callback, if there is a URL.
    Reversed when the admin API asks for out-of-order statuses."""
    state = deliverer.state
    if state.reverse_statuses:
        steps = list(reversed(steps))
    for apply, d in steps:
        await asyncio.sleep(state.status_delay)
        apply()
        if d is not None:
            await deliverer.submit(d)
