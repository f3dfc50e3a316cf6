"""Idempotent actions: (agent, client key) → the first answer, replayed for a repeat.

The key is reserved (committed) before the action runs, so a repeat that arrives while the
first is still acting never acts a second time; it is told ``in_progress``. A reservation
left without an answer past ``LEASE`` (its replica died mid-action) is decided by the next
repeat from the events the action wrote, which carry the key: none, it acts now; some, it
answers with what the action did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from tray_agent.core import events
from tray_agent.core.db import Database
from tray_agent.core.clock import Clock
from tray_agent.core.errors import InvalidInput, StorageUnavailable, TrayAgentError
from tray_agent.core.models import Event
from tray_agent.core.team_models import IdempotencyRecord

MAX_KEY = 200
#: Longer than any action runs: a reservation older than this without an answer was left by
#: a replica that died (or lost its database) mid-action.
LEASE = timedelta(seconds=60)
#: What the action did, from the events carrying its key: the answer a lost one would have been.
Recover = Callable[[Sequence[Event]], BaseModel]


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
             action: Callable[[], BaseModel], status: int = 200,
             recover: Recover | None = None) -> tuple[int, dict[str, Any]]:
    """Run ``action`` once for (agent, key) and return (HTTP status, body); a repeat gets
    the stored answer, refusals included. ``recover``: the answer from the events of an
    action whose replica died before it could record one."""
    key = (key or "").strip()
    if not key:
        raise InvalidInput("Every action needs an Idempotency-Key header (or a client_key field).")
    if len(key) > MAX_KEY:
        raise InvalidInput(f"An idempotency key is at most {MAX_KEY} characters.")
    reserved_at = clock.now()
    try:
        with db.write() as s:
            s.add(IdempotencyRecord(agent_id=agent_id, key=key, created_at=reserved_at,
                                    response={"request": request, "after": _log_end(s)}))
    except IntegrityError:
        answer = _replay(db, clock, agent_id, key, request, status, recover)
        if not isinstance(answer, datetime):
            return answer
        reserved_at = answer  # a stale reservation, taken over: this request acts
    token = events.CLIENT_KEY.set(key)
    try:
        code, body = status, action().model_dump(mode="json")
    except StorageUnavailable:
        _release(db, agent_id, key, reserved_at)
        raise
    except TrayAgentError as exc:
        code, body = exc.status, refusal(exc)
    except BaseException:
        _release(db, agent_id, key, reserved_at)
        raise
    finally:
        events.CLIENT_KEY.reset(token)
    with db.write() as s:
        row = s.get(IdempotencyRecord, (agent_id, key))
        if row is not None and row.created_at == reserved_at:  # still this request's reservation
            row.status_code, row.response = code, {"request": request, "body": body}
    return code, body


def _release(db: Database, agent_id: int, key: str, reserved_at: datetime) -> None:
    """Nothing was done (the action's transaction rolled back): let a retry act."""
    try:
        with db.write() as s:
            row = s.get(IdempotencyRecord, (agent_id, key))
            if row is not None and row.created_at == reserved_at and row.status_code is None:
                s.delete(row)
    except StorageUnavailable:
        pass  # the key stays reserved: a retry is told in_progress rather than acting twice


def _log_end(s: Any) -> int:
    """The event log's newest seq: the events an action writes after its reservation are above."""
    return int(s.execute(select(func.max(col(Event.seq)))).scalar() or 0)


def _replay(db: Database, clock: Clock, agent_id: int, key: str, request: str, status: int,
            recover: Recover | None) -> tuple[int, dict[str, Any]] | datetime:
    """The stored answer; when a stale reservation was taken over here, its new time (act now)."""
    with db.read() as s:
        row = s.get(IdempotencyRecord, (agent_id, key))
    stored = (row.response or {}) if row is not None else {}
    if stored.get("request") != request:
        raise KeyReused("This idempotency key was used for another action; make a new key per action.")
    if row is None or row.status_code is None:
        if row is None or row.created_at is None or row.created_at + LEASE > clock.now():
            raise InProgress("This action is still being done (or was interrupted); its result is not known yet.")
        return _decide_stale(db, clock, row, status, recover)
    return row.status_code, stored["body"]


def _decide_stale(db: Database, clock: Clock, row: IdempotencyRecord, status: int,
                  recover: Recover | None) -> tuple[int, dict[str, Any]] | datetime:
    """A reservation its replica left unanswered: did the action commit (its events carry the key)?"""
    stored = dict(row.response or {})
    with db.write() as s:
        acted = list(s.execute(select(Event).where(
            col(Event.seq) > int(stored.get("after") or 0),
            col(Event.data)["client_key"].as_string() == row.key).order_by(col(Event.seq))).scalars())
        if not acted:
            # Nothing was done: this repeat acts, unless another repeat took it over first.
            now = clock.now()
            won = s.execute(update(IdempotencyRecord).where(
                col(IdempotencyRecord.agent_id) == row.agent_id, col(IdempotencyRecord.key) == row.key,
                col(IdempotencyRecord.status_code).is_(None), col(IdempotencyRecord.created_at) == row.created_at)
                .values(created_at=now, response={**stored, "after": _log_end(s)})).rowcount  # type: ignore[attr-defined]  # DML returns a CursorResult (rowcount)
            if won:
                return now
            raise InProgress("This action is being done again after an interruption; its result is not known yet.")
    if recover is None:
        raise InProgress("This action was done, but its result was lost; look at the conversation.")
    try:
        code, body = status, recover(acted).model_dump(mode="json")
    except TrayAgentError as exc:
        code, body = exc.status, refusal(exc)
    with db.write() as s:
        s.execute(update(IdempotencyRecord).where(
            col(IdempotencyRecord.agent_id) == row.agent_id, col(IdempotencyRecord.key) == row.key,
            col(IdempotencyRecord.status_code).is_(None))
            .values(status_code=code, response={**stored, "body": body}))
    return code, body


def prune(db: Database, before: datetime) -> int:
    """Forget the answers of actions older than ``before`` (a client retries within minutes;
    the table would otherwise grow with every action ever taken). Returns how many."""
    with db.write() as s:
        return int(s.execute(delete(IdempotencyRecord).where(  # type: ignore[attr-defined]  # DML returns a CursorResult (rowcount)
            col(IdempotencyRecord.created_at) < before)).rowcount)
