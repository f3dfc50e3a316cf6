"""A small synchronous client for the sandbox's admin API: what tests (and scripts) use to
play the customer, inject faults and read what the providers carried."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import httpx


class SandboxAdmin:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.http = httpx.Client(base_url=url, timeout=timeout, headers={"X-Sandbox": "1"})

    def _ok(self, r: httpx.Response) -> Any:
        if r.status_code >= 400:
            raise AssertionError(f"sandbox {r.request.method} {r.request.url.path}: {r.status_code} {r.text}")
        return r.json()

    def customer_sends(self, channel: str, customer: str, text: str = "", *, name: str | None = None,
                       files: Sequence[tuple[str, str, bytes]] = (), to: str | None = None) -> dict[str, Any]:
        """The customer's phone writes to the business; returns ids and webhook outcomes."""
        body: dict[str, Any] = {"channel": channel, "from": customer, "text": text, "name": name, "to": to,
                                "files": [{"name": n, "mime_type": m, "data_b64": base64.b64encode(d).decode()}
                                          for n, m, d in files]}
        return self._ok(self.http.post("/_sandbox/customer/send", json=body))

    def messages(self, channel: str) -> list[dict[str, Any]]:
        return self._ok(self.http.get("/_sandbox/messages", params={"channel": channel}))

    def outbound(self, channel: str) -> list[dict[str, Any]]:
        """Messages the business sent, oldest first."""
        return [m for m in self.messages(channel) if m["direction"] != "inbound"]

    def thread(self, channel: str, customer: str) -> list[dict[str, Any]]:
        return self._ok(self.http.get("/_sandbox/customer/thread", params={"channel": channel, "customer": customer}))

    def fault(self, **fault: Any) -> None:
        self._ok(self.http.post("/_sandbox/faults", json=fault))

    def options(self, **options: Any) -> dict[str, Any]:
        return self._ok(self.http.post("/_sandbox/options", json=options))

    def status(self, channel: str, message_id: str, status: str, error_code: int | None = None) -> dict[str, Any]:
        return self._ok(self.http.post("/_sandbox/status", json={"channel": channel, "id": message_id,
                                                                  "status": status, "error_code": error_code}))

    def flush(self, order: str = "fifo") -> list[dict[str, Any]]:
        return self._ok(self.http.post("/_sandbox/webhooks/flush", params={"order": order}))["deliveries"]

    def log(self) -> list[dict[str, Any]]:
        return self._ok(self.http.get("/_sandbox/webhooks/log"))

    def advance(self, seconds: float) -> None:
        self._ok(self.http.post("/_sandbox/clock/advance", params={"seconds": seconds}))

    def register_sms(self, number: str, url: str) -> None:
        self._ok(self.http.post("/_sandbox/numbers/sms", json={"number": number, "url": url}))

    def register_whatsapp(self, phone_number_id: str, url: str, verify: bool = True) -> dict[str, Any]:
        return self._ok(self.http.post("/_sandbox/numbers/whatsapp",
                                       json={"phone_number_id": phone_number_id, "url": url, "verify": verify}))

    def close(self) -> None:
        self.http.close()
