"""The admin view's JSON under ``/sync/v1/admin``: channels, queues, agents, devices and the
audit log. Administrators only (anyone else: 404; no token: 401); each change is one call to
``Administration``, which the CLI makes too, and is audited as done by the admin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Optional

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from tray_agent.core.errors import NotFound
from tray_agent.core.views import AgentView, QueueView
from tray_agent.server.accounts import AuditView, DeviceView
from tray_agent.server.admin_auth import ADMIN_PREFIX, AdminDep
from tray_agent.server.administration import (
    AdminChannelView,
    Administration,
    ChannelTypeView,
    CredentialInput,
    RemovedChannel,
)

router = APIRouter(prefix=ADMIN_PREFIX, tags=["administration"])
PickupMode = Literal["auto", "manual", "none"]
Id = Annotated[int, Field(ge=1)]


def _admin(request: Request) -> Administration:
    return request.app.state.administration


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AddChannelBody(Strict):
    kind: str = Field(..., min_length=1, max_length=100)
    name: str = Field(..., min_length=1, max_length=100)
    business_address: str = Field(..., min_length=1, max_length=200)
    settings: dict[str, str] = Field(default_factory=dict)
    credentials: dict[str, CredentialInput] = Field(default_factory=dict)
    route_agent_id: Optional[Id] = None
    route_queue_id: Optional[Id] = None
    auto_close_seconds: Optional[Annotated[int, Field(ge=60)]] = None


class ChannelChanges(Strict):
    """Only the fields given change; null clears a route or the auto-closure."""

    enabled: Optional[StrictBool] = None
    route_agent_id: Optional[Id] = None
    route_queue_id: Optional[Id] = None
    auto_close_seconds: Optional[Annotated[int, Field(ge=60)]] = None
    credentials: dict[str, CredentialInput] = Field(default_factory=dict)


class AddQueueBody(Strict):
    name: str = Field(..., min_length=1, max_length=100)
    member_ids: list[Id] = Field(default_factory=list)
    pickup_mode: PickupMode = "auto"


class QueueChanges(Strict):
    member_ids: Optional[list[Id]] = None
    pickup_mode: Optional[PickupMode] = None
    auto_assign: Optional[bool] = None
    #: null: no limit (given explicitly; left out: unchanged).
    capacity: Optional[Annotated[int, Field(ge=1, le=10_000)]] = None
    #: null: off (given explicitly; left out: unchanged).
    requeue_after_minutes: Optional[Annotated[int, Field(ge=1, le=100_000)]] = None


class AddAgentBody(Strict):
    name: str = Field(..., min_length=1, max_length=200)
    email: str = Field(..., min_length=3, max_length=320)
    extension: Optional[str] = Field(None, max_length=50)
    admin: StrictBool = False


class AgentChanges(Strict):
    role: Literal["agent", "admin"]


class NewAgent(BaseModel):
    agent: AgentView
    #: The one-time sign-in code: shown this once, stored only hashed.
    code: str


class NewCode(BaseModel):
    agent_id: int
    code: str


# -- channels ----------------------------------------------------------------------------

@router.get("/channel-types", response_model=list[ChannelTypeView])
def channel_types(admin: AdminDep, request: Request) -> list[ChannelTypeView]:
    """The channel kinds this server's plugins provide, with the settings and credentials each takes."""
    return _admin(request).channel_types()


@router.get("/channels", response_model=list[AdminChannelView])
def channels(admin: AdminDep, request: Request) -> list[AdminChannelView]:
    """Every channel, disabled ones too, with where each credential comes from (never its value)."""
    return _admin(request).list_channels()


@router.post("/channels", status_code=201, response_model=AdminChannelView)
def add_channel(body: AddChannelBody, admin: AdminDep, request: Request) -> AdminChannelView:
    return _admin(request).add_channel(
        admin.actor, body.kind, body.name, body.business_address, body.settings, body.credentials,
        route_agent_id=body.route_agent_id, route_queue_id=body.route_queue_id,
        auto_close_seconds=body.auto_close_seconds)


@router.patch("/channels/{channel_id}", response_model=AdminChannelView)
def update_channel(channel_id: int, body: ChannelChanges, admin: AdminDep, request: Request) -> AdminChannelView:
    changes: dict[str, Any] = {k: getattr(body, k) for k in body.model_fields_set - {"credentials"}}
    if changes.get("enabled", True) is None:
        changes.pop("enabled")
    return _admin(request).update_channel(admin.actor, channel_id, changes, body.credentials)


@router.delete("/channels/{channel_id}", response_model=RemovedChannel, responses={
    409: {"description": "conflict: it has open conversations (remove with force=true to stop it anyway)"}})
def remove_channel(channel_id: int, admin: AdminDep, request: Request, force: bool = False) -> RemovedChannel:
    """As ``server channel remove``: deleted when it never carried a conversation, else
    kept disabled with its conversations readable; refused while some are open unless
    ``force``; its credentials leave the keyring."""
    return _admin(request).remove_channel(admin.actor, channel_id, force=force)


# -- queues ------------------------------------------------------------------------------

@router.get("/queues", response_model=list[QueueView])
def queues(admin: AdminDep, request: Request) -> list[QueueView]:
    return _admin(request).inbox.list_queues()


@router.post("/queues", status_code=201, response_model=QueueView)
def add_queue(body: AddQueueBody, admin: AdminDep, request: Request) -> QueueView:
    return _admin(request).add_queue(admin.actor, body.name, body.member_ids, body.pickup_mode)


@router.patch("/queues/{queue_id}", response_model=QueueView)
def update_queue(queue_id: int, body: QueueChanges, admin: AdminDep, request: Request) -> QueueView:
    service = _admin(request)
    q = None
    if body.member_ids is not None:
        q = service.set_queue_members(admin.actor, queue_id, body.member_ids)
    if body.pickup_mode is not None:
        q = service.set_pickup_mode(admin.actor, queue_id, body.pickup_mode)
    policy: dict[str, Any] = {k: getattr(body, k) for k in ("auto_assign", "capacity", "requeue_after_minutes")
              if k in body.model_fields_set and not (k == "auto_assign" and body.auto_assign is None)}
    if policy:
        q = service.set_queue_policy(admin.actor, queue_id, policy)
    if q is None:
        q = next((x for x in service.inbox.list_queues() if x.id == queue_id), None)
        if q is None:
            raise NotFound(f"There is no queue {queue_id}.")
    return q


# -- agents and devices ----------------------------------------------------------------------

@router.get("/agents", response_model=list[AgentView])
def agents(admin: AdminDep, request: Request) -> list[AgentView]:
    return _admin(request).inbox.list_agents()


@router.post("/agents", status_code=201, response_model=NewAgent)
def add_agent(body: AddAgentBody, admin: AdminDep, request: Request) -> NewAgent:
    """Create an agent; the answer carries their one-time sign-in code (valid 24 h), once."""
    agent, code = _admin(request).add_agent(admin.actor, body.name, body.email, body.extension, admin=body.admin)
    return NewAgent(agent=agent, code=code)


@router.patch("/agents/{agent_id}", response_model=AgentView)
def update_agent(agent_id: int, body: AgentChanges, admin: AdminDep, request: Request) -> AgentView:
    return _admin(request).set_role(admin.actor, agent_id, body.role)


@router.post("/agents/{agent_id}/code", status_code=201, response_model=NewCode)
def new_code(agent_id: int, admin: AdminDep, request: Request) -> NewCode:
    """A new one-time sign-in code (another desktop, a lost code); earlier codes stay valid."""
    return NewCode(agent_id=agent_id, code=_admin(request).issue_code(admin.actor, agent_id))


@router.get("/devices", response_model=list[DeviceView])
def devices(admin: AdminDep, request: Request,
            agent_id: Annotated[Optional[int], Query(ge=1)] = None) -> list[DeviceView]:
    return _admin(request).list_devices(agent_id)


@router.post("/devices/{device_id}/revoke", response_model=DeviceView)
def revoke_device(device_id: int, admin: AdminDep, request: Request) -> DeviceView:
    """Its token is refused from its next request on (an open event stream ends too)."""
    return _admin(request).revoke_device(admin.actor, device_id)


# -- the audit log -------------------------------------------------------------------------

@router.get("/audit", response_model=list[AuditView])
def audit(admin: AdminDep, request: Request,
          since: Optional[datetime] = None, until: Optional[datetime] = None,
          agent_id: Annotated[Optional[int], Query(ge=1)] = None,
          action: Annotated[Optional[str], Query(max_length=100)] = None,
          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditView]:
    """Newest first; ``since``/``until`` are ISO times, ``action`` an action or a family ("queue.")."""
    return _admin(request).audit(since=since, until=until, agent_id=agent_id, action=action, limit=limit)
