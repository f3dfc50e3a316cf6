"""Twilio's failures as ``ProviderError``s the outbox understands.

429 and 5xx were not processed and are retried, honouring Retry-After; other 4xx carry
Twilio's own message and are not retried. A broken connection after the request went out
is *ambiguous*: Twilio may have accepted the message, so the next attempt looks first.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

from tray_agent import ProviderError

#: Twilio error codes that mean a rule refused the message: sending it again cannot work.
RULE_CODES = {21610: "The customer has opted out of messages from this number (they replied STOP)."}

#: Human text for the delivery failures status callbacks report (ErrorCode).
DELIVERY_ERRORS = {
    "30001": "Twilio's queue overflowed; the message was not sent.",
    "30002": "The Twilio account is suspended.",
    "30003": "The customer's phone is unreachable (switched off or out of coverage).",
    "30004": "The customer has blocked this number.",
    "30005": "The customer's number is unknown or no longer in service.",
    "30006": "The customer's number is a landline or cannot receive SMS.",
    "30007": "The carrier filtered the message as spam.",
    "30008": "The carrier could not deliver the message.",
    "30019": "The message's content is too large for the carrier.",
    "21610": RULE_CODES[21610],
}


class Ambiguous(ProviderError):
    """The request may have reached Twilio; look for the message before sending it again."""


def from_response(resp: httpx.Response, what: str = "Twilio") -> ProviderError:
    """The ProviderError for a non-success response, with Twilio's own message."""
    code: int | None = None
    message = ""
    try:
        body = resp.json()
        if isinstance(body, dict):
            code = body.get("code") if isinstance(body.get("code"), int) else None
            message = str(body.get("message") or "")
    except ValueError:
        message = resp.text.strip().splitlines()[0][:200] if resp.text.strip() else ""
    detail = f"{message} (error {code})" if message and code else message or f"HTTP {resp.status_code}"
    if resp.status_code == 429 or resp.status_code >= 500:
        return ProviderError(f"{what} is busy or failing: {detail}; will try again.", retryable=True,
                             provider_code=code or resp.status_code, retry_after=retry_after(resp.headers))
    if resp.status_code == 401:
        return ProviderError(f"{what} refused the credentials: {detail}. Check the account SID and auth token.",
                             retryable=False, provider_code=code or 20003)
    if code in RULE_CODES:
        return ProviderError(RULE_CODES[code], retryable=False, provider_code=code, permanent_rule=True)
    return ProviderError(f"{what} refused the message: {detail}", retryable=False,
                         provider_code=code or resp.status_code)


def from_transport(exc: httpx.TransportError, what: str = "Twilio") -> ProviderError:
    """Timeouts and broken connections. Before the request was written it is plainly
    retryable; afterwards Twilio may have the message, so it is ``Ambiguous``."""
    reason = type(exc).__name__
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return ProviderError(f"{what} could not be reached ({reason}); will try again.", retryable=True)
    return Ambiguous(f"The connection to {what} broke before it answered ({reason}); "
                     "checking whether it took the message before trying again.", retryable=True)


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
