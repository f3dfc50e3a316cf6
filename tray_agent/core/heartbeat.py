"""Heartbeats and status: a device's requests and open event stream mark its agent present;
the status an agent sets; each change of presence announced once, as ``agent.updated``
(``change: "presence"``), also when the last device falls silent (the absence sweep).
"""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.core import events
from tray_agent.core.base import InboxBase
from tray_agent.core.models import Agent, Event
from tray_agent.core.presence import HEARTBEAT_EVERY, OFFLINE, PRESENT_FOR, check_status, presence_of
from tray_agent.core.team_models import Device
from tray_agent.core.views import AgentView


class Heartbeat(InboxBase):
    def set_status(self, agent_id: int, status: str) -> AgentView:
        """Set the agent's own status: available, away or busy (do-not-disturb)."""
        check_status(status)
        with self._tx() as (s, out):
            a = self._agent(s, agent_id)
            a.status = status
            self._announce(s, out, a)
            return self._agent_view(a, self._open_counts(s, [a.id]).get(a.id, 0))

    def device_seen(self, device_id: int, agent_id: int) -> bool:
        """A heartbeat of one device: its last-seen time (and its agent's) is written when
        the last write is older than ``HEARTBEAT_EVERY``. An agent coming back online is
        announced. Returns whether anything was written."""
        now = self.clock.now()
        # The device's and agent's rows alone, with no event: no writer lock on every heartbeat.
        with self.db.write() as s:
            wrote = s.execute(update(Device).where(  # type: ignore[attr-defined]  # DML returns a CursorResult (rowcount)
                col(Device.id) == device_id,
                or_(col(Device.last_seen_at).is_(None), col(Device.last_seen_at) <= now - HEARTBEAT_EVERY),
            ).values(last_seen_at=now).execution_options(synchronize_session=False)).rowcount
            a = s.get(Agent, agent_id)
            if not wrote and a is not None and a.presence_announced != OFFLINE:
                return False
            if a is None:
                return bool(wrote)
            came_back = presence_of(a.status, a.last_seen_at, now) == OFFLINE
            if a.last_seen_at is None or a.last_seen_at < now:
                a.last_seen_at = now
            news = came_back or presence_of(a.status, a.last_seen_at, now) != a.presence_announced
        if news:
            # Back after a silence the sweep has not announced yet: still news (waiting
            # conversations may go to them now).
            with self._tx() as (s, out):
                a = s.get(Agent, agent_id)
                if a is not None:
                    self._announce(s, out, a, came_back=came_back)
        return True

    def mark_absent(self) -> int:
        """The sweep: agents announced present whose devices all fell silent are announced
        offline, once (a conditional update decides it across replicas)."""
        cutoff = self.clock.now() - PRESENT_FOR
        with self.db.read() as s:
            ids = list(s.execute(select(col(Agent.id)).where(
                col(Agent.presence_announced) != OFFLINE,
                or_(col(Agent.last_seen_at).is_(None), col(Agent.last_seen_at) <= cutoff))).scalars())
        changed = 0
        for agent_id in ids:
            with self._tx() as (s, out):
                a = s.get(Agent, agent_id)
                if a is not None and self._announce(s, out, a):
                    changed += 1
        return changed

    def _announce(self, s: Session, out: list[Event], a: Agent, *, came_back: bool = False) -> bool:
        """Emit ``agent.updated`` "presence" when the agent's presence differs from the one
        last announced (or they came back). Of two replicas noticing it at once, the
        conditional update lets one."""
        now = self.clock.now()
        presence = presence_of(a.status, a.last_seen_at, now)
        before = a.presence_announced
        if presence == before and not (came_back and presence != OFFLINE):
            return False
        s.flush()
        won = s.execute(update(Agent).where(  # type: ignore[attr-defined]  # DML returns a CursorResult (rowcount)
            col(Agent.id) == a.id, col(Agent.presence_announced) == before,
        ).values(presence_announced=presence).execution_options(synchronize_session=False)).rowcount
        if not won:
            return False
        a.presence_announced = presence
        self._emit(s, out, events.AGENT_UPDATED, None, agent_id=a.id, change="presence", status=a.status,
                   presence=presence, previous=OFFLINE if came_back else before)
        return True
