"""The sandbox's memory: its fake accounts and numbers, the recent messages both providers
carried (a ring per customer number and an overall cap, so a day of traffic does not
grow it), stored files, injected faults and webhook-delivery options.

One lock guards it all; the HTTP handlers, the webhook deliverer and in-process callers
(the agent's auto-start, tests) share one ``SandboxState``.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
import threading
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from tray_agent.core.clock import Clock, SystemClock

WINDOW = timedelta(hours=24)
PER_NUMBER = 500  # messages kept per customer number and provider
MESSAGES = 20_000  # messages kept per provider
BLOBS = 2_000  # stored files kept (each may be megabytes)

V = TypeVar("V")


class Recent(dict[str, V], Generic[V]):
    """A dict that keeps the newest entries only: at most ``per_group`` per group (the
    customer's number) and ``total`` in all; the oldest goes first, and ``on_evict`` lets
    the owner drop what hung off it (its files)."""

    def __init__(self, total: int, per_group: int | None = None, group: Callable[[V], Hashable] | None = None,
                 on_evict: Callable[[V], None] | None = None) -> None:
        super().__init__()
        self.total, self.per_group, self.group, self.on_evict = total, per_group, group, on_evict
        self._groups: dict[Hashable, deque[str]] = {}

    def __setitem__(self, key: str, value: V) -> None:
        fresh = key not in self
        super().__setitem__(key, value)
        if not fresh:
            return
        if self.group is not None and self.per_group is not None:
            ring = self._groups.setdefault(self.group(value), deque())
            ring.append(key)
            while len(ring) > self.per_group:
                self._evict(ring.popleft())
        while len(self) > self.total:
            self._evict(next(iter(self)))

    def _evict(self, key: str) -> None:
        value = self.pop(key, None)
        if value is not None and self.on_evict is not None:
            self.on_evict(value)

    def pop(self, key: str, default: Any = None) -> Any:
        if key not in self:
            return default
        value = super().pop(key)
        if self.group is not None:
            ring = self._groups.get(self.group(value))
            if ring is not None:
                try:
                    ring.remove(key)
                except ValueError:
                    pass
                if not ring:
                    del self._groups[self.group(value)]
        return value

    def clear(self) -> None:
        super().clear()
        self._groups.clear()


@dataclass(frozen=True)
class SandboxCredentials:
    """Fake credentials of this run. They protect nothing real, yet are still treated as
    secrets by the agent: handed over in memory, never written to config files or logs."""

    twilio_account_sid: str
    twilio_auth_token: str
    meta_access_token: str
    meta_app_secret: str
    meta_verify_token: str
    sms_number: str = "+14155550100"
    whatsapp_number: str = "+14155550101"
    phone_number_id: str = "100000000000001"
    waba_id: str = "200000000000001"
    graph_version: str = "v21.0"

    @classmethod
    def generate(cls) -> "SandboxCredentials":
        return cls(twilio_account_sid="AC" + secrets.token_hex(16), twilio_auth_token=secrets.token_hex(16),
                   meta_access_token="EAAS" + secrets.token_urlsafe(32), meta_app_secret=secrets.token_hex(16),
                   meta_verify_token=secrets.token_urlsafe(12))


@dataclass
class Blob:
    """A stored file: Twilio media, a WhatsApp upload, or what a customer attached."""

    id: str
    data: bytes
    mime_type: str
    file_name: str


@dataclass
class SmsMessage:
    sid: str
    from_: str
    to: str
    body: str
    direction: str  # inbound | outbound-api
    status: str
    date_created: datetime
    media: list[tuple[str, str]] = field(default_factory=list)  # (ME sid, blob id)
    status_callback: str = ""
    messaging_service_sid: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    date_sent: datetime | None = None


@dataclass
class WaMessage:
    id: str
    phone_number_id: str
    customer: str  # wa_id (digits, no '+'), or the BSUID of a customer known by username only
    direction: str  # inbound | outbound
    type: str
    text: str
    timestamp: datetime
    status: str = "received"
    blob_id: str | None = None
    media_id: str | None = None
    file_name: str | None = None
    error: dict[str, Any] | None = None


@dataclass
class Fault:
    """One injected failure, applied to the next ``times`` matching provider requests.

    kind: ``error`` (answer ``status`` in the provider's error format, with Retry-After),
    ``slow`` (answer after ``delay`` s — the request *is* processed), ``hang`` (wait
    ``delay`` s, then drop the connection unprocessed), ``drop`` (drop it at once,
    unprocessed), ``drop_after`` (process it, then drop the connection instead of answering).
    """

    provider: str = "any"  # twilio | meta | any
    kind: str = "error"
    status: int = 500
    code: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    times: int = 1
    method: str | None = None
    path: str | None = None  # a substring the request path must contain

    def matches(self, provider: str, method: str, path: str) -> bool:
        return (self.provider in ("any", provider) and (self.method is None or self.method.upper() == method)
                and (self.path is None or self.path in path))


@dataclass
class DeliveryRecord:
    id: int
    provider: str
    kind: str  # message | status | verify
    url: str
    status: int | None
    error: str | None
    at: datetime


@dataclass
class NumberHooks:
    """Where a business number's webhooks go (Twilio's SmsUrl, Meta's callback URL)."""

    number: str
    url: str = ""
    verified: bool = False


class _OffsetClock:
    """The sandbox's time: a base clock plus an offset the admin API can push forward."""

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.offset = timedelta()

    def now(self) -> datetime:
        return self.base.now() + self.offset


class SandboxState:
    def __init__(self, credentials: SandboxCredentials | None = None, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        self.creds = credentials or SandboxCredentials.generate()
        self.clock = _OffsetClock(clock or SystemClock())
        self.base_url = ""
        self.sms_hooks: dict[str, NumberHooks] = {self.creds.sms_number: NumberHooks(self.creds.sms_number)}
        self.wa_hooks: dict[str, NumberHooks] = {self.creds.phone_number_id: NumberHooks(self.creds.whatsapp_number)}
        self.sms: Recent[SmsMessage] = Recent(MESSAGES, PER_NUMBER, _sms_customer, self._drop_sms_files)
        self.wa: Recent[WaMessage] = Recent(MESSAGES, PER_NUMBER, lambda m: m.customer, self._drop_wa_files)
        self.blobs: Recent[Blob] = Recent(BLOBS)
        self.wa_media: Recent[str] = Recent(BLOBS)  # media id → blob id
        self.last_inbound: dict[tuple[str, str], datetime] = {}
        #: Customers who write by username, without a phone number: BSUID → username.
        self.wa_usernames: dict[str, str] = {}
        self.opted_out: set[str] = set()
        self.faults: list[Fault] = []
        self.log: deque[DeliveryRecord] = deque(maxlen=2000)
        self._seq = itertools.count(1)
        # How webhooks are delivered (all switchable through the admin API).
        self.window_mode = "async"  # 131047 as a later failed status, or "sync" (HTTP 400)
        self.duplicate = False
        self.hold = False
        self.reverse_statuses = False
        self.auto_status = True
        self.status_delay = 0.05
        self.auto_read = True
        self.meta_retries = 3

    def now(self) -> datetime:
        return self.clock.now()

    # -- ids -----------------------------------------------------------------------------

    @staticmethod
    def sid(prefix: str) -> str:
        return prefix + secrets.token_hex(16)

    @staticmethod
    def wamid() -> str:
        return "wamid." + secrets.token_urlsafe(24)

    def next_record_id(self) -> int:
        return next(self._seq)

    # -- files ---------------------------------------------------------------------------

    def add_blob(self, data: bytes, mime_type: str, file_name: str) -> Blob:
        blob = Blob(secrets.token_urlsafe(18), data, mime_type or "application/octet-stream", file_name or "file")
        with self.lock:
            self.blobs[blob.id] = blob
        return blob

    def _drop_sms_files(self, msg: "SmsMessage") -> None:
        for _me, blob_id in msg.media:
            self.blobs.pop(blob_id, None)

    def _drop_wa_files(self, msg: "WaMessage") -> None:
        if msg.blob_id:
            self.blobs.pop(msg.blob_id, None)
        if msg.media_id:
            self.wa_media.pop(msg.media_id, None)

    # -- faults --------------------------------------------------------------------------

    def take_fault(self, provider: str, method: str, path: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.matches(provider, method, path):
                    f.times -= 1
                    if f.times <= 0:
                        self.faults.remove(f)
                    return f
        return None

    # -- the 24-hour window ----------------------------------------------------------------

    def window_open(self, phone_number_id: str, wa_id: str) -> bool:
        with self.lock:
            last = self.last_inbound.get((phone_number_id, wa_id))
        return last is not None and self.now() - last < WINDOW

    def reset(self) -> None:
        """Forget messages, files, faults and delivery options; keep numbers and hooks."""
        with self.lock:
            self.sms.clear()
            self.wa.clear()
            self.blobs.clear()
            self.wa_media.clear()
            self.last_inbound.clear()
            self.wa_usernames.clear()
            self.opted_out.clear()
            self.faults.clear()
            self.log.clear()
            self.window_mode, self.duplicate, self.hold, self.reverse_statuses = "async", False, False, False
            self.auto_status, self.status_delay, self.auto_read = True, 0.05, True
            self.clock.offset = timedelta()


BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")


def bsuid_for(key: str, region: str = "US") -> str:
    """The business-scoped user id Meta gives a WhatsApp user (every user has one, with
    or without a phone number it shares): stable for the sandbox's one business."""
    digits = str(int(hashlib.sha256(key.encode()).hexdigest(), 16))[:19]
    return f"{region}.{digits}"


def _sms_customer(m: SmsMessage) -> str:
    return m.from_ if m.direction == "inbound" else m.to
