"""The API's own request and response shapes. Read models come from ``core.views``; these
are the bodies a client sends and the few answers that combine several views."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Optional

from annotated_types import Interval
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from pydantic_core import PydanticCustomError

from tray_agent.core.views import AgentView, ChannelView, ConversationView, MessageView

#: Upload ids a message may carry at once.
MAX_FILES_PER_MESSAGE = 10
#: The largest id the store can hold (a signed 64-bit integer in SQLite and PostgreSQL).
MAX_ID = 2**63 - 1
#: An idle-closure time an administrator may set: up to ten years.
MAX_AUTO_CLOSE_SECONDS = 10 * 366 * 24 * 3600

#: A row id, wherever one enters (path, query, body): out of range is a 422, never an
#: overflow in the database driver.
Id = Annotated[int, Interval(ge=1, le=MAX_ID)]
#: A position in the event log (0 = from the start).
Seq = Annotated[int, Interval(ge=0, le=MAX_ID)]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable(**kw: Any) -> Any:
    """A field a client may leave out but not send as null: the type stays non-nullable in
    the schema (and in validation), and ``exclude_unset`` tells an absent field apart."""
    return Field(None, json_schema_extra=_no_default, **kw)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return isinstance(value, BaseModel) and any(_has_nul(v) for v in value.__dict__.values())


class Strict(BaseModel):
    # strict: true is not 1, "1" is not 1; a client's type slip is a 422, not a guess.
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="after")
    def _no_nul(self) -> "Strict":
        # PostgreSQL text cannot hold NUL (the driver raises before sending): refused here for
        # every store alike, instead of a team server's 500.
        if any(_has_nul(v) for v in self.__dict__.values()):
            raise PydanticCustomError("nul_character", "Text cannot contain NUL (\\x00) characters.")
        return self


class ReplyBody(Strict):
    text: str = Field("", max_length=100_000)
    #: Ids returned by ``POST /api/uploads``.
    uploads: list[str] = Field(default_factory=list, max_length=MAX_FILES_PER_MESSAGE)


class StartBody(ReplyBody):
    channel_id: Id
    customer_address: str = Field(..., min_length=1, max_length=200)


class StartResult(BaseModel):
    conversation: ConversationView
    message: MessageView


class TransferBody(Strict):
    """Exactly one of ``to_agent_id`` and ``to_queue_id``."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["to_agent_id"]},
                                                           {"required": ["to_queue_id"]}]})
    to_agent_id: Id = omittable()
    to_queue_id: Id = omittable()
    note: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _one_target(self) -> "TransferBody":
        if (self.to_agent_id is None) == (self.to_queue_id is None):
            raise PydanticCustomError("transfer_target", "Transfer to either a colleague or a queue.")
        return self


class CallBody(Strict):
    #: A call handler by name; the first available one when omitted.
    handler: Optional[str] = None


class ContactBody(Strict):
    #: A new contact's name (defaults to the customer's name or number)...
    name: Optional[str] = Field(None, max_length=200)
    #: ...or an existing contact to add this customer's address to.
    contact_id: Optional[Id] = None


class DndSchedule(Strict):
    enabled: StrictBool = omittable()
    #: A time of day like 22:00.
    start: str = omittable(max_length=32)
    end: str = omittable(max_length=32)


class NotifySwitches(Strict):
    """Which pop-ups the desktop shows, kind by kind; the kinds not given keep theirs."""

    new_conversation: StrictBool = omittable()
    message: StrictBool = omittable()
    transferred: StrictBool = omittable()
    failed: StrictBool = omittable()


class SettingsPatch(Strict):
    """Only the settings given change. ``dnd_schedule`` is replaced as a whole."""

    popup: StrictBool = omittable()
    sound: StrictBool = omittable()
    dnd: StrictBool = omittable()
    #: ISO date and time until which do-not-disturb holds ("for 1 hour"); null ends it.
    dnd_until: Optional[str] = Field(None, max_length=64)
    dnd_schedule: DndSchedule = omittable()
    notify: NotifySwitches = omittable()
    #: The conversation the window reopens at.
    last_conversation_id: Optional[Id] = None


class Settings(BaseModel):
    popup: bool
    sound: bool
    dnd: bool
    dnd_until: Optional[str] = None
    dnd_schedule: dict[str, Any]
    notify: dict[str, bool] = {}
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


AutoClose = Annotated[int, Interval(ge=1, le=MAX_AUTO_CLOSE_SECONDS)]


class ChannelCreate(Strict):
    kind: str = Field(..., max_length=100)
    name: str = Field(..., max_length=200)
    business_address: str = Field(..., max_length=200)
    settings: dict[str, Any] = Field(default_factory=dict)
    route_agent_id: Optional[Id] = None
    route_queue_id: Optional[Id] = None
    auto_close_seconds: Optional[AutoClose] = None


class ChannelPatch(Strict):
    """Only the fields given change; null routes to nobody / restores the default closure."""

    settings: dict[str, Any] = omittable()
    route_agent_id: Optional[Id] = None
    route_queue_id: Optional[Id] = None
    auto_close_seconds: Optional[AutoClose] = None
    enabled: StrictBool = omittable()
    business_address: str = omittable(max_length=200)


class AgentCreate(Strict):
    name: str = Field(..., max_length=200)
    email: Optional[str] = Field(None, max_length=320)
    extension: Optional[str] = Field(None, max_length=50)


class QueueCreate(Strict):
    name: str = Field(..., max_length=200)
    member_ids: list[Id] = Field(default_factory=list, max_length=1000)


class QueueMembers(Strict):
    member_ids: list[Id] = Field(..., max_length=1000)
