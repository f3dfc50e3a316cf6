"""Setting the inbox up over the API: channels, colleagues and queues (the same operations
as ``tray-agent channel``/``agent``/``queue``)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from tray_agent.api.deps import InboxDep
from tray_agent.api.schemas import (
    AgentCreate, ChannelCreate, ChannelPatch, ChannelWithIcon, Id, QueueCreate, QueueMembers,
)
from tray_agent.core.views import AgentView, ChannelView, QueueView

router = APIRouter(prefix="/api", tags=["admin"])


def _with_icon(c: ChannelView) -> ChannelWithIcon:
    return ChannelWithIcon(**c.model_dump(), icon_url=f"/api/channels/{c.id}/icon.svg")


@router.post("/channels", response_model=ChannelWithIcon, status_code=201)
def add_channel(body: ChannelCreate, inbox: InboxDep) -> ChannelWithIcon:
    return _with_icon(inbox.add_channel(body.kind, body.name, body.business_address, body.settings,
                                        route_agent_id=body.route_agent_id, route_queue_id=body.route_queue_id,
                                        auto_close_seconds=body.auto_close_seconds))


@router.patch("/channels/{channel_id}", response_model=ChannelWithIcon)
def update_channel(channel_id: Id, body: ChannelPatch, inbox: InboxDep) -> ChannelWithIcon:
    return _with_icon(inbox.update_channel(channel_id, **body.model_dump(exclude_unset=True)))


@router.delete("/channels/{channel_id}", status_code=204, response_class=Response)
def remove_channel(channel_id: Id, inbox: InboxDep) -> Response:
    """Remove a channel; one with conversations is disabled instead, keeping its history."""
    inbox.remove_channel(channel_id)
    return Response(status_code=204)


@router.post("/agents", response_model=AgentView, status_code=201)
def add_agent(body: AgentCreate, inbox: InboxDep) -> AgentView:
    return inbox.add_agent(body.name, body.email, body.extension)


@router.post("/queues", response_model=QueueView, status_code=201)
def add_queue(body: QueueCreate, inbox: InboxDep) -> QueueView:
    return inbox.add_queue(body.name, body.member_ids)


@router.put("/queues/{queue_id}/members", response_model=QueueView)
def set_queue_members(queue_id: Id, body: QueueMembers, inbox: InboxDep) -> QueueView:
    return inbox.set_queue_members(queue_id, body.member_ids)
