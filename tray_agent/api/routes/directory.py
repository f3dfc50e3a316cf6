"""Who and what the window can pick from: channels with their icons and rules, channel
types, colleagues with presence, queues, saved contacts, and the agent's own settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from tray_agent.api.deps import AgentId, AppDep, InboxDep
from tray_agent.api.schemas import ChannelTypeView, ChannelWithIcon, Id, Settings, SettingsPatch
from tray_agent.core.errors import NotFound
from tray_agent.core.views import AgentView, ContactView, QueueView

router = APIRouter(prefix="/api", tags=["directory"])
#: PostgreSQL text cannot hold NUL (see ``schemas.Strict``).
NO_NUL = r"^[^\x00]*$"

#: Shown for a channel whose plugin is missing: the list still renders, and says so.
FALLBACK_ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" '
                 'fill="none" stroke="#888" stroke-width="1.5"/><text x="8" y="11.5" font-size="9" '
                 'text-anchor="middle" fill="#888">?</text></svg>')


@router.get("/channels", response_model=list[ChannelWithIcon])
def channels(inbox: InboxDep, include_disabled: bool = False) -> list[ChannelWithIcon]:
    """Configured channels with their rules (what the window must show before sending)."""
    return [ChannelWithIcon(**c.model_dump(), icon_url=f"/api/channels/{c.id}/icon.svg")
            for c in inbox.list_channels(include_disabled=include_disabled)]


@router.get("/channels/{channel_id}", response_model=ChannelWithIcon)
def channel(channel_id: Id, inbox: InboxDep) -> ChannelWithIcon:
    c = inbox.get_channel(channel_id)
    return ChannelWithIcon(**c.model_dump(), icon_url=f"/api/channels/{c.id}/icon.svg")


@router.get("/channels/{channel_id}/icon.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}})
def channel_icon(channel_id: Id, app: AppDep) -> Response:
    """The icon the channel's plugin declares, for an ``<img>``: never inlined as markup."""
    return _svg(app.channel_types.get(app.inbox.get_channel(channel_id).kind))


@router.get("/channel-types", response_model=list[ChannelTypeView])
def channel_types(app: AppDep) -> list[ChannelTypeView]:
    """The channel kinds installed plugins provide."""
    return [ChannelTypeView(name=t.name, label=t.label, rules=t.rules.to_dict(),
                            icon_url=f"/api/channel-types/{t.name}/icon.svg")
            for t in sorted(app.channel_types.values(), key=lambda t: t.label)]


@router.get("/channel-types/{kind}/icon.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}})
def channel_type_icon(kind: str, app: AppDep) -> Response:
    t = app.channel_types.get(kind)
    if t is None:
        raise NotFound(f"There is no channel type {kind!r}.")
    return _svg(t)


def _svg(ctype: object | None) -> Response:
    svg = getattr(ctype, "icon_svg", None) or FALLBACK_ICON
    # A plugin's SVG is shown only through <img>, where scripts never run; should it be
    # opened on its own, the sandbox CSP keeps it inert as well.
    return Response(svg, media_type="image/svg+xml", headers={
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        "Cache-Control": "private, max-age=3600"})


@router.get("/agents", response_model=list[AgentView])
def agents(inbox: InboxDep) -> list[AgentView]:
    """Colleagues, with ``online`` while their window is connected."""
    return inbox.list_agents()


@router.get("/queues", response_model=list[QueueView])
def queues(inbox: InboxDep) -> list[QueueView]:
    return inbox.list_queues()


@router.get("/contacts", response_model=list[ContactView])
def contacts(inbox: InboxDep, agent: AgentId, q: Annotated[str, Query(max_length=200, pattern=NO_NUL)] = "",
             limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[ContactView]:
    """Saved contacts whose name contains ``q``."""
    return inbox.list_contacts(agent, q, limit)


@router.get("/settings", response_model=Settings)
def get_settings(inbox: InboxDep, agent: AgentId) -> Settings:
    return Settings(**inbox.get_settings(agent))


@router.patch("/settings", response_model=Settings)
def patch_settings(body: SettingsPatch, inbox: InboxDep, agent: AgentId) -> Settings:
    """Change some settings: pop-ups, sound, do-not-disturb (now, until, schedule), and the
    conversation the window reopens at."""
    patch = body.model_dump(exclude_unset=True)
    if "dnd_schedule" in patch:
        patch["dnd_schedule"] = {k: v for k, v in patch["dnd_schedule"].items() if v is not None}
    return Settings(**inbox.update_settings(agent, patch))
