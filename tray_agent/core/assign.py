"""Queues beyond Linkus, both off by default: automatic assignment (a waiting conversation
goes to the available member with the fewest open ones, under the queue's capacity) and
re-queue (an owner who has not answered the customer within N minutes loses it to the queue).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.core import events
from tray_agent.core.base import InboxBase
from tray_agent.core.models import IN, Agent, Conversation, Event, MessageQueue, QueueMember
from tray_agent.core.presence import PRESENT_FOR

log = logging.getLogger(__name__)

BATCH = 200
#: Events after which a waiting conversation may find a member: a new one in a queue, a
#: member freeing capacity (closed, transferred away) or coming online.
_RETRY_CHANGES = {"closed", "presence", "queue"}


class Assignment(InboxBase):
    def assign_waiting(self, queue_ids: Iterable[int] | None = None, *,
                       exclude: Mapping[int, int] | None = None) -> int:
        """Give the waiting (open, unassigned) conversations of auto-assign queues, oldest
        first, to available members with the fewest open conversations under the capacity.
        ``exclude`` maps a conversation to a member it must not go to (the one it was just
        taken from). Returns how many were assigned."""
        with self.db.read() as s:
            q = select(col(MessageQueue.id)).where(col(MessageQueue.auto_assign).is_(True),
                                                   col(MessageQueue.pickup_mode) != "none")
            if queue_ids is not None:
                q = q.where(col(MessageQueue.id).in_(list(queue_ids)))
            queues = list(s.execute(q).scalars())
        assigned = 0
        for queue_id in queues:
            while True:
                with self._tx() as (s, out):
                    # Under the writers' lock (every _tx takes it first): the loads read here
                    # cannot change before this commits, so two replicas never both hand out a
                    # member's last free place.
                    n, more = self._assign_batch(s, out, queue_id, exclude or {})
                assigned += n
                if not more:
                    break
        return assigned

    def _assign_batch(self, s: Session, out: list[Event], queue_id: int,
                      exclude: Mapping[int, int]) -> tuple[int, bool]:
        queue = s.get(MessageQueue, queue_id)
        if queue is None or not queue.auto_assign:
            return 0, False
        waiting = list(s.execute(select(Conversation).where(
            col(Conversation.queue_id) == queue_id, col(Conversation.assigned_agent_id).is_(None),
            col(Conversation.status) == "open").order_by(col(Conversation.id)).limit(BATCH)).scalars())
        loads = self._member_loads(s, queue)
        n = 0
        for conv in waiting:
            pick = _least_loaded(loads, queue.capacity, exclude.get(conv.id))
            if pick is None:
                continue  # no one can take it now (perhaps only the member it came from)
            now = self.clock.now()
            won = s.execute(update(Conversation).where(  # type: ignore[attr-defined]  # DML returns a CursorResult (rowcount)
                col(Conversation.id) == conv.id, col(Conversation.assigned_agent_id).is_(None),
                col(Conversation.status) == "open",
            ).values(assigned_agent_id=pick, assigned_at=now).execution_options(synchronize_session=False)).rowcount
            if not won:
                continue  # a member picked it up meanwhile
            s.refresh(conv)
            loads[pick] += 1
            n += 1
            # Like a claim: the members see it leave, the new owner sees it arrive.
            self._emit(s, out, events.CONVERSATION_UPDATED, conv, change="assigned", assigned_agent_id=pick,
                       visible_queue_id=queue_id, prev_agent_id=None, prev_queue_id=queue_id)
            name = s.get_one(Agent, pick).name
            self._system_message(s, out, conv, "assigned", f"Assigned to {name} automatically", None,
                                 meta={"agent_id": pick, "queue_id": queue_id}, touch=False)
        return n, len(waiting) == BATCH and n > 0

    def _member_loads(self, s: Session, queue: MessageQueue) -> dict[int, int]:
        """Members who are available now (status available, a device seen within a minute),
        with their open conversations."""
        cutoff = self.clock.now() - PRESENT_FOR
        members = list(s.execute(select(col(Agent.id)).join(QueueMember, col(QueueMember.agent_id) == col(Agent.id))
                                 .where(col(QueueMember.queue_id) == queue.id, col(Agent.status) == "available",
                                        col(Agent.last_seen_at) > cutoff)).scalars())
        return {aid: 0 for aid in members} | (self._open_counts(s, members) if members else {})

    def requeue_unanswered(self) -> int:
        """Conversations of queues with a re-queue time whose owner has not answered the
        customer's message within it go back to the queue (a system row says so; the owner
        sees it leave, the members see it come). Returns how many."""
        now = self.clock.now()
        with self.db.read() as s:
            policies = [(q.id, q.requeue_after_minutes) for q in s.execute(select(MessageQueue).where(
                col(MessageQueue.requeue_after_minutes).is_not(None))).scalars() if q.requeue_after_minutes]
        moved = 0
        for queue_id, minutes in policies:
            cutoff = now - timedelta(minutes=minutes)
            with self.db.read() as s:
                due = list(s.execute(select(col(Conversation.id), col(Conversation.assigned_agent_id)).where(
                    col(Conversation.queue_id) == queue_id, col(Conversation.status) == "open",
                    col(Conversation.assigned_agent_id).is_not(None), col(Conversation.last_message_direction) == IN,
                    col(Conversation.last_inbound_at) <= cutoff,
                    or_(col(Conversation.assigned_at).is_(None), col(Conversation.assigned_at) <= cutoff),
                ).order_by(col(Conversation.id)).limit(BATCH)).all())
            back: dict[int, int] = {}
            for conv_id, owner in due:
                if owner is not None and self._requeue(conv_id, owner, queue_id, minutes, cutoff):
                    back[conv_id] = owner
            moved += len(back)
            if back:
                self.assign_waiting([queue_id], exclude=back)
        return moved

    def _requeue(self, conv_id: int, owner: int, queue_id: int, minutes: int, cutoff: datetime) -> bool:
        with self._tx() as (s, out):
            # Conditional: an owner whose reply commits first keeps it (the reply holds the row).
            won = s.execute(update(Conversation).where(  # type: ignore[attr-defined]  # DML returns a CursorResult (rowcount)
                col(Conversation.id) == conv_id, col(Conversation.assigned_agent_id) == owner,
                col(Conversation.status) == "open", col(Conversation.last_message_direction) == IN,
                col(Conversation.last_inbound_at) <= cutoff,
                or_(col(Conversation.assigned_at).is_(None), col(Conversation.assigned_at) <= cutoff),
            ).values(assigned_agent_id=None, assigned_at=None).execution_options(synchronize_session=False)).rowcount
            if not won:
                return False
            conv = s.get_one(Conversation, conv_id)
            s.refresh(conv)
            names = self._agent_names(s)
            queue = s.get_one(MessageQueue, queue_id)
            text = (f"Returned to the queue {queue.name}: {names.get(owner, 'the owner')} had not answered "
                    f"for {minutes} minutes")
            msg = self._system_message(s, out, conv, "requeued", text, None,
                                       meta={"from_agent_id": owner, "to_queue_id": queue_id,
                                             "after_minutes": minutes})
            # A transfer to the queue by the server: every client already handles one.
            self._emit(s, out, events.CONVERSATION_TRANSFERRED, conv, message_id=msg.id, from_agent_id=owner,
                       to_agent_id=None, to_queue_id=queue_id, note="", reason="requeued",
                       prev_agent_id=owner, prev_queue_id=queue_id)
            return True

    def _after_commit(self, written: Sequence[Event]) -> None:
        """A committed change that may let a waiting conversation find a member starts an
        assignment pass here; the team sweep retries anything this misses."""
        queues: set[int] | None = set()
        for e in written:
            data = getattr(e, "data", None) or {}
            if e.type == events.CONVERSATION_CREATED and e.visible_queue_id is not None:
                queues.add(e.visible_queue_id)  # type: ignore[union-attr]  # set() until widened to all
            elif (e.type == events.CONVERSATION_TRANSFERRED and data.get("reason") != "requeued") or \
                    data.get("change") in _RETRY_CHANGES:
                queues = None  # capacity freed or a member came: every auto-assign queue
                break
        if queues is not None and not queues:
            return
        self._assign_after_commit(queues)

    def _assign_after_commit(self, queues: set[int] | None) -> None:
        try:
            self.assign_waiting(queues)
        except Exception:  # committed already; the sweep assigns it on its next pass
            log.exception("automatic assignment after a commit failed")


def _least_loaded(loads: dict[int, int], capacity: int | None, not_to: int | None) -> int | None:
    """The member with the fewest open conversations under ``capacity`` (ties: the lowest id)."""
    free = [(n, aid) for aid, n in loads.items() if aid != not_to and (capacity is None or n < capacity)]
    return min(free)[1] if free else None
