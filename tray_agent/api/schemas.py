"""The API's own request and response shapes. Read models come from ``core.views``; these
are the bodies a client sends and the few answers that combine several views."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from tray_agent.core.views import AgentView, ChannelView, ConversationView, MessageView

#: Upload ids a message may carry at once.
MAX_FILES_PER_MESSAGE = 10


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReplyBody(Strict):
    text: str = Field("", max_length=100_000)
    #: Ids returned by ``POST /api/uploads``.
    uploads: list[str] = Field(default_factory=list, max_length=MAX_FILES_PER_MESSAGE)


class StartBody(ReplyBody):
    channel_id: int
    customer_address: str = Field(..., min_length=1, max_length=200)


class StartResult(BaseModel):
    conversation: ConversationView
    message: MessageView


class TransferBody(Strict):
    to_agent_id: Optional[int] = None
    to_queue_id: Optional[int] = None
    note: str = Field("", max_length=2000)


class CallBody(Strict):
    #: A call handler by name; the first available one when omitted.
    handler: Optional[str] = None


class ContactBody(Strict):
    #: A new contact's name (defaults to the customer's name or number)...
    name: Optional[str] = Field(None, max_length=200)
    #: ...or an existing contact to add this customer's address to.
    contact_id: Optional[int] = None


class DndSchedule(Strict):
    enabled: Optional[StrictBool] = None
    start: Optional[str] = None
    end: Optional[str] = None


class SettingsPatch(Strict):
    """Only the settings given change. ``dnd_schedule`` is replaced as a whole."""

    popup: Optional[StrictBool] = None
    sound: Optional[StrictBool] = None
    dnd: Optional[StrictBool] = None
    #: ISO date and time until which do-not-disturb holds ("for 1 hour"); null ends it.
    dnd_until: Optional[str] = None
    dnd_schedule: Optional[DndSchedule] = None
    #: The conversation the window reopens at.
    last_conversation_id: Optional[StrictInt] = None


class Settings(BaseModel):
    popup: bool
    sound: bool
    dnd: bool
    dnd_until: Optional[str] = None
    dnd_schedule: dict[str, Any]
    last_conversation_id: Optional[int] = None


class SessionView(BaseModel):
    """What the window needs first: who it acts for, their settings, where the event log
    stands and the server's clock (so relative times agree with the rules)."""

    agent: AgentView
    settings: Settings
    last_seq: int
    now: datetime
    version: str


class UnreadSummary(BaseModel):
    count: int
    conversation_ids: list[int]


class ChannelWithIcon(ChannelView):
    icon_url: str


class ChannelTypeView(BaseModel):
    name: str
    label: str
    rules: dict[str, Any]
    icon_url: str


class UploadView(BaseModel):
    #: Pass in ``uploads`` of a reply or a new conversation.
    upload_id: str
    file_name: str
    mime_type: str
    size: int
    sha256: str


class ChannelCreate(Strict):
    kind: str
    name: str
    business_address: str
    settings: dict[str, Any] = Field(default_factory=dict)
    route_agent_id: Optional[int] = None
    route_queue_id: Optional[int] = None
    auto_close_seconds: Optional[int] = None


class ChannelPatch(Strict):
    settings: Optional[dict[str, Any]] = None
    route_agent_id: Optional[int] = None
    route_queue_id: Optional[int] = None
    auto_close_seconds: Optional[int] = None
    enabled: Optional[bool] = None
    business_address: Optional[str] = None


class AgentCreate(Strict):
    name: str
    email: Optional[str] = None
    extension: Optional[str] = None


class QueueCreate(Strict):
    name: str
    member_ids: list[int] = Field(default_factory=list)


class QueueMembers(Strict):
    member_ids: list[int]
