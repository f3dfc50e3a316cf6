"""The team server's tables: the database's epoch, sign-in codes, devices, the audit log
and the idempotency records of the sync API. Secrets (codes, device tokens) are stored
only as SHA-256 hashes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Column, Index, String
from sqlmodel import Field, SQLModel

from tray_agent.core.columns import _ts


class ServerMeta(SQLModel, table=True):
    """Facts about this database itself, such as its epoch (a new database, a new epoch)."""

    __tablename__ = "server_meta"
    key: str = Field(primary_key=True)
    value: str


class SignInCode(SQLModel, table=True):
    """A one-time code an administrator hands an agent. ``selector`` finds the row (and
    counts wrong guesses against it); only the hash of the secret part is kept."""

    __tablename__ = "sign_in_code"
    id: Optional[int] = Field(default=None, primary_key=True)
    selector: str = Field(sa_column=Column(String, unique=True, nullable=False))
    secret_hash: str
    agent_id: int = Field(foreign_key="agent.id", index=True)
    created_at: Optional[datetime] = _ts()
    expires_at: Optional[datetime] = _ts()
    used_at: Optional[datetime] = _ts()
    failed_attempts: int = 0


class Device(SQLModel, table=True):
    """A desktop signed in as an agent; its bearer token is stored as a SHA-256 hash."""

    __tablename__ = "device"
    id: Optional[int] = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", index=True)
    name: str
    token_hash: str = Field(sa_column=Column(String, unique=True, nullable=False))
    created_at: Optional[datetime] = _ts()
    last_seen_at: Optional[datetime] = _ts()
    revoked_at: Optional[datetime] = _ts()


class AuditEntry(SQLModel, table=True):
    """One administrative action: who did what to which target, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at", "id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    at: Optional[datetime] = _ts()
    #: The acting agent; None for the server's own console (the CLI on the server host).
    actor_agent_id: Optional[int] = Field(default=None, foreign_key="agent.id")
    actor: str
    action: str
    target: str
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class IdempotencyRecord(SQLModel, table=True):
    """(agent, client key) → the first answer to that action, replayed for a repeat."""

    __tablename__ = "idempotency_key"
    agent_id: int = Field(foreign_key="agent.id", primary_key=True)
    key: str = Field(primary_key=True)
    created_at: Optional[datetime] = _ts()
    #: None while the first request is still acting.
    status_code: Optional[int] = None
    response: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON, nullable=True))


class JobLease(SQLModel, table=True):
    """Which replica runs a background job (the outbox, a poller, a sweep) and until when,
    by the database's clock: a holder that stops renewing loses the job at ``expires_at``.
    ``generation`` grows by one at each take-over: the fencing token a holder's writes carry."""

    __tablename__ = "job_lease"
    name: str = Field(primary_key=True)
    holder: str
    expires_at: Optional[datetime] = _ts()
    generation: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))


class SignInAttempt(SQLModel, table=True):
    """One failed sign-in attempt, counted against a key (a source address, a code's
    selector) by every replica; rows older than the longest window are pruned."""

    __tablename__ = "sign_in_attempt"
    __table_args__ = (Index("ix_sign_in_attempt_key_at", "key", "at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    key: str
    at: Optional[datetime] = _ts(nullable=False, index=True)
