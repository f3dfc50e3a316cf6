"""The agent's background tasks (outbox, sweeps, pollers, followers, ...): which failed,
why, when, and when the supervisor runs them again. The window shows a line while any
task is failing; ``tray-agent doctor`` reads the same record from the store."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from tray_agent.api import security
from tray_agent.api.deps import AppDep

router = APIRouter(prefix="/api", tags=["tasks"], dependencies=[Depends(security.require_token)])


class TaskOut(BaseModel):
    name: str
    failing: bool
    consecutive_failures: int
    failures: int
    last_error: str
    failed_at: Optional[datetime] = None
    retry_at: Optional[datetime] = None


class TasksOut(BaseModel):
    failing: int
    tasks: list[TaskOut]


@router.get("/tasks", response_model=TasksOut)
def tasks(app: AppDep) -> TasksOut:
    """Background tasks that have failed in this agent (a task never seen failing is not
    listed); ``failing`` counts those whose last pass failed."""
    states = app.tasks.states()
    out = [TaskOut(name=t.name, failing=t.failing, consecutive_failures=t.consecutive_failures,
                   failures=t.failures, last_error=t.last_error, failed_at=t.failed_at, retry_at=t.retry_at)
           for t in states if t.failures]
    return TasksOut(failing=sum(t.failing for t in out), tasks=out)
