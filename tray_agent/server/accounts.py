"""Agents' accounts on the team server: one-time sign-in codes, device tokens (stored as
SHA-256 hashes, shown once), revocation, the database's epoch and the audit log of every
administrative action.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

from pydantic import BaseModel
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import col

from tray_agent.core.errors import InvalidInput, NotFound, TrayAgentError
from tray_agent.core.models import Agent
from tray_agent.core.service import Inbox
from tray_agent.core.presence import HEARTBEAT_EVERY
from tray_agent.core.team_models import AuditEntry, Device, ServerMeta, SignInCode
from tray_agent.core.views import AgentView
from tray_agent.server.ratelimit import RateLimiter

#: Crockford's base32: no I, L, O, U, so a code read aloud or retyped stays unambiguous.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SELECTOR_LEN, SECRET_LEN = 6, 14
CODE_VALID = timedelta(hours=24)
#: Wrong secrets tried against one code before it is burnt (across every replica).
CODE_MAX_FAILURES = 10
#: Seconds a replica keeps the epoch before reading it again.
EPOCH_TTL = 5.0
#: The console on the server host (the CLI) acts as this in the audit log.
CONSOLE = "console"


class InvalidCode(TrayAgentError):
    status = 401
    code = "invalid_code"


class DeviceView(BaseModel):
    id: int
    agent_id: int
    agent_name: str
    name: str
    created_at: datetime
    last_seen_at: Optional[datetime] = None
    revoked_at: Optional[datetime] = None


class AuditView(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Caller:
    """Who a request acts for: the agent its device token names."""

    agent_id: int
    device_id: int
    admin: bool


@dataclass(frozen=True)
class Actor:
    """Who does an administrative action, for the audit log."""

    label: str
    agent_id: int | None = None


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _random(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def normalize_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum()).replace("O", "0").replace("I", "1").replace("L", "1")


def format_code(raw: str) -> str:
    return "-".join(raw[i:i + 5] for i in range(0, len(raw), 5))


class Accounts:
    """The server's account store; the CLI and the sync API both call it."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.db = inbox.db
        self.clock = inbox.clock
        # Counted in the database: the limits hold however requests spread over replicas.
        self.by_address = RateLimiter(self.db, self.clock, "addr", 10, timedelta(minutes=5))
        self.by_code = RateLimiter(self.db, self.clock, "code", 5, timedelta(minutes=15))
        self._epoch: str | None = None
        self._upload_key: bytes | None = None
        self._epoch_at = 0.0

    # -- the database's identity --------------------------------------------------------

    def epoch(self) -> str:
        """This database's epoch: a random id made once and stored, joined with where the
        data lives (the database's OID, PostgreSQL's timeline), so a new database, a restore
        into a new database and a point-in-time recovery each change it, and a cursor from
        before is told to resync. Re-read every few seconds (``server new-epoch``)."""
        now = time.monotonic()
        if self._epoch is None or now - self._epoch_at >= EPOCH_TTL:
            self._epoch, self._epoch_at = self._stored_epoch() + self._placement(), now
        return self._epoch

    def _stored_epoch(self) -> str:
        return self._meta("epoch", lambda: secrets.token_hex(8))

    def _meta(self, key: str, make: Callable[[], str]) -> str:
        """A fact about this database, made once by whichever replica asks first."""
        with self.db.read() as s:
            row = s.get(ServerMeta, key)
            if row is not None:
                return row.value
        try:
            with self.db.write() as s:
                s.add(ServerMeta(key=key, value=make()))
        except IntegrityError:
            pass  # another replica made it first
        with self.db.read() as s:
            return s.get_one(ServerMeta, key).value

    def upload_key(self) -> bytes:
        """The key upload ids are signed with: one secret every replica shares, so an id
        issued by one replica is good on another (the file store must be shared too)."""
        if self._upload_key is None:
            self._upload_key = bytes.fromhex(self._meta("upload_key", lambda: secrets.token_hex(32)))
        return self._upload_key

    def _placement(self) -> str:
        if self.db.is_sqlite:
            return ""
        with self.db.read() as s:
            parts = [str(s.execute(text("SELECT oid FROM pg_database WHERE datname = current_database()")).scalar())]
        try:
            with self.db.read() as s:  # readable by superusers and pg_monitor only, on some set-ups
                parts.append(str(s.execute(text("SELECT timeline_id FROM pg_control_checkpoint()")).scalar()))
        except DBAPIError:
            pass
        return hashlib.sha256("/".join(parts).encode()).hexdigest()[:8]

    def new_epoch(self, actor: Actor) -> str:
        """After restoring a backup: every desktop's cursor is from the lost future, so each
        is told to resync from a fresh snapshot."""
        value = secrets.token_hex(8)
        with self.db.write() as s:
            row = s.get(ServerMeta, "epoch") or ServerMeta(key="epoch", value=value)
            row.value = value
            s.add(row)
            self._audit(s, actor, "epoch.renewed", "server", {})
        self._epoch = None
        return self.epoch()

    # -- agents and codes -----------------------------------------------------------------

    def add_agent(self, actor: Actor, name: str, email: str, extension: str | None = None, *,
                  admin: bool = False) -> tuple[AgentView, str]:
        """Create an agent; returns it and a one-time sign-in code to hand them."""
        if not (email or "").strip() or "@" not in email:
            raise InvalidInput("An agent needs an e-mail address.")
        agent = self.inbox.add_agent(name, email.strip(), extension, role="admin" if admin else "agent")
        with self.db.write() as s:
            self._audit(s, actor, "agent.added", f"agent:{agent.id}", {"email": agent.email, "role": agent.role})
        return agent, self.issue_code(actor, agent.id)

    def issue_code(self, actor: Actor, agent_id: int, valid: timedelta = CODE_VALID) -> str:
        """A new one-time sign-in code for an agent (shown once; only its hash is kept)."""
        selector, secret = _random(SELECTOR_LEN), _random(SECRET_LEN)
        now = self.clock.now()
        with self.db.write() as s:
            if s.get(Agent, agent_id) is None:
                raise NotFound(f"There is no agent {agent_id}.")
            s.add(SignInCode(selector=selector, secret_hash=sha256(secret), agent_id=agent_id,
                             created_at=now, expires_at=now + valid))
            self._audit(s, actor, "code.issued", f"agent:{agent_id}", {"expires_at": (now + valid).isoformat()})
        return format_code(selector + secret)

    # -- devices ------------------------------------------------------------------------

    def sign_in(self, code: str, device_name: str, source: str) -> tuple[DeviceView, AgentView, str]:
        """Trade a one-time code for a device token (returned once, stored hashed)."""
        try:
            return self._sign_in(code, device_name, source)
        except InvalidCode:
            self.by_address.hit(source)
            selector = normalize_code(code)[:SELECTOR_LEN]
            if selector:
                self.by_code.hit(selector)
            raise

    def _sign_in(self, code: str, device_name: str, source: str) -> tuple[DeviceView, AgentView, str]:
        self.by_address.check(source, "from this address")
        raw = normalize_code(code)
        device_name = " ".join((device_name or "").split())[:100]
        if not device_name:
            raise InvalidInput("Give this device a name (device_name).")
        wrong = InvalidCode("This sign-in code is not valid; ask your administrator for a new one.")
        if len(raw) != SELECTOR_LEN + SECRET_LEN:
            raise wrong
        selector, secret = raw[:SELECTOR_LEN], raw[SELECTOR_LEN:]
        self.by_code.check(selector, "with this code")
        now = self.clock.now()
        token = secrets.token_urlsafe(32)
        with self.db.write() as s:
            row = s.execute(select(SignInCode).where(col(SignInCode.selector) == selector)).scalar_one_or_none()
            if row is None:
                raise wrong
            guessed = not hmac.compare_digest(row.secret_hash, sha256(secret))
            if guessed:
                row.failed_attempts += 1  # committed: the count must outlive the refusal
        if guessed:
            raise wrong
        with self.db.write() as s:
            row = s.get(SignInCode, row.id)
            if row is None:
                raise wrong
            if row.used_at is not None or row.failed_attempts >= CODE_MAX_FAILURES or \
                    (row.expires_at is not None and row.expires_at <= now):
                raise InvalidCode("This sign-in code was used already or has expired; ask your "
                                  "administrator for a new one.")
            # A conditional update: two devices racing with one code, one of them wins.
            used = s.execute(update(SignInCode).where(col(SignInCode.id) == row.id, col(SignInCode.used_at).is_(None))  # type: ignore[attr-defined]  # DML returns a CursorResult (rowcount)
                             .values(used_at=now).execution_options(synchronize_session=False)).rowcount
            if not used:
                raise InvalidCode("This sign-in code was used already; ask your administrator for a new one.")
            agent = s.get_one(Agent, row.agent_id)
            device = Device(agent_id=row.agent_id, name=device_name, token_hash=sha256(token), created_at=now,
                            last_seen_at=now)
            s.add(device)
            s.flush()
            self._audit(s, Actor(agent.name, agent.id), "device.signed_in", f"device:{device.id}",
                        {"name": device_name, "source": source})
            view = self._device_view(device, agent.name)
        self.inbox.device_seen(view.id, row.agent_id)  # a device just signed in is present
        return view, self.inbox.get_agent(row.agent_id), token

    def authenticate(self, token: str) -> Caller | None:
        """The caller a bearer token names, or None (unknown or revoked)."""
        if not token:
            return None
        with self.db.read() as s:
            row = s.execute(select(col(Device.id), col(Device.agent_id), col(Device.revoked_at), col(Device.last_seen_at),
                                   col(Agent.role))
                            .join(Agent, col(Agent.id) == col(Device.agent_id))
                            .where(col(Device.token_hash) == sha256(token))).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        caller = Caller(agent_id=row.agent_id, device_id=row.id, admin=row.role == "admin")
        # Each authenticated request is the device's heartbeat (written every ~15 s, not each time).
        if row.last_seen_at is None or self.clock.now() - row.last_seen_at >= HEARTBEAT_EVERY:
            self.seen(caller)
        return caller

    def seen(self, caller: Caller) -> None:
        """A heartbeat of the caller's device (an open event stream sends one every ~15 s)."""
        self.inbox.device_seen(caller.device_id, caller.agent_id)

    def device_active(self, device_id: int) -> bool:
        """False once the device is revoked (a long-lived stream checks this)."""
        with self.db.read() as s:
            d = s.get(Device, device_id)
            return d is not None and d.revoked_at is None

    def list_devices(self, agent_id: int | None = None) -> list[DeviceView]:
        with self.db.read() as s:
            q = select(Device, col(Agent.name)).join(Agent, col(Agent.id) == col(Device.agent_id)).order_by(col(Device.id))
            if agent_id is not None:
                q = q.where(col(Device.agent_id) == agent_id)
            return [self._device_view(d, name) for d, name in s.execute(q).all()]

    def revoke_device(self, actor: Actor, device_id: int) -> DeviceView:
        """Revoke a device: its token is refused from the next request on."""
        with self.db.write() as s:
            d = s.get(Device, device_id)
            if d is None:
                raise NotFound(f"There is no device {device_id}.")
            if d.revoked_at is None:
                d.revoked_at = self.clock.now()
                self._audit(s, actor, "device.revoked", f"device:{d.id}", {"agent_id": d.agent_id, "name": d.name})
            return self._device_view(d, s.get_one(Agent, d.agent_id).name)

    def _device_view(self, d: Device, agent_name: str) -> DeviceView:
        return DeviceView(id=d.id, agent_id=d.agent_id, agent_name=agent_name, name=d.name,
                          created_at=d.created_at, last_seen_at=d.last_seen_at, revoked_at=d.revoked_at)

    # -- audit log ------------------------------------------------------------------------

    def record(self, actor: Actor, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
        """Write an administrative action done through the service layer to the audit log."""
        with self.db.write() as s:
            self._audit(s, actor, action, target, detail or {})

    def _audit(self, s: Any, actor: Actor, action: str, target: str, detail: dict[str, Any]) -> None:
        s.add(AuditEntry(at=self.clock.now(), actor_agent_id=actor.agent_id, actor=actor.label,
                         action=action, target=target, detail=detail))

    def audit_log(self, limit: int = 100) -> list[AuditView]:
        with self.db.read() as s:
            rows = s.execute(select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(max(1, min(limit, 1000)))).scalars()
            return [AuditView(id=a.id, at=a.at, actor=a.actor, action=a.action, target=a.target,
                              detail=a.detail or {}) for a in rows]
