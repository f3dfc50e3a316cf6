"""The team-mode desktop's outbox of actions for the server: each committed with its
idempotency key before it is sent, a reply shown at once as a queued echo that the
server's row replaces, a refusal kept on the message with the server's code and reason."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.core import events
from tray_agent.core.actions import check_retry
from tray_agent.core.base import InboxBase
from tray_agent.core.files import StagedFile
from tray_agent.core.mirror import ECHO_BASE
from tray_agent.core.mirror_models import TeamAction
from tray_agent.core.models import SYSTEM, Attachment, Conversation, Event, Message

#: Local file ids of a queued reply: ECHO_BASE + action id * FILE_SLOTS + n (no server row
#: has one), room for a message's most files.
FILE_SLOTS = 16


class UpstreamOutbox(InboxBase):
    def queue_action(self, agent_id: int, conversation_id: int, action: str, body: dict[str, Any], key: str,
                     *, echo_text: str | None = None,
                     files: Sequence[StagedFile] = ()) -> tuple[TeamAction, Message | None]:
        """Commit an action for the server (and, for a reply, its queued local echo with its
        files: kept here, never expiring, until the server has them)."""
        with self._tx() as (s, out):
            conv = self._conversation(s, agent_id, conversation_id)
            return self._queue(s, out, conv, agent_id, action, body, key, echo_text, files)

    def queue_start(self, agent_id: int, channel_id: int, customer_address: str, text: str, key: str,
                    files: Sequence[StagedFile] = ()) -> tuple[TeamAction, Message]:
        """Commit a new conversation for the server to start (``POST /sync/v1/conversations``
        under ``key``, every attempt): its first message shown at once as a queued echo, in
        the open conversation I hold with that customer on that channel, else in a local one
        (an id above every server id) that the server's conversation replaces."""
        with self._tx() as (s, out):
            self._channel(channel_id, s)  # 404 for a channel this desktop does not know
            now = self.clock.now()
            conv = s.execute(select(Conversation).where(
                col(Conversation.channel_id) == channel_id, col(Conversation.customer_address) == customer_address,
                col(Conversation.status) == "open")).scalars().first()
            if conv is None or not self._sees(s, agent_id, conv):
                top = s.execute(select(func.max(col(Conversation.id))).where(col(Conversation.id) >= ECHO_BASE)).scalar()
                conv = Conversation(id=(top or ECHO_BASE - 1) + 1, channel_id=channel_id, customer_address=customer_address,
                                    assigned_agent_id=agent_id, assigned_at=now, started_by="agent", created_at=now,
                                    last_activity_at=now)
                s.add(conv)
                s.flush()
                self._emit(s, out, events.CONVERSATION_CREATED, conv, agent_id=agent_id, client_key=key)
            body = {"channel_id": channel_id, "customer_address": customer_address, "text": text}
            item, echo = self._queue(s, out, conv, agent_id, "start", body, key, text, files)
            assert echo is not None
            return item, echo

    def forget_action(self, action_id: int) -> None:
        """An action the server refused while the agent waited for it: the answer said why,
        so nothing of it stays (its echo, a local conversation it made)."""
        with self._tx() as (s, out):
            item = s.get(TeamAction, action_id)
            if item is None:
                return
            if item.message_id is not None:
                s.execute(delete(Attachment).where(col(Attachment.message_id) == item.message_id))
                s.execute(delete(Message).where(col(Message.id) == item.message_id))
            s.delete(item)
            s.flush()
            if item.conversation_id >= ECHO_BASE:
                self._emit_removed(s, out, item.conversation_id, "refused")  # type: ignore[attr-defined]  # Mirror's
                self._drop(s, [item.conversation_id])  # type: ignore[attr-defined]  # (as above)

    def _queue(self, s: Session, out: list[Event], conv: Conversation, agent_id: int, action: str,
               body: dict[str, Any], key: str, echo_text: str | None,
               files: Sequence[StagedFile]) -> tuple[TeamAction, Message | None]:
        item = TeamAction(client_key=key, conversation_id=conv.id, action=action, body=body,
                          created_at=self.clock.now())
        s.add(item)
        s.flush()
        echo = None
        if echo_text is not None:
            now = self.clock.now()
            echo = Message(id=ECHO_BASE + item.id, conversation_id=conv.id, channel_id=conv.channel_id, direction="out",
                           kind="file" if files and not echo_text.strip() else "text", text=echo_text,
                           sender_agent_id=agent_id, status="queued", created_at=now, meta={"client_key": key})
            s.add(echo)
            s.flush()
            item.message_id = echo.id
            ids = []
            for n, f in enumerate(files):
                a = Attachment(id=ECHO_BASE + item.id * FILE_SLOTS + n, message_id=echo.id, file_name=f.file_name,
                               mime_type=f.mime_type, size=f.size, sha256=f.sha256,
                               storage_path=self.files.adopt(f), created_at=now, expires_at=None)
                s.add(a)
                ids.append(a.id)
            if ids:
                item.body = {**item.body, "files": ids}
            conv.last_activity_at, conv.last_message_direction = now, "out"
            conv.last_message_preview = " ".join(echo_text.split())[:140] or ", ".join(f.file_name for f in files)
            s.flush()
            self._emit(s, out, events.MESSAGE_CREATED, conv, message_id=echo.id, agent_id=agent_id,
                       direction="out", kind="text", client_key=key)
        return item, echo

    def queue_system_row(self, agent_id: int, conversation_id: int, action: str, body: dict[str, Any], key: str,
                         kind: str, text: str, meta: dict[str, Any]) -> tuple[TeamAction, Message]:
        """Commit an action whose answer is a system row of the history (a call placed here,
        recorded by the server): its echo shows at once, and the server's row replaces it."""
        with self._tx() as (s, out):
            conv = self._conversation(s, agent_id, conversation_id)
            item = TeamAction(client_key=key, conversation_id=conv.id, action=action, body=body,
                              created_at=self.clock.now())
            s.add(item)
            s.flush()
            echo = Message(id=ECHO_BASE + item.id, conversation_id=conv.id, channel_id=conv.channel_id,
                           direction=SYSTEM, kind=kind, text=text, sender_agent_id=agent_id, created_at=self.clock.now(),
                           meta={**meta, "client_key": key})
            s.add(echo)
            s.flush()
            item.message_id = echo.id
            self._emit(s, out, events.MESSAGE_CREATED, conv, message_id=echo.id, agent_id=agent_id,
                       direction=SYSTEM, kind=kind, client_key=key)
            return item, echo

    def pending_actions(self, limit: int = 100) -> list[TeamAction]:
        with self.db.read() as s:
            return list(s.execute(select(TeamAction).where(col(TeamAction.state) == "pending")
                                  .order_by(col(TeamAction.id)).limit(limit)).scalars())

    def queued_files(self, item: TeamAction) -> list[tuple[Path, str, str]]:
        """The files of a queued reply, as kept here: (path, name, type) in their order."""
        ids = list(item.body.get("files") or [])
        with self.db.read() as s:
            rows = {a.id: a for a in s.execute(select(Attachment).where(col(Attachment.id).in_(ids))).scalars()}
        return [(self.files.path(rows[i].storage_path), rows[i].file_name, rows[i].mime_type)
                for i in ids if i in rows and rows[i].storage_path]

    def pending_count(self, action: str | None = None) -> int:
        """Actions waiting to go upstream (of one kind: ``"reply"``, the messages waiting, for
        the window's banner)."""
        with self.db.read() as s:
            q = select(func.count()).select_from(TeamAction).where(col(TeamAction.state) == "pending")
            if action == "reply":  # every message waiting: replies and a started conversation's first
                q = q.where(col(TeamAction.action).in_(("reply", "start")))
            elif action is not None:
                q = q.where(col(TeamAction.action) == action)
            return int(s.execute(q).scalar_one())

    def action_tried(self, action_id: int, error: str) -> None:
        with self.db.write() as s:
            item = s.get(TeamAction, action_id)
            if item is not None:
                item.attempts += 1
                item.last_error = error[:500]

    def action_done(self, action_id: int, me: int, message: dict[str, Any] | None = None) -> None:
        """The server took it; a reply's echo gives way to the server's row."""
        with self._tx() as (s, out):
            item = s.get(TeamAction, action_id)
            if item is None or item.state != "pending":
                return
            item.state = "done"
            if message is not None:
                self._swap_echo(s, out, item, message)

    def _swap_echo(self, s: Session, out: list[Event], item: TeamAction, message: dict[str, Any]) -> None:
        echo = s.get(Message, item.message_id) if item.message_id is not None else None
        # A started conversation's message lands in the server's conversation, not the local one.
        conv = s.get(Conversation, message.get("conversation_id") or item.conversation_id) \
            or s.get(Conversation, item.conversation_id)
        if conv is None:
            return
        if s.get(Message, message["id"]) is None:
            self._upsert_messages(s, [message], {conv.id: conv.channel_id})  # type: ignore[attr-defined]  # Mirror's
            self._refresh_lasts(s, {conv.id})  # type: ignore[attr-defined]  # (as above)
        if echo is not None:
            self._hand_over_files(s, echo.id, message)
            s.delete(echo)
            s.flush()
            self._emit(s, out, events.MESSAGE_CREATED, conv, message_id=message["id"],
                       agent_id=message.get("sender_agent_id"), direction="out", kind=message.get("kind", "text"),
                       client_key=item.client_key, replaces=echo.id)
        if item.conversation_id >= ECHO_BASE and conv.id != item.conversation_id:
            # The local conversation a start made gives way to the server's: the window follows.
            self._emit_removed(s, out, item.conversation_id, "started", replaced_by=conv.id)  # type: ignore[attr-defined]  # Mirror's
            self._drop(s, [item.conversation_id])  # type: ignore[attr-defined]  # (as above)

    def _hand_over_files(self, s: Session, echo_id: int, message: dict[str, Any]) -> None:
        """The echo's files become the server row's copies (same bytes: no download later)."""
        by_sha = {a["sha256"]: a["id"] for a in message.get("attachments") or []}
        for a in list(s.execute(select(Attachment).where(col(Attachment.message_id) == echo_id)).scalars()):
            target = s.get(Attachment, by_sha.pop(a.sha256, -1))
            if target is not None and not target.storage_path and not target.expired:
                target.storage_path = a.storage_path
            else:
                self.files.delete(a.storage_path)
        s.execute(delete(Attachment).where(col(Attachment.message_id) == echo_id))

    def confirm_key(self, s: Session, out: list[Event], key: str, message: dict[str, Any]) -> bool:
        """An event carried the key of one of my replies: swap its echo now (the answer to
        the request may have been lost)."""
        item = s.execute(select(TeamAction).where(col(TeamAction.client_key) == key)).scalars().first()
        if item is not None and item.message_id is not None and s.get(Message, item.message_id) is not None:
            item.state = "done"
            self._swap_echo(s, out, item, message)
            return True
        return False

    def action_refused(self, action_id: int, code: str, message: str, *, final: bool = True) -> None:
        """The server said no: the action leaves the outbox; a reply's echo shows why.
        ``final=False``: the server kept failing (not a rule): the window offers Retry."""
        with self._tx() as (s, out):
            item = s.get(TeamAction, action_id)
            if item is None:
                return
            item.state, item.last_error = "failed", f"{code}: {message}"[:500]
            echo = s.get(Message, item.message_id) if item.message_id is not None else None
            if echo is not None:
                echo.status, echo.error_code, echo.status_reason, echo.rule_refused = "failed", code, message, final
                conv = s.get(Conversation, echo.conversation_id)
                # ``reason`` as a failed send on a single desktop carries it: the pop-up says why.
                self._emit(s, out, events.MESSAGE_UPDATED, conv, message_id=echo.id, status="failed",
                           error_code=code, reason=message)

    def requeue_echo(self, agent_id: int, message_id: int) -> bool:
        """Retry of a queued reply that failed on the server's side: back in the outbox under
        its first key (had the server acted after all, it answers with that first result).
        False: not one of this desktop's echoes."""
        with self._tx() as (s, out):
            item = s.execute(select(TeamAction).where(col(TeamAction.message_id) == message_id)).scalars().first()
            echo = s.get(Message, message_id)
            if item is None or echo is None:
                return False
            conv = self._conversation(s, agent_id, echo.conversation_id)
            check_retry(echo.status, echo.rule_refused, echo.status_reason, conv.status)
            item.state, item.attempts, item.last_error = "pending", 0, ""
            echo.status, echo.error_code, echo.status_reason = "queued", None, None
            self._emit(s, out, events.MESSAGE_UPDATED, conv, message_id=echo.id, status="queued", agent_id=agent_id)
            return True
