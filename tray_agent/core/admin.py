"""Setting the inbox up: channels, agents, queues, and each agent's own settings."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.core import events, reporter
from tray_agent.core.base import InboxBase, agent_extension
from tray_agent.core.errors import Conflict, InvalidInput, NotFound
from tray_agent.core.models import PICKUP_MODES, Agent, Channel, Conversation, MessageQueue, QueueMember
from tray_agent.core.views import AgentView, ChannelView, QueueView
from tray_agent.credentials import redact

DEFAULT_SETTINGS: dict[str, Any] = {
    "popup": True,
    "sound": True,
    "dnd": False,
    #: ISO time until which do-not-disturb holds ("for 1 hour"); None when not set.
    "dnd_until": None,
    "dnd_schedule": {"enabled": False, "start": "22:00", "end": "08:00"},
    "last_conversation_id": None,
    #: Which pop-ups the desktop shows, each kind switchable (tray_agent.desktop.notification_engine).
    "notify": {"new_conversation": True, "message": True, "transferred": True, "failed": True},
}


class _Unset:
    """Stands for "leave as it is" where None means "off"."""


UNSET = _Unset()


class Admin(InboxBase):
    # -- channels --------------------------------------------------------------------

    def add_channel(self, kind: str, name: str, business_address: str, settings: dict[str, Any] | None = None,
                    *, route_agent_id: int | None = None, route_queue_id: int | None = None,
                    auto_close_seconds: int | None = None) -> ChannelView:
        ctype = self.channel_types.get(kind)
        if ctype is None:
            known = ", ".join(sorted(self.channel_types)) or "none installed"
            raise InvalidInput(f"There is no channel type {kind!r} (available: {known}).")
        name = (name or "").strip()
        if not name:
            raise InvalidInput("A channel needs a name.")
        address = self._normalize_address(ctype.rules, business_address)
        if auto_close_seconds is not None and not ctype.rules.auto_close_configurable:
            raise InvalidInput(f"{ctype.label} closes idle conversations by its own rule; it cannot be changed.")
        with self._tx() as (s, out):
            if s.execute(select(col(Channel.id)).where(col(Channel.name) == name)).scalar() is not None:
                raise Conflict(f"A channel named {name!r} exists already.")
            self._check_route(s, route_agent_id, route_queue_id)
            ch = Channel(kind=kind, name=name, business_address=address, settings=dict(settings or {}),
                         route_agent_id=route_agent_id, route_queue_id=route_queue_id,
                         auto_close_seconds=auto_close_seconds, created_at=self.clock.now())
            s.add(ch)
            s.flush()
            self._emit(s, out, events.CHANNEL_UPDATED, None, change="added", channel_id=ch.id)
            return self._channel_view(ch)

    def update_channel(self, channel_id: int, **changes: Any) -> ChannelView:
        allowed = {"settings", "route_agent_id", "route_queue_id", "auto_close_seconds", "enabled", "business_address"}
        bad = set(changes) - allowed
        if bad:
            raise InvalidInput(f"Channels have no setting {', '.join(sorted(bad))}.")
        _validate_channel_changes(changes)
        with self._tx() as (s, out):
            ch = s.get(Channel, channel_id)
            if ch is None:
                raise NotFound(f"There is no channel {channel_id}.")
            if "business_address" in changes:
                changes["business_address"] = self._normalize_address(self._rules(ch), changes["business_address"])
            if changes.get("auto_close_seconds") is not None and not self._rules(ch).auto_close_configurable:
                raise InvalidInput(f"{self._label(ch)} closes idle conversations by its own rule; it cannot be changed.")
            self._check_route(s, changes.get("route_agent_id"), changes.get("route_queue_id"))
            for k, v in changes.items():
                setattr(ch, k, v)
            self._emit(s, out, events.CHANNEL_UPDATED, None, change="updated", channel_id=ch.id)
        self._forget_channel(channel_id)
        return self._channel_view(ch)

    def set_channel_health(self, channel_id: int, ok: bool, detail: str = "", *, runs: bool = True) -> bool:
        """Record a channel's health as this process sees it. ``runs`` is False for a process
        that does not run the channel (its plugin is missing here, or a one-off check): it
        never overwrites the report of another process that still runs it. Returns whether
        the report was stored."""
        detail = redact(detail)  # often an exception's text, which can quote a URL with a token
        me = reporter.this_process() if runs else ""
        with self._tx() as (s, out):
            ch = s.get(Channel, channel_id)
            if ch is None:
                return False
            if not runs and ch.health_by and ch.health_by != reporter.this_process() \
                    and reporter.is_running(ch.health_by) is not False:
                return False
            changed = ch.healthy != ok or ch.health_detail != detail[:500]
            if not changed and ch.health_by == me:
                return True
            ch.healthy, ch.health_detail = ok, detail[:500]
            ch.health_by, ch.health_at = me, self.clock.now()
            if changed:
                self._emit(s, out, events.CHANNEL_UPDATED, None, change="health", channel_id=ch.id, ok=ok, detail=detail)
        self._forget_channel(channel_id)
        return True

    def remove_channel(self, channel_id: int) -> bool:
        """Delete a channel that never carried a conversation; otherwise disable it, so no
        stored message is lost. Returns True when it was deleted."""
        with self._tx() as (s, out):
            ch = s.get(Channel, channel_id)
            if ch is None:
                raise NotFound(f"There is no channel {channel_id}.")
            used = s.execute(select(func.count()).select_from(Conversation)
                             .where(col(Conversation.channel_id) == channel_id)).scalar_one()
            if used:
                ch.enabled = False
            else:
                s.delete(ch)
            self._emit(s, out, events.CHANNEL_UPDATED, None, change="disabled" if used else "removed", channel_id=channel_id)
        self._forget_channel(channel_id)
        return not used

    def list_channels(self, *, include_disabled: bool = False) -> list[ChannelView]:
        with self.db.read() as s:
            q = select(Channel).order_by(col(Channel.id))
            if not include_disabled:
                q = q.where(col(Channel.enabled).is_(True))
            return [self._channel_view(c) for c in s.execute(q).scalars()]

    def get_channel(self, channel_id: int) -> ChannelView:
        with self.db.read() as s:
            ch = s.get(Channel, channel_id)
            if ch is None:
                raise NotFound(f"There is no channel {channel_id}.")
            return self._channel_view(ch)

    def _channel_view(self, ch: Channel) -> ChannelView:
        t = self._type(ch)
        return ChannelView(id=ch.id, kind=ch.kind, label=self._label(ch), name=ch.name,
                           # or {}: a store an older version let take a null still lists
                           business_address=ch.business_address, settings=ch.settings or {},
                           rules=self._rules(ch).to_dict(), enabled=ch.enabled, healthy=ch.healthy,
                           health_detail=ch.health_detail, health_at=ch.health_at,
                           running=reporter.is_running(ch.health_by) if ch.health_by else None,
                           route_agent_id=ch.route_agent_id,
                           route_queue_id=ch.route_queue_id, auto_close_seconds=ch.auto_close_seconds,
                           available=t is not None)

    def _check_route(self, s: Session, agent_id: int | None, queue_id: int | None) -> None:
        if agent_id is not None and s.get(Agent, agent_id) is None:
            raise NotFound(f"There is no agent {agent_id}.")
        if queue_id is not None and s.get(MessageQueue, queue_id) is None:
            raise NotFound(f"There is no queue {queue_id}.")

    # -- agents and queues -------------------------------------------------------------

    def add_agent(self, name: str, email: str | None = None, extension: str | None = None, *,
                  role: str = "agent") -> AgentView:
        name = (name or "").strip()
        if not name:
            raise InvalidInput("An agent needs a name.")
        if role not in ("agent", "admin"):
            raise InvalidInput(f"An agent's role is agent or admin, not {role!r}.")
        extension = agent_extension(extension)  # as set later: it reaches the call handler's dial string
        with self._tx() as (s, out):
            if email and s.execute(select(col(Agent.id)).where(col(Agent.email) == email)).scalar() is not None:
                raise Conflict(f"An agent with the e-mail {email} exists already.")
            a = Agent(name=name, email=email, extension=extension, settings={}, role=role)
            s.add(a)
            s.flush()
            self._emit(s, out, events.AGENT_UPDATED, None, agent_id=a.id, change="added")
            return self._agent_view(a)

    def ensure_agent(self, name: str, email: str) -> AgentView:
        """The agent with this e-mail, created on first use (the desktop's local agent)."""
        with self.db.read() as s:
            a = s.execute(select(Agent).where(col(Agent.email) == email)).scalar_one_or_none()
            if a is not None:
                return self._agent_view(a)
        try:
            return self.add_agent(name, email)
        except Conflict:
            return self.ensure_agent(name, email)

    def list_agents(self) -> list[AgentView]:
        """Every agent with their presence and open load (the transfer picker)."""
        with self.db.read() as s:
            load = self._open_counts(s)
            return [self._agent_view(a, load.get(a.id, 0))
                    for a in s.execute(select(Agent).order_by(col(Agent.name))).scalars()]

    def get_agent(self, agent_id: int) -> AgentView:
        with self.db.read() as s:
            return self._agent_view(self._agent(s, agent_id), self._open_counts(s, [agent_id]).get(agent_id, 0))

    def set_agent_role(self, agent_id: int, role: str) -> AgentView:
        """Make an agent an administrator or a plain agent again. The last administrator
        stays one: without an admin nobody could manage the team from its admin view."""
        if role not in ("agent", "admin"):
            raise InvalidInput(f"An agent's role is agent or admin, not {role!r}.")
        with self._tx() as (s, out):
            a = self._agent(s, agent_id)
            if a.role == "admin" and role != "admin":
                # Locked: two admins demoting each other at once must not both succeed.
                admins = s.execute(select(col(Agent.id)).where(col(Agent.role) == "admin").with_for_update()).all()
                if len(admins) <= 1:
                    raise Conflict(f"{a.name} is the last administrator; make another agent an admin first.")
            if a.role != role:
                a.role = role
                self._emit(s, out, events.AGENT_UPDATED, None, agent_id=a.id, change="role", role=role)
            return self._agent_view(a)

    def touch_agent(self, agent_id: int) -> None:
        """Record that the agent is present (the window's live connection calls this)."""
        now = self.clock.now()
        with self.db.write() as s:
            a = self._agent(s, agent_id)
            if a.last_seen_at is None or (now - a.last_seen_at).total_seconds() > 30:
                a.last_seen_at = now

    def add_queue(self, name: str, member_ids: list[int] | None = None, *, pickup_mode: str = "auto") -> QueueView:
        name = (name or "").strip()
        if not name:
            raise InvalidInput("A queue needs a name.")
        _check_pickup(pickup_mode)
        with self._tx() as (s, out):
            if s.execute(select(col(MessageQueue.id)).where(col(MessageQueue.name) == name)).scalar() is not None:
                raise Conflict(f"A queue named {name!r} exists already.")
            q = MessageQueue(name=name, pickup_mode=pickup_mode)
            s.add(q)
            s.flush()
            for aid in member_ids or []:
                self._agent(s, aid)
                s.add(QueueMember(queue_id=q.id, agent_id=aid))
            self._emit(s, out, events.AGENT_UPDATED, None, change="queue", queue_id=q.id)
            return _queue_view(q, list(member_ids or []))

    def set_queue_members(self, queue_id: int, member_ids: list[int]) -> QueueView:
        with self._tx() as (s, out):
            q = s.get(MessageQueue, queue_id)
            if q is None:
                raise NotFound(f"There is no queue {queue_id}.")
            before = set(s.execute(select(col(QueueMember.agent_id)).where(col(QueueMember.queue_id) == queue_id)).scalars())
            s.execute(delete(QueueMember).where(col(QueueMember.queue_id) == queue_id))
            for aid in member_ids:
                self._agent(s, aid)
                s.add(QueueMember(queue_id=queue_id, agent_id=aid))
            # Who joined and who left: a syncing client of one who left drops the queue's
            # unassigned conversations, one who joined fetches them.
            self._emit(s, out, events.AGENT_UPDATED, None, change="queue", queue_id=q.id,
                       added=sorted(set(member_ids) - before), removed=sorted(before - set(member_ids)))
            return _queue_view(q, member_ids)

    def set_pickup_mode(self, queue_id: int, pickup_mode: str) -> QueueView:
        """How the queue's conversations are taken: auto (the first reply), manual (Pick Up
        only) or none (a shared inbox)."""
        _check_pickup(pickup_mode)
        with self._tx() as (s, out):
            q = s.get(MessageQueue, queue_id)
            if q is None:
                raise NotFound(f"There is no queue {queue_id}.")
            q.pickup_mode = pickup_mode
            self._emit(s, out, events.AGENT_UPDATED, None, change="queue", queue_id=q.id)
            members = list(s.execute(select(col(QueueMember.agent_id)).where(col(QueueMember.queue_id) == q.id)).scalars())
            return _queue_view(q, members)

    def set_queue_policy(self, queue_id: int, *, auto_assign: bool | None = None,
                         capacity: int | None | _Unset = UNSET,
                         requeue_after_minutes: int | None | _Unset = UNSET) -> QueueView:
        """Beyond Linkus, per queue: automatic assignment to the available member with the
        fewest open conversations under ``capacity`` (None: no limit), and re-queue after
        ``requeue_after_minutes`` without an answer (None: off). Unset arguments stay."""
        for name, v in (("capacity", capacity), ("requeue_after_minutes", requeue_after_minutes)):
            if not isinstance(v, _Unset) and v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise InvalidInput(f"{name} must be a positive whole number, or off.")
        with self._tx() as (s, out):
            q = s.get(MessageQueue, queue_id)
            if q is None:
                raise NotFound(f"There is no queue {queue_id}.")
            if auto_assign and q.pickup_mode == "none":
                raise InvalidInput(f"{q.name} is a shared inbox (pickup none): its conversations are not assigned.")
            if auto_assign is not None:
                q.auto_assign = auto_assign
            if not isinstance(capacity, _Unset):
                q.capacity = capacity
            if not isinstance(requeue_after_minutes, _Unset):
                q.requeue_after_minutes = requeue_after_minutes
            self._emit(s, out, events.AGENT_UPDATED, None, change="queue", queue_id=q.id)
            members = list(s.execute(select(col(QueueMember.agent_id)).where(col(QueueMember.queue_id) == q.id)).scalars())
            return _queue_view(q, members)

    def list_queues(self) -> list[QueueView]:
        with self.db.read() as s:
            members: dict[int, list[int]] = {}
            for qm in s.execute(select(QueueMember)).scalars():
                members.setdefault(qm.queue_id, []).append(qm.agent_id)
            return [_queue_view(q, members.get(q.id, []))
                    for q in s.execute(select(MessageQueue).order_by(col(MessageQueue.name))).scalars()]

    # -- settings ------------------------------------------------------------------------

    def get_settings(self, agent_id: int) -> dict[str, Any]:
        with self.db.read() as s:
            return merged_settings(self._agent(s, agent_id).settings)

    def update_settings(self, agent_id: int, patch: dict[str, Any]) -> dict[str, Any]:
        unknown = set(patch) - set(DEFAULT_SETTINGS)
        if unknown:
            raise InvalidInput(f"Unknown setting {', '.join(sorted(unknown))}.")
        _validate_settings(patch)
        with self._tx() as (s, out):
            a = self._agent(s, agent_id)
            current = merged_settings(a.settings)
            if "notify" in patch:  # one kind switched: the others keep theirs
                patch = {**patch, "notify": {**current["notify"], **patch["notify"]}}
            a.settings = {**current, **patch}
            self._emit(s, out, events.SETTINGS_UPDATED, None, agent_id=agent_id, visible_agent_id=agent_id,
                       keys=sorted(patch))
            return merged_settings(a.settings)


def _queue_view(q: MessageQueue, members: list[int]) -> QueueView:
    return QueueView(id=q.id, name=q.name, member_ids=members, pickup_mode=q.pickup_mode,
                     auto_assign=q.auto_assign, capacity=q.capacity, requeue_after_minutes=q.requeue_after_minutes)


def _check_pickup(mode: str) -> None:
    if mode not in PICKUP_MODES:
        raise InvalidInput(f"A queue's pickup mode is one of {', '.join(PICKUP_MODES)}, not {mode!r}.")


def merged_settings(stored: dict[str, Any] | None) -> dict[str, Any]:
    out = {**DEFAULT_SETTINGS, **(stored or {})}
    out["dnd_schedule"] = {**DEFAULT_SETTINGS["dnd_schedule"], **(out.get("dnd_schedule") or {})}
    out["notify"] = {**DEFAULT_SETTINGS["notify"], **(out.get("notify") or {})}
    return out


def _validate_channel_changes(changes: dict[str, Any]) -> None:
    """Types the store's columns need: a wrong one would be committed, then break every read."""
    if "settings" in changes and not isinstance(changes["settings"], dict):
        raise InvalidInput("A channel's settings are names and values; they cannot be cleared.")
    if "enabled" in changes and not isinstance(changes["enabled"], bool):
        raise InvalidInput("enabled must be true or false.")
    if "business_address" in changes and not isinstance(changes["business_address"], str):
        raise InvalidInput("business_address must be an address.")
    for key in ("route_agent_id", "route_queue_id", "auto_close_seconds"):
        v = changes.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise InvalidInput(f"{key} must be a positive whole number or null.")


def _validate_settings(patch: dict[str, Any]) -> None:
    for key in ("popup", "sound", "dnd"):
        if key in patch and not isinstance(patch[key], bool):
            raise InvalidInput(f"{key} must be true or false.")
    if patch.get("dnd_until") is not None:
        try:
            datetime.fromisoformat(str(patch["dnd_until"]))
        except ValueError:
            raise InvalidInput("dnd_until must be an ISO date and time.") from None
    sched = patch.get("dnd_schedule")
    if sched is not None:
        if not isinstance(sched, dict) or set(sched) - {"enabled", "start", "end"}:
            raise InvalidInput("dnd_schedule takes enabled, start and end.")
        for k in ("start", "end"):
            if k in sched:
                try:
                    time.fromisoformat(str(sched[k]))
                except ValueError:
                    raise InvalidInput(f"dnd_schedule.{k} must be a time like 22:00.") from None
    notify = patch.get("notify")
    if notify is not None and (not isinstance(notify, dict) or set(notify) - set(DEFAULT_SETTINGS["notify"])
                               or not all(isinstance(v, bool) for v in notify.values())):
        raise InvalidInput(f"notify takes {', '.join(DEFAULT_SETTINGS['notify'])}, each true or false.")
    if patch.get("last_conversation_id") is not None and not isinstance(patch["last_conversation_id"], int):
        raise InvalidInput("last_conversation_id must be a conversation id.")
