"""The team-mode desktop's own tables: where its mirror of the team server stands, and the
actions waiting to go upstream. Present in every store (one schema), used only by a cache."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, String, Text
from sqlmodel import Field, SQLModel

from tray_agent.core.columns import _ts


class TeamState(SQLModel, table=True):
    """One row: which server this cache mirrors, for whom, and the event cursor it is at."""

    __tablename__ = "team_state"
    id: int = Field(default=1, primary_key=True)
    server: str = ""
    agent_id: Optional[int] = None
    #: "<epoch>:<seq>" of the server's log this cache is consistent with; empty: no snapshot yet.
    cursor: str = ""
    synced_at: Optional[datetime] = _ts()


class TeamAction(SQLModel, table=True):
    """An action for the team server, committed before it is sent: sent in id order, each
    with its idempotency key, so a retry after a lost answer acts once."""

    __tablename__ = "team_outbox"
    id: int = Field(default=None, primary_key=True)
    client_key: str = Field(sa_column=Column(String, unique=True, nullable=False))
    conversation_id: int
    #: reply | read | ...: the sync API's action name.
    action: str
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: The local echo of a reply (an id no server row has: core/mirror.py ECHO_BASE) until
    #: the server's row replaces it.
    message_id: Optional[int] = None
    state: str = "pending"  # pending | done | failed
    attempts: int = 0
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: Optional[datetime] = _ts()
