"""Idempotent actions: (agent, client key) → the first answer, replayed for a repeat.

The key is reserved (committed) before the action runs, so a repeat that arrives while the
first is still acting — or after the server died mid-action — never acts a second time; it
is told ``in_progress`` instead. The events the action writes carry the key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from tray_agent.core import events
from tray_agent.core.db import Database
from tray_agent.core.clock import Clock
from tray_agent.core.errors import InvalidInput, StorageUnavailable, TrayAgentError
from tray_agent.core.team_models import IdempotencyRecord

MAX_KEY = 200


class InProgress(TrayAgentError):
    status = 409
    code = "in_progress"


class KeyReused(TrayAgentError):
    status = 422
    code = "idempotency_key_reused"


def refusal(exc: TrayAgentError) -> dict[str, Any]:
    """A refusal as the sync API answers it: a stable ``error`` code and the human message."""
    body = {**exc.to_dict(), "error": getattr(exc, "reason", exc.code)}
    if hasattr(exc, "owner_name"):  # already_taken: by whom and when
        taken_at = getattr(exc, "taken_at", None)
        body.update(owner_name=exc.owner_name, taken_at=taken_at.isoformat() if taken_at else None)
    return body


def run_once(db: Database, clock: Clock, agent_id: int, key: str | None, request: str,
             action: Callable[[], BaseModel], status: int = 200) -> tuple[int, dict[str, Any]]:
    """Run ``action`` once for (agent, key) and return (HTTP status, body); a repeat gets
    the stored answer, refusals included."""
    key = (key or "").strip()
    if not key:
        raise InvalidInput("Every action needs an Idempotency-Key header (or a client_key field).")
    if len(key) > MAX_KEY:
        raise InvalidInput(f"An idempotency key is at most {MAX_KEY} characters.")
    try:
        with db.write() as s:
            s.add(IdempotencyRecord(agent_id=agent_id, key=key, created_at=clock.now(), response={"request": request}))
    except IntegrityError:
        return _replay(db, agent_id, key, request)
    token = events.CLIENT_KEY.set(key)
    try:
        code, body = status, action().model_dump(mode="json")
    except StorageUnavailable:
        _release(db, agent_id, key)
        raise
    except TrayAgentError as exc:
        code, body = exc.status, refusal(exc)
    except BaseException:
        _release(db, agent_id, key)
        raise
    finally:
        events.CLIENT_KEY.reset(token)
    with db.write() as s:
        row = s.get(IdempotencyRecord, (agent_id, key))
        if row is not None:
            row.status_code, row.response = code, {"request": request, "body": body}
    return code, body


def _release(db: Database, agent_id: int, key: str) -> None:
    """Nothing was done (the action's transaction rolled back): let a retry act."""
    try:
        with db.write() as s:
            row = s.get(IdempotencyRecord, (agent_id, key))
            if row is not None:
                s.delete(row)
    except StorageUnavailable:
        pass  # the key stays reserved: a retry is told in_progress rather than acting twice


def _replay(db: Database, agent_id: int, key: str, request: str) -> tuple[int, dict[str, Any]]:
    with db.read() as s:
        row = s.get(IdempotencyRecord, (agent_id, key))
    stored = (row.response or {}) if row is not None else {}
    if stored.get("request") != request:
        raise KeyReused("This idempotency key was used for another action; make a new key per action.")
    if row is None or row.status_code is None:
        raise InProgress("This action is still being done (or was interrupted); its result is not known yet.")
    return row.status_code, stored["body"]


def prune(db: Database, before: datetime) -> int:
    """Forget the answers of actions older than ``before`` (a client retries within minutes;
    the table would otherwise grow with every action ever taken). Returns how many."""
    with db.write() as s:
        return int(s.execute(delete(IdempotencyRecord).where(  # type: ignore[attr-defined]  # DML returns a CursorResult (rowcount)
            col(IdempotencyRecord.created_at) < before)).rowcount)
