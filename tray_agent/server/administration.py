"""The team's administration as one service: channels (credentials to the keyring or named
environment variables), queues, agents, devices and the filtered audit log. Every change is
the service layer's call plus its audit entry; the admin view and the CLI both call this.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any, Literal, Optional

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlmodel import col

from tray_agent import credentials
from tray_agent.core.errors import Conflict, InvalidInput, TrayAgentError
from tray_agent.core.models import Conversation
from tray_agent.core.team_models import AuditEntry
from tray_agent.core.views import AgentView, ChannelView, QueueView
from tray_agent.server.accounts import Accounts, Actor, AuditView, DeviceView


class CredentialState(BaseModel):
    """Where one of a channel's credentials comes from; never its value."""

    name: str
    description: str
    optional: bool
    #: keyring (stored on this server), environment (set in this replica's environment), missing.
    source: Literal["keyring", "environment", "missing"]
    #: The environment variable the server reads it from (it wins over the keyring).
    env: str


class AdminChannelView(ChannelView):
    credentials: list[CredentialState]


class ChannelTypeView(BaseModel):
    kind: str
    label: str
    settings: dict[str, str]
    secrets: dict[str, str]
    optional_secrets: list[str]
    business_address_setting: str
    rules: dict[str, Any]


class RemovedChannel(BaseModel):
    """What ``remove_channel`` did: deleted (it never carried a conversation), or kept
    disabled with its ``conversations`` (``open`` of them still open)."""

    id: int
    name: str
    deleted: bool
    conversations: int
    open: int


class CredentialInput(BaseModel):
    """A credential given in the admin view: a value for the keyring, or "from the
    environment" (the server then reads ``env``, which is shown to the admin)."""

    source: Literal["keyring", "environment"]
    value: Optional[str] = None


class Administration:
    """What an administrator does, each change audited as done by ``actor``."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.inbox = accounts.inbox

    # -- channels ---------------------------------------------------------------------

    def channel_types(self) -> list[ChannelTypeView]:
        return [ChannelTypeView(kind=t.name, label=t.label, settings=dict(t.settings), secrets=dict(t.secrets),
                                optional_secrets=sorted(t.optional_secrets),
                                business_address_setting=t.business_address_setting, rules=t.rules.to_dict())
                for t in sorted(self.inbox.channel_types.values(), key=lambda t: t.label)]

    def list_channels(self) -> list[AdminChannelView]:
        return [self._with_credentials(ch) for ch in self.inbox.list_channels(include_disabled=True)]

    def add_channel(self, actor: Actor, kind: str, name: str, business_address: str,
                    settings: dict[str, str] | None = None, given: dict[str, CredentialInput] | None = None, *,
                    route_agent_id: int | None = None, route_queue_id: int | None = None,
                    auto_close_seconds: int | None = None) -> AdminChannelView:
        """Add a channel; its credentials go to the keyring first and are taken out again
        when the channel cannot be added, so nothing is left half-made."""
        ctype = self.inbox.channel_types.get(kind)
        if ctype is None:
            known = ", ".join(sorted(self.inbox.channel_types)) or "none installed"
            raise InvalidInput(f"There is no channel type {kind!r} (available: {known}).")
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(ctype.settings))
        if unknown:
            raise InvalidInput(f"{ctype.label} has no setting {', '.join(unknown)} "
                               f"(it takes: {', '.join(ctype.settings) or 'none'}).")
        name = (name or "").strip()
        given = dict(given or {})
        self._check_credentials(kind, name, given, adding=True)
        # Before the keyring is touched: a failed add must not overwrite, then take out,
        # the credentials of the channel that has this name already.
        if any(ch.name == name for ch in self.inbox.list_channels(include_disabled=True)):
            raise Conflict(f"A channel named {name!r} exists already.")
        stored = self._store(name, given)
        try:
            ch = self.inbox.add_channel(kind, name, business_address, settings, route_agent_id=route_agent_id,
                                        route_queue_id=route_queue_id, auto_close_seconds=auto_close_seconds)
        except TrayAgentError:
            for key in stored:
                credentials.delete(name, key)
            raise
        self.accounts.record(actor, "channel.added", f"channel:{ch.id}", {
            "kind": kind, "name": ch.name, "route_agent_id": route_agent_id, "route_queue_id": route_queue_id,
            "auto_close_seconds": auto_close_seconds, "credentials": _sources(given)})
        return self._with_credentials(ch)

    def update_channel(self, actor: Actor, channel_id: int, changes: dict[str, Any],
                       given: dict[str, CredentialInput] | None = None) -> AdminChannelView:
        """Enable or disable it, route it, set its auto-closure, replace credentials."""
        ch = self.inbox.get_channel(channel_id)
        given = dict(given or {})
        if not changes and not given:
            raise InvalidInput("Say what to change: enabled, routing, auto-closure or credentials.")
        self._check_credentials(ch.kind, ch.name, given, adding=False)
        # Each part audited as it is done: a keyring that fails after the settings changed
        # leaves the settings' entry in the log.
        if changes:
            ch = self.inbox.update_channel(channel_id, **changes)
            self.accounts.record(actor, "channel.updated", f"channel:{ch.id}", changes)
        if given:
            self._store(ch.name, given)
            self.accounts.record(actor, "channel.updated", f"channel:{ch.id}", {"credentials": _sources(given)})
        return self._with_credentials(ch)

    def remove_channel(self, actor: Actor, channel_id: int, *, force: bool = False) -> RemovedChannel:
        """Take a channel out of service. One that never carried a conversation is deleted;
        one that did stays, disabled, so its conversations stay readable everywhere (nothing
        of a customer's history is lost). While it has open conversations it is refused
        unless ``force`` (they stay open and readable; replies are refused). Either way its
        credentials leave this server's keyring."""
        ch = self.inbox.get_channel(channel_id)
        with self.inbox.db.read() as s:
            counts = dict(s.execute(select(col(Conversation.status), func.count()).where(
                col(Conversation.channel_id) == channel_id).group_by(col(Conversation.status))).all())
        total, still_open = sum(counts.values()), int(counts.get("open", 0))
        if still_open and not force:
            raise Conflict(f"{ch.name} has {still_open} open conversation{'s' if still_open != 1 else ''}: close or "
                           "transfer them first, or force the removal (--force): they stay readable; replies are refused.")
        deleted = self.inbox.remove_channel(channel_id)
        ctype = self.inbox.channel_types.get(ch.kind)
        for key in (ctype.secrets if ctype else ()):
            credentials.delete(ch.name, key)
        self.accounts.record(actor, "channel.removed", f"channel:{channel_id}", {
            "name": ch.name, "deleted": deleted, "conversations": total, "open": still_open, "force": force})
        return RemovedChannel(id=channel_id, name=ch.name, deleted=deleted, conversations=total, open=still_open)

    def _check_credentials(self, kind: str, name: str, given: dict[str, CredentialInput], *, adding: bool) -> None:
        ctype = self.inbox.channel_types.get(kind)
        takes = dict(ctype.secrets) if ctype else {}
        bad = sorted(set(given) - set(takes))
        if bad:
            raise InvalidInput(f"This channel takes no credential {', '.join(bad)} (it takes: {', '.join(takes) or 'none'}).")
        for key, c in given.items():
            if c.source == "keyring" and not (c.value or "").strip():
                raise InvalidInput(f"Give {key}'s value, or choose to read it from {credentials.env_name(name, key)}.")
        if adding and ctype is not None:
            missing = [k for k in takes if k not in given and k not in ctype.optional_secrets]
            if missing:
                raise InvalidInput(f"{ctype.label} needs {', '.join(missing)}: give each a value or read it "
                                   f"from the environment.")

    def _store(self, name: str, given: dict[str, CredentialInput]) -> list[str]:
        stored: list[str] = []
        try:
            for key, c in given.items():
                if c.source == "keyring":
                    credentials.put(name, key, (c.value or "").strip())
                    stored.append(key)
        except TrayAgentError:
            for key in stored:
                credentials.delete(name, key)
            raise
        return stored

    def _with_credentials(self, ch: ChannelView) -> AdminChannelView:
        ctype = self.inbox.channel_types.get(ch.kind)
        if ctype is None:  # its plugin is not installed here: nothing known to show
            return AdminChannelView(**ch.model_dump(), credentials=[])
        states = [CredentialState(name=key, description=desc, optional=key in ctype.optional_secrets,
                                  source=_source(ch.name, key), env=credentials.env_name(ch.name, key))
                  for key, desc in ctype.secrets.items()]
        return AdminChannelView(**ch.model_dump(), credentials=states)

    # -- queues -----------------------------------------------------------------------

    def add_queue(self, actor: Actor, name: str, member_ids: list[int], pickup_mode: str = "auto") -> QueueView:
        q = self.inbox.add_queue(name, member_ids, pickup_mode=pickup_mode)
        self.accounts.record(actor, "queue.added", f"queue:{q.id}",
                             {"name": q.name, "members": q.member_ids, "pickup_mode": q.pickup_mode})
        return q

    def set_queue_members(self, actor: Actor, queue_id: int, member_ids: list[int]) -> QueueView:
        q = self.inbox.set_queue_members(queue_id, member_ids)
        self.accounts.record(actor, "queue.members", f"queue:{q.id}", {"members": q.member_ids})
        return q

    def set_pickup_mode(self, actor: Actor, queue_id: int, pickup_mode: str) -> QueueView:
        q = self.inbox.set_pickup_mode(queue_id, pickup_mode)
        self.accounts.record(actor, "queue.pickup_mode", f"queue:{q.id}", {"pickup_mode": q.pickup_mode})
        return q

    def set_queue_policy(self, actor: Actor, queue_id: int, changes: dict[str, Any]) -> QueueView:
        """Automatic assignment, capacity and re-queue (``auto_assign``, ``capacity``,
        ``requeue_after_minutes``; None turns the last two off): the console's ``server
        queue set`` and the admin view's."""
        if not changes:
            raise InvalidInput("Say what to change: auto-assign, capacity or re-queue.")
        q = self.inbox.set_queue_policy(queue_id, **changes)
        self.accounts.record(actor, "queue.policy", f"queue:{q.id}", changes)
        return q

    # -- agents and devices -------------------------------------------------------------

    def add_agent(self, actor: Actor, name: str, email: str, extension: str | None = None, *,
                  admin: bool = False) -> tuple[AgentView, str]:
        return self.accounts.add_agent(actor, name, email, extension, admin=admin)

    def set_role(self, actor: Actor, agent_id: int, role: str) -> AgentView:
        agent = self.inbox.set_agent_role(agent_id, role)
        self.accounts.record(actor, "agent.role", f"agent:{agent.id}", {"role": agent.role})
        return agent

    def issue_code(self, actor: Actor, agent_id: int) -> str:
        return self.accounts.issue_code(actor, agent_id)

    def list_devices(self, agent_id: int | None = None) -> list[DeviceView]:
        return self.accounts.list_devices(agent_id)

    def revoke_device(self, actor: Actor, device_id: int) -> DeviceView:
        return self.accounts.revoke_device(actor, device_id)

    # -- the audit log ------------------------------------------------------------------

    def audit(self, *, since: datetime | None = None, until: datetime | None = None, agent_id: int | None = None,
              action: str | None = None, limit: int = 100) -> list[AuditView]:
        """Newest first. ``agent_id``: done by that agent; ``action``: exactly that action, or
        a family with a trailing dot ("queue.")."""
        since, until = _aware(since), _aware(until)
        q = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(max(1, min(limit, 1000)))
        if since is not None:
            q = q.where(col(AuditEntry.at) >= since)
        if until is not None:
            q = q.where(col(AuditEntry.at) < until)
        if agent_id is not None:
            q = q.where(col(AuditEntry.actor_agent_id) == agent_id)
        if action:
            q = q.where(col(AuditEntry.action).startswith(action, autoescape=True) if action.endswith(".")
                        else col(AuditEntry.action) == action)
        with self.inbox.db.read() as s:
            return [AuditView(id=a.id, at=a.at, actor=a.actor, action=a.action, target=a.target, detail=a.detail or {})
                    for a in s.execute(q).scalars()]


def _source(channel: str, key: str) -> Literal["keyring", "environment", "missing"]:
    """Where the server finds the credential (credentials.get's order), never its value."""
    if os.environ.get(credentials.env_name(channel, key)):
        return "environment"
    try:
        import keyring

        stored = keyring.get_password(credentials.SERVICE, f"{channel}:{key}")
    except Exception:  # no keyring back-end on this server
        stored = None
    return "keyring" if stored else "missing"


def _aware(t: datetime | None) -> datetime | None:
    """A time given without a zone is UTC (the log's times are)."""
    return t.replace(tzinfo=timezone.utc) if t is not None and t.tzinfo is None else t


def _sources(given: dict[str, CredentialInput]) -> dict[str, str]:
    """For the audit log: which credential went where, never a value."""
    return {key: c.source for key, c in given.items()}
