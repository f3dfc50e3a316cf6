"""Meta's Graph API failures as ``ProviderError``s, keyed on ``error.code`` as Meta advises.

Rate limits and server trouble are retried (honouring Retry-After, or 4^n seconds for the
per-customer pair limit); 131047 is the 24-hour rule and never retried with the same
content; anything else carries Meta's own message and fails the send.
"""

from __future__ import annotations

from typing import Any

import httpx

from tray_agent import ProviderError

REENGAGE_CODE = 131047
#: What the agent is told when Meta enforces the 24-hour customer-service window.
REENGAGE_REASON = ("WhatsApp refused it: more than 24 hours have passed since the customer last wrote, "
                   "so only an approved template can reach them now (error 131047).")

#: Codes that mean "too much, too fast" or "try again": retried.
RETRYABLE_CODES = {1, 2, 4, 80007, 130429, 131000, 131016, 131056, 133004}
#: Codes that mean a channel rule refused the message: the same content can never go.
RULE_CODES = {REENGAGE_CODE: REENGAGE_REASON}
AUTH_CODES = {190, 10, 200}


class Ambiguous(ProviderError):
    """The request may have reached Meta: sending again could deliver it twice."""


def error_body(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else {}


def describe(err: dict[str, Any]) -> str:
    """Meta's message and details in one line: ``(#131051) Unsupported message type: …``."""
    message = str(err.get("message") or err.get("title") or "").strip()
    details = (err.get("error_data") or {}).get("details") if isinstance(err.get("error_data"), dict) else None
    text = f"{message}: {details}" if details and details not in message else message
    return " ".join(text.split())[:300]


def from_response(resp: httpx.Response, attempt: int = 1) -> ProviderError:
    err = error_body(resp)
    code = err.get("code") if isinstance(err.get("code"), int) else None
    detail = describe(err) or f"HTTP {resp.status_code}"
    if code in RULE_CODES:
        return ProviderError(RULE_CODES[code], retryable=False, provider_code=code, permanent_rule=True)
    if code in RETRYABLE_CODES or resp.status_code == 429 or resp.status_code >= 500:
        hint = retry_after(resp, err)
        if hint is None and code == 131056:
            hint = float(4 ** max(1, attempt))  # Meta's advice for the per-customer pair limit
        return ProviderError(f"WhatsApp is busy or failing: {detail}; will try again.", retryable=True,
                             provider_code=code or resp.status_code, retry_after=hint)
    if code in AUTH_CODES or resp.status_code in (401, 403):
        return ProviderError(f"WhatsApp refused the access token: {detail}. Renew it in Meta's Business settings.",
                             retryable=False, provider_code=code or resp.status_code)
    return ProviderError(f"WhatsApp refused the message: {detail}", retryable=False,
                         provider_code=code or resp.status_code)


def from_transport(exc: httpx.TransportError, sending: bool) -> ProviderError:
    """Before the request was written it is plainly retryable. A send whose connection broke
    afterwards may already be with Meta, which has no way to look it up: it fails visibly
    rather than risk reaching the customer twice."""
    reason = type(exc).__name__
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)) or not sending:
        return ProviderError(f"WhatsApp could not be reached ({reason}); will try again.", retryable=True)
    return Ambiguous(f"The connection to WhatsApp broke after the message was handed over ({reason}); "
                     "it may have arrived. Check with the customer before sending it again.", retryable=False)


def retry_after(resp: httpx.Response, err: dict[str, Any]) -> float | None:
    """Retry-After in seconds, or a ``retry_after`` hint in the error body."""
    value = resp.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    for holder in (err.get("error_data"), err.get("parameters"), err):
        if isinstance(holder, dict) and isinstance(holder.get("retry_after"), (int, float)):
            return max(0.0, float(holder["retry_after"]))
    return None
