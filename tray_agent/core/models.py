"""The store's tables (sqlmodel). The same models run on SQLite and PostgreSQL.

Times are kept as naive UTC in the database and handed out as aware UTC (``UTCDateTime``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, String, Text, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

from tray_agent.core.columns import UTCDateTime, _ts


# Direction of a message in a conversation's history.
IN, OUT, SYSTEM = "in", "out", "system"
# Outbound delivery statuses in the only order they may move.
STATUS_ORDER = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4}
FAILED = "failed"

# Primary keys are typed ``int`` though they default to None: the database assigns them at
# flush, and every reader (views, queries, events) works with stored rows, where they are set.


class Agent(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)
    name: str
    email: Optional[str] = Field(default=None, sa_column=Column(String, unique=True))
    last_seen_at: Optional[datetime] = _ts()
    #: Own phone number, used by click-to-call handlers; never shown to customers.
    extension: Optional[str] = None
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: "agent", or "admin" (a team server's administrator: sees every conversation).
    role: str = Field(default="agent", sa_column=Column(String, nullable=False, server_default="agent"))
    #: What the agent set: available, away or busy (do-not-disturb); see ``core/presence.py``.
    status: str = Field(default="available", sa_column=Column(String, nullable=False, server_default="available"))
    #: The presence last announced in an ``agent.updated`` event (a change is announced once).
    presence_announced: str = Field(default="offline",
                                    sa_column=Column(String, nullable=False, server_default="offline"))


#: A queue's pickup modes: the first member to reply takes it (auto), only Pick Up takes it
#: (manual), or nobody takes it: a shared inbox (none).
PICKUP_MODES = ("auto", "manual", "none")


class MessageQueue(SQLModel, table=True):
    __tablename__ = "message_queue"
    id: int = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String, unique=True, nullable=False))
    pickup_mode: str = Field(default="auto", sa_column=Column(String, nullable=False, server_default="auto"))
    #: A new conversation goes to the available member with the fewest open ones (off by default).
    auto_assign: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    #: At most this many open conversations per member for automatic assignment (None: no limit).
    capacity: Optional[int] = None
    #: An owner who has not answered the customer within this many minutes loses it to the queue.
    requeue_after_minutes: Optional[int] = None


class QueueMember(SQLModel, table=True):
    __tablename__ = "queue_member"
    queue_id: int = Field(foreign_key="message_queue.id", primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", primary_key=True)


class Channel(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)
    kind: str
    name: str = Field(sa_column=Column(String, unique=True, nullable=False))
    business_address: str
    #: Non-secret settings (base URLs, ids); credentials live in the OS keyring.
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    route_agent_id: Optional[int] = Field(default=None, foreign_key="agent.id")
    route_queue_id: Optional[int] = Field(default=None, foreign_key="message_queue.id")
    #: The administrator's idle-closure time where the channel's rules let it be set.
    auto_close_seconds: Optional[int] = None
    enabled: bool = True
    healthy: Optional[bool] = None
    health_detail: str = ""
    #: Which running instance reported the health ("host:pid"), and when: a report from a
    #: process that is gone is shown as "not running", not as current.
    health_by: str = Field(default="", sa_column=Column(String, nullable=False, server_default=""))
    health_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: Optional[datetime] = _ts()


class Contact(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)
    display_name: str
    created_at: Optional[datetime] = _ts()


class ContactPoint(SQLModel, table=True):
    """An address a contact is reached at: an E.164 number, a WhatsApp id, a plugin's id."""

    __tablename__ = "contact_point"
    __table_args__ = (UniqueConstraint("kind", "address"),)
    id: int = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    kind: str
    address: str


#: The partial-index condition of ``uq_conversation_open``.
OPEN_ONLY = text("status = 'open'")


class Conversation(SQLModel, table=True):
    __table_args__ = (
        # One open conversation per (channel, customer): a race between two inbound
        # messages opens exactly one. PostgreSQL's copy of the WHERE is added by
        # ``db.Database`` on that backend: naming it here loads the PG dialect everywhere.
        Index(
            "uq_conversation_open", "channel_id", "customer_address", unique=True,
            sqlite_where=OPEN_ONLY,
        ),
        Index("ix_conversation_customer", "customer_address", "channel_id"),
        Index("ix_conversation_inbox", "archived", "last_activity_at", "id"),
        Index("ix_conversation_agent", "assigned_agent_id", "archived", "last_activity_at", "id"),
        Index("ix_conversation_queue", "queue_id", "assigned_agent_id", "last_activity_at", "id"),
        Index("ix_conversation_due", "status", "last_activity_at"),
    )
    id: int = Field(default=None, primary_key=True)
    channel_id: int = Field(foreign_key="channel.id")
    customer_address: str
    customer_name: Optional[str] = None
    contact_id: Optional[int] = Field(default=None, foreign_key="contact.id", index=True)
    status: str = "open"  # open | closed
    archived: bool = False
    assigned_agent_id: Optional[int] = Field(default=None, foreign_key="agent.id")
    queue_id: Optional[int] = Field(default=None, foreign_key="message_queue.id")
    #: When the current owner took it (claim or transfer): "already taken ... at".
    assigned_at: Optional[datetime] = _ts()
    started_by: str = "customer"  # customer | agent
    created_at: Optional[datetime] = _ts()
    closed_at: Optional[datetime] = _ts()
    last_activity_at: Optional[datetime] = _ts()
    last_inbound_at: Optional[datetime] = _ts()
    last_message_id: Optional[int] = None
    last_inbound_message_id: Optional[int] = None
    last_message_preview: str = ""
    last_message_direction: Optional[str] = None


class Message(SQLModel, table=True):
    __table_args__ = (
        # Ingest is idempotent on the provider's id, unique per channel.
        UniqueConstraint("channel_id", "provider_message_id", name="uq_message_provider_id"),
        Index("ix_message_conversation", "conversation_id", "id"),
    )
    id: int = Field(default=None, sa_column=Column(Integer().with_variant(BigInteger(), "postgresql"), primary_key=True,
                                                   autoincrement=True))
    conversation_id: int = Field(foreign_key="conversation.id")
    channel_id: int = Field(foreign_key="channel.id")
    direction: str  # in | out | system
    #: text | file | transfer | call | closed | reopened | note | contact | ...
    kind: str = "text"
    text: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    sender_agent_id: Optional[int] = Field(default=None, foreign_key="agent.id")
    provider_message_id: Optional[str] = None
    status: Optional[str] = None  # outbound: queued → sent → delivered → read | failed
    status_reason: Optional[str] = None
    error_code: Optional[str] = None
    #: The provider refused it under a channel rule; retrying the same content cannot work.
    rule_refused: bool = False
    created_at: Optional[datetime] = _ts()
    sent_at: Optional[datetime] = _ts()
    delivered_at: Optional[datetime] = _ts()
    read_at: Optional[datetime] = _ts()
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Attachment(SQLModel, table=True):
    __table_args__ = (Index("ix_attachment_expiry", "expired", "expires_at"),)
    id: int = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    file_name: str
    mime_type: str
    size: int
    sha256: str
    #: Path under the files directory; emptied when the file expires.
    storage_path: str = ""
    created_at: Optional[datetime] = _ts()
    expires_at: Optional[datetime] = _ts()
    expired: bool = False
    #: Random token of the link the agent serves the file at (for providers and as-link sends).
    link_token: Optional[str] = None


class Transfer(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    from_agent_id: Optional[int] = Field(default=None, foreign_key="agent.id")
    to_agent_id: Optional[int] = Field(default=None, foreign_key="agent.id")
    to_queue_id: Optional[int] = Field(default=None, foreign_key="message_queue.id")
    note: str = ""
    created_at: Optional[datetime] = _ts()


class ReadState(SQLModel, table=True):
    """Per agent: the last message read in a conversation, or a manual 'unread' mark."""

    __tablename__ = "read_state"
    conversation_id: int = Field(foreign_key="conversation.id", primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", primary_key=True)
    last_read_message_id: int = 0
    marked_unread: bool = False


class OutboxItem(SQLModel, table=True):
    """An outbound message waiting for (or being retried at) its provider."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)
    message_id: int = Field(foreign_key="message.id", primary_key=True)
    channel_id: int = Field(foreign_key="channel.id")
    state: str = "pending"  # pending | sending | done | failed
    attempts: int = 0
    next_attempt_at: Optional[datetime] = _ts()
    last_error: str = ""


class Event(SQLModel, table=True):
    """The append-only log of every change to the inbox, in commit order."""

    seq: int = Field(default=None, sa_column=Column(Integer().with_variant(BigInteger(), "postgresql"), primary_key=True,
                                                    autoincrement=True))
    type: str
    # No index: readers scan by seq; one more B-tree per event would slow every ingest.
    conversation_id: Optional[int] = None
    message_id: Optional[int] = None
    agent_id: Optional[int] = None
    #: Who may see it: the owning agent, else the queue, else everyone (None, None).
    visible_agent_id: Optional[int] = None
    visible_queue_id: Optional[int] = None
    created_at: Optional[datetime] = _ts()
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class PluginError(SQLModel, table=True):
    """A plugin hook that raised: kept so `plugins` and `doctor` can show it."""

    __tablename__ = "plugin_error"
    id: int = Field(default=None, primary_key=True)
    plugin: str
    hook: str
    error: str
    created_at: Optional[datetime] = _ts()


class TaskStatus(SQLModel, table=True):
    """A background task that failed (and whether it has recovered since): what `doctor`
    shows, whichever process ran the task. Written only when a task fails or recovers."""

    __tablename__ = "task_status"
    name: str = Field(primary_key=True)
    consecutive_failures: int = 0
    failures: int = 0
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    failed_at: Optional[datetime] = _ts()
    ok_at: Optional[datetime] = _ts()
    retry_at: Optional[datetime] = _ts()


class EarlyStatus(SQLModel, table=True):
    """A delivery status that arrived before its send's provider id was stored (the answer
    to the send was slow or lost): applied once the id is known, expired after a week."""

    __tablename__ = "early_status"
    __table_args__ = (Index("ix_early_status_provider_id", "channel_id", "provider_message_id"),)
    id: int = Field(default=None, primary_key=True)
    channel_id: int = Field(foreign_key="channel.id")
    provider_message_id: str
    status: str
    error_code: Optional[str] = None
    reason: Optional[str] = None
    rule_violation: bool = False
    at: Optional[datetime] = _ts()
    received_at: Optional[datetime] = _ts()
# The team server's tables (devices, sign-in codes, audit log, ...) register on the same
# metadata, so migrations and the schema check see them wherever the models are imported.
from tray_agent.core import team_models  # noqa: E402,F401
from tray_agent.core import mirror_models  # noqa: E402,F401
