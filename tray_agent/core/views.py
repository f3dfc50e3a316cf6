"""What the service layer hands out: read models that the API, CLI, tray and plugins share."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional, get_args

from pydantic import BaseModel


class AgentView(BaseModel):
    id: int
    name: str
    email: Optional[str] = None
    online: bool = False
    last_seen_at: Optional[datetime] = None
    #: "agent", or "admin" on a team server.
    role: str = "agent"
    #: What the agent set: available, away or busy (do-not-disturb).
    status: str = "available"
    #: available, away, busy, or offline when none of their devices was seen within 60 s.
    presence: str = "offline"
    #: Open conversations assigned to them (the transfer picker's load).
    open_count: int = 0


class QueueView(BaseModel):
    id: int
    name: str
    member_ids: list[int]
    #: auto (the first reply takes it), manual (Pick Up only), none (a shared inbox).
    pickup_mode: str = "auto"
    #: New conversations go to the available member with the fewest open ones.
    auto_assign: bool = False
    #: Most open conversations per member that automatic assignment gives (None: no limit).
    capacity: Optional[int] = None
    #: An unanswered customer waits this long before the conversation returns to the queue.
    requeue_after_minutes: Optional[int] = None


class ChannelView(BaseModel):
    id: int
    kind: str
    label: str
    name: str
    business_address: str
    settings: dict[str, Any]
    rules: dict[str, Any]
    enabled: bool
    healthy: Optional[bool] = None
    health_detail: str = ""
    #: When the health was reported, and whether the process that runs the channel and
    #: reported it still runs (None: no such process, or another machine's).
    health_at: Optional[datetime] = None
    running: Optional[bool] = None
    route_agent_id: Optional[int] = None
    route_queue_id: Optional[int] = None
    auto_close_seconds: Optional[int] = None
    #: The channel type's plugin is not installed (or failed to load).
    available: bool = True


class AttachmentView(BaseModel):
    id: int
    file_name: str
    mime_type: str
    size: int
    sha256: str
    expired: bool
    expires_at: Optional[datetime] = None


class MessageView(BaseModel):
    id: int
    conversation_id: int
    direction: str
    kind: str
    text: str
    sender_agent_id: Optional[int] = None
    sender_name: Optional[str] = None
    status: Optional[str] = None
    status_reason: Optional[str] = None
    error_code: Optional[str] = None
    #: A retry could work (failed, not refused by a channel rule, conversation still open).
    can_retry: bool = False
    created_at: datetime
    attachments: list[AttachmentView] = []
    meta: dict[str, Any] = {}


class ConversationView(BaseModel):
    id: int
    channel_id: int
    channel_kind: str
    channel_label: str
    customer_address: str
    customer_display: str
    customer_name: Optional[str] = None
    contact_id: Optional[int] = None
    contact_name: Optional[str] = None
    status: str
    archived: bool
    assigned_agent_id: Optional[int] = None
    assigned_agent_name: Optional[str] = None
    queue_id: Optional[int] = None
    queue_name: Optional[str] = None
    last_activity_at: Optional[datetime] = None
    last_message_preview: str = ""
    last_message_direction: Optional[str] = None
    #: Who sent the last message when it is an agent's reply: the window says "You:" only
    #: for the agent it acts for, the colleague's name otherwise.
    last_message_sender_id: Optional[int] = None
    last_message_sender_name: Optional[str] = None
    unread_count: int = 0
    unread: bool = False


class TransferView(ConversationView):
    """A transfer's answer: the conversation, and the presence of the colleague it went to
    (a transfer to an offline colleague is allowed, and marked)."""

    to_agent_presence: Optional[str] = None


class ComposerState(BaseModel):
    """What the composer may do right now, so the window shows rules before they bite."""

    can_reply: bool
    reason: Optional[str] = None
    window_closes_at: Optional[datetime] = None
    max_file_bytes: int
    must_claim: bool = False


class RelatedConversation(BaseModel):
    """One of the customer's other conversations whose messages the history shows."""

    id: int
    channel_id: int
    channel_label: str
    status: str
    started_at: Optional[datetime] = None


class ConversationDetail(ConversationView):
    composer: ComposerState
    rules: dict[str, Any]
    #: Earlier (closed) conversations with the same customer, newest first.
    earlier_conversation_ids: list[int] = []
    #: The customer's other conversations (older, concurrent or newer, any channel), so
    #: the history can label each segment with its channel, start and state.
    related: list[RelatedConversation] = []


#: The inbox list's filters, in the window's order. The one definition: the service layer,
#: the API's ``filter`` parameter and the CLI's ``--filter`` use it; the window keeps a copy
#: (web_ui/js/inbox.js, its buttons in index.html) that tests/core/test_filters.py holds to it.
InboxFilter = Literal["all", "unread", "mine", "unassigned", "archived"]
FILTERS: tuple[str, ...] = get_args(InboxFilter)


class InboxPage(BaseModel):
    items: list[ConversationView]
    #: Pass as ``cursor`` to get the next page; None on the last page.
    next_cursor: Optional[str] = None


class MessagePage(BaseModel):
    items: list[MessageView]  # oldest first
    #: Pass as ``before`` to load older messages; None when the history is complete.
    next_before: Optional[int] = None


class SearchHit(BaseModel):
    message: MessageView
    conversation: ConversationView


class EventView(BaseModel):
    seq: int
    type: str
    conversation_id: Optional[int] = None
    message_id: Optional[int] = None
    agent_id: Optional[int] = None
    created_at: datetime
    data: dict[str, Any] = {}


class ContactView(BaseModel):
    id: int
    display_name: str
    points: list[dict[str, str]]


class CallPlanView(BaseModel):
    """What a call would do, for the window to confirm before dialling."""

    number: str
    handler: str
    label: str
    #: False when no handler can call now; ``detail`` then says why (the call would fail).
    available: bool
    detail: str = ""


class CallView(BaseModel):
    """A call that started (one that did not is an error whose reason is in the history)."""

    message: MessageView
    handler: str
    detail: str
    started: bool = True
    #: The handler's own reference for the call (a PBX call id), if it has one.
    call_id: Optional[str] = None
    #: What the handler knows past the start, if anything.
    outcome: Optional[str] = None
