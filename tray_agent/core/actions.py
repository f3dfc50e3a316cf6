"""What an agent does to a conversation: reply, start, claim, transfer, archive, close,
read marks and contacts (calls: ``call_actions``). Each is one transaction that also writes its event.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.core import events
from tray_agent.core.base import ChannelSnapshot, InboxBase, agent_extension, preview
from tray_agent.core.errors import (
    AlreadyTaken, Conflict, ConversationClosed, Forbidden, InvalidInput, NotFound, NotOwner,
    PickupDisabled, RuleViolation, TrayAgentError,
)
from tray_agent.core.files import StagedFile
from tray_agent.core.models import (
    OUT, Agent, Contact, ContactPoint, Conversation, Event, Message, MessageQueue,
    OutboxItem, ReadState, Transfer,
)
from tray_agent.core import rules as R
from tray_agent.core.presence import presence_of
from tray_agent.core.views import ContactView, ConversationView, MessageView, TransferView


def check_retry(status: str | None, rule_refused: bool, reason: str | None, conversation_status: str) -> None:
    """The one rule for sending a failed message again, wherever the retry is asked (here,
    a team desktop's own outbox, its request to the server): only a failed message, in an
    open conversation, that no rule refused. The conversation is looked at before the rule:
    a desktop's cache cannot tell a closed conversation's failure from a rule's."""
    if status != "failed":
        raise InvalidInput("Only a failed message can be sent again.")
    if conversation_status != "open":
        raise ConversationClosed("This conversation is closed; reopen it to send again.")
    if rule_refused:
        raise RuleViolation(reason or "The channel's rules refused this message; sending it again cannot work.")


class Actions(InboxBase):
    # -- sending -----------------------------------------------------------------------

    def reply(self, agent_id: int, conversation_id: int, text: str = "",
              files: Sequence[StagedFile] = ()) -> MessageView:
        """Send a message in a conversation. An unassigned one is taken over by the reply
        when its queue's pickup mode is "auto" (the default); "manual" and "none" leave it
        unassigned."""
        with self._tx() as (s, out):
            conv = self._acting_on(s, agent_id, conversation_id, for_update=True)
            ch = self._channel(conv.channel_id, s)
            rules = self._rules(ch)
            if conv.status != "open":
                raise ConversationClosed("This conversation is closed; reopen it to reply.")
            self._require_sendable(ch)
            R.check_replyable(rules, conv.customer_address)
            if conv.started_by != "agent" or conv.last_inbound_at is not None:
                R.check_reply(rules, conv.last_inbound_at, self.clock.now())
            if conv.assigned_agent_id not in (None, agent_id):
                raise self._not_yours(s, conv, agent_id)
            if self._pickup_mode(s, conv) == "auto":
                self._take_if_unassigned(s, out, conv, agent_id)
            msg = self._queue_outbound(s, out, conv, agent_id, text, files)
            return self._message_views(s, [msg])[0]

    def start_conversation(self, agent_id: int, channel_id: int, customer_address: str,
                           text: str = "", files: Sequence[StagedFile] = ()) -> tuple[ConversationView, MessageView]:
        """Open a conversation from the business number (only where the channel allows it)."""
        ch = self._channel(channel_id)
        rules = self._rules(ch)
        R.check_start(rules, self._label(ch))
        self._require_sendable(ch)
        address = self._normalize_address(rules, customer_address)
        R.check_replyable(rules, address)
        with self._tx() as (s, out):
            self._agent(s, agent_id)
            now = self.clock.now()
            conv = self._open_conversation(s, out, ch, address, None, now, started_by="agent", agent_id=agent_id)
            if conv.assigned_agent_id not in (None, agent_id):
                raise Forbidden(f"{self._agent_names(s).get(conv.assigned_agent_id, 'A colleague')} "
                                "already has an open conversation with this customer.")
            self._take_if_unassigned(s, out, conv, agent_id)
            msg = self._queue_outbound(s, out, conv, agent_id, text, files)
            return self._conversation_views(s, agent_id, [conv])[0], self._message_views(s, [msg])[0]

    def retry(self, agent_id: int, message_id: int) -> MessageView:
        """Send a failed message again, as a new attempt of the same message."""
        with self._tx() as (s, out):
            msg = s.get(Message, message_id)
            if msg is None or msg.direction != OUT:
                raise NotFound(f"There is no outgoing message {message_id}.")
            conv = self._conversation(s, agent_id, msg.conversation_id)
            check_retry(msg.status, msg.rule_refused, msg.status_reason, conv.status)
            ch = self._channel(conv.channel_id, s)
            if conv.last_inbound_at is not None:
                R.check_reply(self._rules(ch), conv.last_inbound_at, self.clock.now())
            msg.status, msg.status_reason, msg.error_code, msg.provider_message_id = "queued", None, None, None
            item = s.get(OutboxItem, msg.id)
            if item is None:
                s.add(OutboxItem(message_id=msg.id, channel_id=ch.id, next_attempt_at=self.clock.now()))
            else:
                item.state, item.next_attempt_at, item.last_error = "pending", self.clock.now(), ""
            self._emit(s, out, events.MESSAGE_UPDATED, conv, message_id=msg.id, status="queued", agent_id=agent_id)
            return self._message_views(s, [msg])[0]

    def _require_sendable(self, ch: ChannelSnapshot) -> None:
        if self._type(ch) is None:
            raise RuleViolation(f"The {ch.kind!r} channel plugin is not installed; nothing can be sent on it.")
        if not ch.enabled:
            raise RuleViolation(f"The channel {ch.name!r} is disabled.")

    def _queue_outbound(self, s: Session, out: list[Event], conv: Conversation, agent_id: int,
                        text: str, files: Sequence[StagedFile]) -> Message:
        text = (text or "").strip()
        ch = self._channel(conv.channel_id, s)
        rules = self._rules(ch)
        if not text and not files:
            raise InvalidInput("The message is empty; write something or attach a file.")
        if len(text) > rules.max_text_chars:
            raise InvalidInput(f"The message is {len(text)} characters; {self._label(ch)} takes up to "
                               f"{rules.max_text_chars}.")
        links = [R.check_file(rules, f.size, f.mime_type, self._label(ch)) for f in files]
        now = self.clock.now()
        msg = Message(conversation_id=conv.id, channel_id=conv.channel_id, direction=OUT,
                      kind="file" if files and not text else "text", text=text, sender_agent_id=agent_id,
                      status="queued", created_at=now)
        s.add(msg)
        s.flush()
        for f, as_link in zip(files, links, strict=True):
            a = self._attach(s, msg.id, f, rules, now)
            if as_link:
                msg.meta = {**msg.meta, "as_link": [*msg.meta.get("as_link", []), a.id]}
        s.add(OutboxItem(message_id=msg.id, channel_id=conv.channel_id, next_attempt_at=now))
        conv.last_activity_at = now
        conv.last_message_id = msg.id
        conv.last_message_preview = preview(text) or ", ".join(f.file_name for f in files)
        conv.last_message_direction = OUT
        conv.archived = False
        self._set_read(s, conv, agent_id, msg.id)
        self._emit(s, out, events.MESSAGE_CREATED, conv, message_id=msg.id, direction=OUT, agent_id=agent_id)
        return msg

    # -- ownership ---------------------------------------------------------------------

    def claim(self, agent_id: int, conversation_id: int) -> ConversationView:
        """Take over a queued conversation. Of two agents claiming at once, one wins; the
        other is told who did."""
        with self._tx() as (s, out):
            conv = self._acting_on(s, agent_id, conversation_id)
            if conv.assigned_agent_id == agent_id:
                return self._conversation_views(s, agent_id, [conv])[0]
            if conv.assigned_agent_id is None and self._pickup_mode(s, conv) == "none":
                raise PickupDisabled("This queue is a shared inbox: its conversations are not picked up; "
                                     "reply to it directly.")
            # Taken already (perhaps a moment ago by a colleague): say who, not "not found".
            self._take_if_unassigned(s, out, conv, agent_id)
            self._system_message(s, out, conv, "picked_up", f"{self._agent(s, agent_id).name} picked up this "
                                 "conversation", agent_id, meta={"agent_id": agent_id}, touch=False)
            return self._conversation_views(s, agent_id, [conv])[0]

    def _acting_on(self, s: Session, agent_id: int, conversation_id: int, *,
                   for_update: bool = False) -> Conversation:
        """The conversation an agent acts on; one a colleague took from a queue the agent is
        in answers "already taken" (who and when), anything else they do not see 404."""
        if for_update:
            events.serialize_writers(s)  # the event log's writer lock before the row's (events.py)
        conv = s.get(Conversation, conversation_id, with_for_update=for_update and not self.db.is_sqlite)
        if conv is not None and self._sees(s, agent_id, conv):
            return conv
        if conv is not None and conv.assigned_agent_id is not None and (
                conv.queue_id is None or conv.queue_id in self._my_queues(s, agent_id)):
            raise self._taken(s, conv)
        raise NotFound(f"There is no conversation {conversation_id} in your inbox.")

    def _pickup_mode(self, s: Session, conv: Conversation) -> str:
        queue = s.get(MessageQueue, conv.queue_id) if conv.queue_id is not None else None
        return queue.pickup_mode if queue is not None else "auto"

    def _not_yours(self, s: Session, conv: Conversation, agent_id: int) -> TrayAgentError:
        """A colleague's conversation that the caller still sees. A member of its queue lost
        the race to it: already taken (by whom, when). Anyone else here is an administrator,
        who sees every conversation but does not answer for the owner: not_owner, until
        they transfer it to themselves."""
        if conv.queue_id is not None and conv.queue_id in self._my_queues(s, agent_id):
            return self._taken(s, conv)
        owner = self._agent_names(s).get(conv.assigned_agent_id or -1, "A colleague")
        return NotOwner(f"{owner} is handling this conversation; transfer it to yourself to reply.",
                        owner_id=conv.assigned_agent_id)

    def _taken(self, s: Session, conv: Conversation) -> AlreadyTaken:
        owner = self._agent_names(s).get(conv.assigned_agent_id or -1, "another agent")
        return AlreadyTaken(f"{owner} has already taken over this conversation.", owner_id=conv.assigned_agent_id,
                            owner_name=owner, taken_at=conv.assigned_at)

    def _take_if_unassigned(self, s: Session, out: list[Event], conv: Conversation, agent_id: int) -> None:
        if conv.assigned_agent_id == agent_id:
            return
        now = self.clock.now()
        # A conditional UPDATE is the arbiter: exactly one of two racing claims changes the row.
        won = s.execute(update(Conversation).where(  # type: ignore[attr-defined]  # DML returns a CursorResult (rowcount)
            col(Conversation.id) == conv.id, col(Conversation.assigned_agent_id).is_(None)
        ).values(assigned_agent_id=agent_id, assigned_at=now).execution_options(synchronize_session=False)).rowcount
        if not won:
            s.refresh(conv)
            raise self._taken(s, conv)
        conv.assigned_agent_id, conv.assigned_at = agent_id, now
        # Visible to the queue's members too: they see it leave (prev_* = who saw it before).
        self._emit(s, out, events.CONVERSATION_UPDATED, conv, agent_id=agent_id, change="claimed",
                   visible_queue_id=conv.queue_id, prev_agent_id=None, prev_queue_id=conv.queue_id)

    def transfer(self, agent_id: int, conversation_id: int, *, to_agent_id: int | None = None,
                 to_queue_id: int | None = None, note: str = "") -> TransferView:
        """Hand a conversation to a colleague or back to a queue, with an optional note."""
        if (to_agent_id is None) == (to_queue_id is None):
            raise InvalidInput("Transfer to either a colleague or a queue.")
        with self._tx() as (s, out):
            conv = self._conversation(s, agent_id, conversation_id, for_update=True)
            me = self._agent(s, agent_id)
            # An administrator may reassign a colleague's conversation (as Linkus lets them).
            if conv.assigned_agent_id not in (None, agent_id) and me.role != "admin":
                raise NotOwner("Only the agent handling this conversation can transfer it.")
            prev_agent_id, prev_queue_id = conv.assigned_agent_id, conv.queue_id
            if to_agent_id is not None:
                if to_agent_id == agent_id:
                    raise InvalidInput("The conversation is already yours.")
                target = s.get(Agent, to_agent_id)
                if target is None:
                    raise NotFound(f"There is no colleague {to_agent_id}.")
                conv.assigned_agent_id, conv.assigned_at, target_name = to_agent_id, self.clock.now(), target.name
                to_presence = presence_of(target.status, target.last_seen_at, self.clock.now())
            else:
                queue = s.get(MessageQueue, to_queue_id)
                if queue is None:
                    raise NotFound(f"There is no queue {to_queue_id}.")
                conv.assigned_agent_id, conv.assigned_at, conv.queue_id, target_name = None, None, queue.id, queue.name
                to_presence = None
            note = (note or "").strip()
            s.add(Transfer(conversation_id=conv.id, from_agent_id=agent_id, to_agent_id=to_agent_id,
                           to_queue_id=to_queue_id, note=note, created_at=self.clock.now()))
            text = f"{me.name} transferred this conversation to {target_name}" + (f": {note}" if note else "")
            msg = self._system_message(s, out, conv, "transfer", text, agent_id,
                                       meta={"from_agent_id": agent_id, "to_agent_id": to_agent_id,
                                             "to_queue_id": to_queue_id, "note": note})
            conv.archived = False
            self._emit(s, out, events.CONVERSATION_TRANSFERRED, conv, agent_id=agent_id, message_id=msg.id,
                       from_agent_id=agent_id, to_agent_id=to_agent_id, to_queue_id=to_queue_id, note=note,
                       to_agent_presence=to_presence, prev_agent_id=prev_agent_id, prev_queue_id=prev_queue_id)
            view = self._conversation_views(s, agent_id, [conv])[0]
            return TransferView(**view.model_dump(), to_agent_presence=to_presence)

    # -- state -------------------------------------------------------------------------

    def archive(self, agent_id: int, conversation_id: int) -> ConversationView:
        return self._set_flag(agent_id, conversation_id, archived=True)

    def unarchive(self, agent_id: int, conversation_id: int) -> ConversationView:
        return self._set_flag(agent_id, conversation_id, archived=False)

    def _set_flag(self, agent_id: int, conversation_id: int, *, archived: bool) -> ConversationView:
        with self._tx() as (s, out):
            conv = self._conversation(s, agent_id, conversation_id)
            if conv.archived != archived:
                conv.archived = archived
                self._emit(s, out, events.CONVERSATION_UPDATED, conv, agent_id=agent_id,
                           change="archived" if archived else "unarchived")
            return self._conversation_views(s, agent_id, [conv])[0]

    def close(self, agent_id: int, conversation_id: int) -> ConversationView:
        with self._tx() as (s, out):
            conv = self._conversation(s, agent_id, conversation_id, for_update=True)
            if conv.status == "closed":
                return self._conversation_views(s, agent_id, [conv])[0]
            self._close(s, out, conv, f"Closed by {self._agent(s, agent_id).name}", agent_id)
            return self._conversation_views(s, agent_id, [conv])[0]

    def reopen(self, agent_id: int, conversation_id: int) -> ConversationView:
        with self._tx() as (s, out):
            conv = self._conversation(s, agent_id, conversation_id, for_update=True)
            if conv.status == "open":
                return self._conversation_views(s, agent_id, [conv])[0]
            newer = s.execute(select(col(Conversation.id)).where(
                col(Conversation.channel_id) == conv.channel_id, col(Conversation.customer_address) == conv.customer_address,
                col(Conversation.status) == "open")).scalar()
            if newer is not None:
                raise Conflict(f"This customer already has an open conversation ({newer}); continue there.",
                               conversation_id=newer)
            conv.status, conv.closed_at = "open", None
            self._system_message(s, out, conv, "reopened", f"Reopened by {self._agent(s, agent_id).name}", agent_id)
            self._emit(s, out, events.CONVERSATION_UPDATED, conv, agent_id=agent_id, change="reopened")
            return self._conversation_views(s, agent_id, [conv])[0]

    def mark_read(self, agent_id: int, conversation_id: int) -> ConversationView:
        with self._tx() as (s, out):
            conv = self._conversation(s, agent_id, conversation_id)
            self._set_read(s, conv, agent_id, conv.last_message_id or 0)
            self._emit(s, out, events.CONVERSATION_UPDATED, conv, agent_id=agent_id, change="read",
                       visible_agent_id=agent_id, visible_queue_id=None)
            return self._conversation_views(s, agent_id, [conv])[0]

    def mark_unread(self, agent_id: int, conversation_id: int) -> ConversationView:
        with self._tx() as (s, out):
            conv = self._conversation(s, agent_id, conversation_id)
            rs = s.get(ReadState, (conv.id, agent_id)) or ReadState(conversation_id=conv.id, agent_id=agent_id)
            rs.marked_unread = True
            s.add(rs)
            self._emit(s, out, events.CONVERSATION_UPDATED, conv, agent_id=agent_id, change="unread",
                       visible_agent_id=agent_id, visible_queue_id=None)
            return self._conversation_views(s, agent_id, [conv])[0]

    def _set_read(self, s: Session, conv: Conversation, agent_id: int, message_id: int) -> None:
        rs = s.get(ReadState, (conv.id, agent_id)) or ReadState(conversation_id=conv.id, agent_id=agent_id)
        rs.last_read_message_id = max(rs.last_read_message_id, message_id)
        rs.marked_unread = False
        s.add(rs)

    # -- contacts and calls ---------------------------------------------------------------

    def save_contact(self, agent_id: int, conversation_id: int, *, name: str | None = None,
                     contact_id: int | None = None) -> ContactView:
        """Save the customer as a new contact, or add their address to an existing one."""
        with self._tx() as (s, out):
            conv = self._conversation(s, agent_id, conversation_id)
            kind = R.contact_kind(self._rules(self._channel(conv.channel_id, s)), conv.customer_address)
            owner = s.execute(select(ContactPoint).where(col(ContactPoint.kind) == kind,
                                                         col(ContactPoint.address) == conv.customer_address)).scalar()
            if contact_id is not None:
                contact = s.get(Contact, contact_id)
                if contact is None:
                    raise NotFound(f"There is no contact {contact_id}.")
            else:
                display = (name or conv.customer_name or conv.customer_address).strip()
                if not display:
                    raise InvalidInput("A contact needs a name.")
                contact = Contact(display_name=display[:200], created_at=self.clock.now())
                s.add(contact)
                s.flush()
            if owner is not None and owner.contact_id != contact.id:
                other = s.get(Contact, owner.contact_id)
                raise Conflict(f"{conv.customer_address} already belongs to the contact "
                               f"{other.display_name if other else owner.contact_id!r}.")
            if owner is None:
                s.add(ContactPoint(contact_id=contact.id, kind=kind, address=conv.customer_address))
            # Tie every conversation with this address, on every channel, to the contact.
            s.execute(update(Conversation).where(col(Conversation.customer_address) == conv.customer_address)
                      .values(contact_id=contact.id).execution_options(synchronize_session=False))
            conv.contact_id = contact.id
            self._emit(s, out, events.CONTACT_UPDATED, conv, agent_id=agent_id, contact_id=contact.id)
            return self._contact_view(s, contact)

    def _contact_view(self, s: Session, c: Contact) -> ContactView:
        points = s.execute(select(ContactPoint).where(col(ContactPoint.contact_id) == c.id)).scalars()
        return ContactView(id=c.id, display_name=c.display_name,
                           points=[{"kind": p.kind, "address": p.address} for p in points])

    def set_agent_extension(self, agent_id: int, extension: str | None) -> str | None:
        """Set the agent's own PBX extension (the phone a click-to-call rings first); None clears it."""
        ext = agent_extension(extension)
        with self._tx() as (s, out):
            self._agent(s, agent_id).extension = ext
            self._emit(s, out, events.AGENT_UPDATED, None, agent_id=agent_id, change="extension")
        return ext
