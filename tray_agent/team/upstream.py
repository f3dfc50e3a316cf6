"""The team desktop's service layer: the same ``Inbox`` reading the cache, whose actions go
to the team server. A reply is committed to the local outbox with its idempotency key and
shown at once as a queued echo; the sender sends the outbox in order, exactly once. The
other actions wait for the server's answer (offline: 503 ``offline``), read and unread
marks queue, and so does starting a conversation."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tray_agent.core.actions import check_retry
from tray_agent.core.call_actions import call_answer
from tray_agent.core.errors import FileExpired, InvalidInput, NotFound, TrayAgentError
from tray_agent.core.files import StagedFile
from tray_agent.core.presence import check_status
from tray_agent.core.mirror import ECHO_BASE
from tray_agent.core.mirror_models import TeamAction
from tray_agent.core.models import Message
from tray_agent.core.service import Inbox
from tray_agent.core.views import AgentView, AttachmentView, CallView, ConversationView, MessageView, TransferView
from tray_agent.team.link import Link, LinkState, Refused, Unreachable

log = logging.getLogger(__name__)

#: Refusals worth another try later: the server or its database is busy, the first request
#: of this key is still running, this device must sign in again.
RETRYABLE = {"in_progress", "rate_limited", "storage_unavailable", "unauthorized"}
#: The server answered but failed (a 5xx of its own): tried again, and after
#: ``GIVE_UP_AFTER`` attempts shown failed with a Retry, so one broken reply does not hold
#: back the ones behind it. Offline is not failing: the outbox waits for the connection.
FAILING = {"server_error", "internal"}
GIVE_UP_AFTER = 5


def new_key(action: str) -> str:
    return f"{action}-{uuid.uuid4().hex}"


class TeamInbox(Inbox):
    """``Inbox`` over the cache; ``attach`` gives it its line to the server."""

    link: Link
    _wake: Any = None
    #: My presence set while offline (the tray's do-not-disturb), not yet on the server.
    _pending_status: str | None = None

    def attach(self, link: Link) -> None:
        self.link = link
        #: One sender at a time: the outbox's task, or a start the agent waits for.
        self._sending = threading.Lock()
        #: One status request at a time (not behind the replies: a long upload must not
        #: hold the tray's do-not-disturb up).
        self._status_lock = threading.Lock()
        link.on_change.append(self._link_changed)

    # -- what the window and doctor show ------------------------------------------------

    def connection(self) -> dict[str, Any]:
        st, state = self.link.status, self.team_state()
        agent = None
        if state.agent_id is not None:
            try:
                agent = self.get_agent(state.agent_id).model_dump(mode="json")
            except TrayAgentError:
                agent = None
        return {"mode": "team", "server": st.server, "agent": agent, "state": st.state,
                "since": st.since.isoformat(), "pending": self.pending_count(), "pending_replies": self.pending_count("reply"),
                "last_error": st.last_error,
                "cursor": state.cursor or None}

    def _link_changed(self, _state: LinkState) -> None:
        self._announce_connection()
        if _state.state == "online":
            self.wake_sender()

    def _announce_connection(self) -> None:
        """A ``connection.updated`` local event: the window's banner, the tray."""
        try:
            self.note_connection(self.connection())
        except TrayAgentError as exc:  # the cache may be what is failing; the next change tries again
            log.warning("could not record the connection state: %s", exc.message)

    def wake_sender(self) -> None:
        if self._wake is not None:
            self._wake()

    # -- actions ----------------------------------------------------------------------

    def reply(self, agent_id: int, conversation_id: int, text: str = "",
              files: Sequence[StagedFile] = ()) -> MessageView:
        """Queued locally at once (status "queued", a local id, its files kept here); the
        sender uploads the files, then sends the reply naming them, once."""
        if not text.strip() and not files:
            raise InvalidInput("Write a reply first.")
        if conversation_id >= ECHO_BASE:
            raise InvalidInput("This conversation is still being started on the team server; reply once it is "
                               "there.")
        key = new_key("reply")
        _, echo = self.queue_action(agent_id, conversation_id, "reply", {"text": text}, key, echo_text=text,
                                    files=files)
        self._announce_connection()
        self.wake_sender()
        with self.db.read() as s:
            return self._message_views(s, [s.get(Message, echo.id)])[0]  # type: ignore[union-attr,list-item]

    def mark_read(self, agent_id: int, conversation_id: int) -> ConversationView:
        view = super().mark_read(agent_id, conversation_id)
        self.queue_action(agent_id, conversation_id, "read", {}, new_key("read"))
        self.wake_sender()
        return view

    def mark_unread(self, agent_id: int, conversation_id: int) -> ConversationView:
        """As a read mark: here at once, queued upstream (the server keeps each agent's, so my
        other desktops show it too)."""
        view = super().mark_unread(agent_id, conversation_id)
        self.queue_action(agent_id, conversation_id, "unread", {}, new_key("unread"))
        self.wake_sender()
        return view

    def claim(self, agent_id: int, conversation_id: int) -> ConversationView:
        return self._upstream(agent_id, conversation_id, "claim")

    def transfer(self, agent_id: int, conversation_id: int, *, to_agent_id: int | None = None,
                 to_queue_id: int | None = None, note: str = "") -> TransferView:
        body = {"note": note, **({"to_agent_id": to_agent_id} if to_agent_id is not None else {}),
                **({"to_queue_id": to_queue_id} if to_queue_id is not None else {})}
        view = self._upstream(agent_id, conversation_id, "transfer", body, answer=TransferView)
        assert isinstance(view, TransferView)
        return view

    def close(self, agent_id: int, conversation_id: int) -> ConversationView:
        return self._upstream(agent_id, conversation_id, "close")

    def reopen(self, agent_id: int, conversation_id: int) -> ConversationView:
        return self._upstream(agent_id, conversation_id, "reopen")

    def archive(self, agent_id: int, conversation_id: int) -> ConversationView:
        return self._upstream(agent_id, conversation_id, "archive")

    def unarchive(self, agent_id: int, conversation_id: int) -> ConversationView:
        return self._upstream(agent_id, conversation_id, "unarchive")

    def start_conversation(self, agent_id: int, channel_id: int, customer_address: str, text: str = "",
                           files: Sequence[StagedFile] = ()) -> tuple[ConversationView, MessageView]:
        """A new conversation from the business number, started by the server (it knows
        who else talks to this customer) under one key, every attempt. It is committed to
        the outbox first, as a reply is: online it is sent at once and the server's
        conversation is the answer (its refusal is ours); offline it waits, shown as a
        queued first message in a conversation of this desktop's until the server's
        replaces it (a refusal then stays on that message with its reason)."""
        if not text.strip() and not files:
            raise InvalidInput("Write the first message.")
        with self._sending:  # the sender leaves it to this request while it is being made
            item, echo = self.queue_start(agent_id, channel_id, customer_address, text, new_key("start"), files)
            answer: dict[str, Any] | None = None
            if self.link.status.state == "online":
                try:
                    answer = self._send_one(item)
                except Unreachable:
                    pass  # gone offline: it waits in the outbox like a reply
                except Refused:
                    self.forget_action(item.id)
                    raise
                else:
                    self._done(item, agent_id, answer)
            if answer is None:
                with self.db.read() as s:
                    msg = s.get_one(Message, echo.id)
                    conv = self._conversation(s, agent_id, msg.conversation_id)
                    views = self._conversation_views(s, agent_id, [conv])[0], self._message_views(s, [msg])[0]
        self._announce_connection()
        self.wake_sender()
        if answer is None:
            return views
        return (ConversationView.model_validate(answer["conversation"]),
                MessageView.model_validate(answer["message"]))

    def retry(self, agent_id: int, message_id: int) -> MessageView:
        """A failed reply again, as on a single desktop. Mine that the server kept failing
        goes back to the outbox under its first key; one the provider failed is retried by
        the server (``POST /sync/v1/messages/{id}/retry``); a rule's refusal is not retried."""
        if not self.requeue_echo(agent_id, message_id):
            view, conversation_status = self._outgoing(agent_id, message_id)
            # The cache keeps no rule flag: a failure the server offers no Retry for is a rule's.
            check_retry(view.status, not view.can_retry, view.status_reason, conversation_status)
            try:
                answer = self.link.request("POST", f"/sync/v1/messages/{message_id}/retry", json={},
                                           headers={"Idempotency-Key": new_key("retry")})
            except Unreachable:
                raise Unreachable("Offline: the team server cannot be reached; try again when the connection is "
                                  "back.") from None
            with self._tx() as (s, _):
                self._upsert_messages(s, [answer], {})
        self._announce_connection()
        self.wake_sender()
        return self._outgoing(agent_id, message_id)[0]

    def _outgoing(self, agent_id: int, message_id: int) -> tuple[MessageView, str]:
        """My outgoing message as the window shows it, and its conversation's status."""
        with self.db.read() as s:
            msg = s.get(Message, message_id)
            if msg is None or msg.direction != "out":
                raise NotFound(f"There is no outgoing message {message_id}.")
            conv = self._conversation(s, agent_id, msg.conversation_id)
            return self._message_views(s, [msg])[0], conv.status

    def _upstream(self, agent_id: int, conversation_id: int, action: str,
                  body: dict[str, Any] | None = None, *,
                  answer: type[ConversationView] = ConversationView) -> ConversationView:
        """Wait for the server's answer: its refusal is ours (same status, code, message)."""
        self.get_conversation(agent_id, conversation_id)  # 404 as locally, before the network
        try:
            view = self.link.request("POST", f"/sync/v1/conversations/{conversation_id}/{action}", json=body or {},
                                     headers={"Idempotency-Key": new_key(action)})
        except Unreachable:
            raise Unreachable("Offline: the team server cannot be reached; try again when the connection is back.") \
                from None
        except Refused as exc:
            if exc.code == "not_found":
                self.mirror_remove([conversation_id], "not_found")
            raise
        self.mirror_conversations([view], me=agent_id)
        return answer.model_validate(view)

    def attachment_file(self, agent_id: int, attachment_id: int,
                        conversation_id: int | None = None) -> tuple[AttachmentView, Path]:
        """A file of the cache: fetched from the server on first use, then kept under the
        same retention as the server's (the sweep deletes it when it expires)."""
        view, cid, present = self.attachment_state(agent_id, attachment_id)
        if not present and not view.expired:
            try:
                data, mime = self.link.download(f"/sync/v1/conversations/{cid}/files/{attachment_id}")
            except Refused as exc:
                if exc.code == FileExpired.reason:  # swept there, its event not here yet: as expired here
                    raise FileExpired(exc.message) from None
                raise
            staged = self.files.stage_bytes(data, view.file_name, mime or view.mime_type, max(view.size, len(data)) + 1)
            self.attach_fetched(attachment_id, self.files.adopt(staged))
        return super().attachment_file(agent_id, attachment_id, conversation_id)

    def elevate_to_call(self, agent_id: int, conversation_id: int, handler: str | None = None) -> CallView:
        """Dialled here (the handler is this desktop's: the agent's phone is here), recorded by
        the server so colleagues see the "call" row: queued as a reply is, its row shown at
        once, sent once under its key when the server can be reached."""
        placed = self.place_call(agent_id, conversation_id, handler)
        text, meta = placed.row(self._call_target(agent_id, conversation_id)[0])
        _, echo = self.queue_system_row(agent_id, conversation_id, "call", placed.record(), new_key("call"), "call",
                                        text, meta)
        self.wake_sender()
        with self.db.read() as s:
            view = self._message_views(s, [echo])[0]
        return call_answer(placed, view)

    def set_status(self, agent_id: int, status: str) -> AgentView:
        """My presence, upstream (``PUT /sync/v1/me/status``), with an idempotency key.
        Offline it waits for the connection (the last one set wins) and the sender sends
        it: the tray's do-not-disturb turned on on a train is busy once the link is back."""
        check_status(status)
        with self._status_lock:  # never overtaken by an older status the sender still holds
            self._pending_status = status
            if self.link.status.state == "online":
                try:
                    return self._send_status(status)
                except Unreachable:
                    pass
        self.wake_sender()
        return self.get_agent(agent_id).model_copy(update={"status": status})

    def _send_status(self, status: str) -> AgentView:
        """Under ``_status_lock``: the server's answer settles the waiting status, a refusal too."""
        try:
            answer = self.link.request("PUT", "/sync/v1/me/status", json={"status": status},
                                       headers={"Idempotency-Key": new_key("status")})
        except Refused:
            self._pending_status = None
            raise
        self._pending_status = None
        return AgentView.model_validate(answer)

    # -- the sender ---------------------------------------------------------------------

    def send_pending(self) -> float | None:
        """Send the outbox in order; returns seconds until the next look (None: wait for a wake)."""
        if self.link.status.state != "online":
            return None
        with self._sending:
            return self._send_pending()

    def _send_pending(self) -> float | None:
        if not self._send_waiting_status():
            return 2.0
        me = self.team_state().agent_id
        sent = False
        #: Conversations whose earlier action the server is still deciding (``in_progress``):
        #: their later actions wait, in order; the other conversations' go on.
        held: set[int] = set()
        for item in self.pending_actions():
            if item.conversation_id in held:
                continue
            try:
                answer = self._send_one(item)
            except Unreachable as exc:
                self.action_tried(item.id, exc.message)
                return 2.0
            except Refused as exc:
                failing = exc.code in FAILING or (exc.status >= 500 and exc.code not in RETRYABLE)
                if failing and item.attempts + 1 >= GIVE_UP_AFTER:
                    # Not a rule: shown failed with Retry, and the replies behind it go on.
                    self.action_refused(item.id, exc.code, exc.message, final=False)
                    sent = True
                    continue
                if exc.code == "in_progress":
                    # Still running on the server, or cut off there: the server decides it
                    # within its lease (server/idempotency.py); asked again meanwhile.
                    self.action_tried(item.id, f"{exc.code}: {exc.message}")
                    held.add(item.conversation_id)
                    continue
                if exc.code in RETRYABLE or failing:
                    self.action_tried(item.id, f"{exc.code}: {exc.message}")
                    return 2.0
                self.action_refused(item.id, exc.code, exc.message)
                sent = True
                continue
            self._done(item, me or 0, answer)
            sent = True
        if sent:
            self._announce_connection()
        return 2.0 if held else None

    def _send_waiting_status(self) -> bool:
        """The status set while offline, first; False: to be tried again shortly."""
        with self._status_lock:
            if (status := self._pending_status) is None:
                return True
            try:
                self._send_status(status)
            except Unreachable:
                return False
            except Refused as exc:
                if exc.code in RETRYABLE:
                    self._pending_status = status
                    return False
                log.warning("could not set my status to %s: %s", status, exc.message)
            return True

    def _send_one(self, item: TeamAction) -> dict[str, Any]:
        """One action of the outbox to the server, under its key (the same every attempt)."""
        path = ("/sync/v1/conversations" if item.action == "start"
                else f"/sync/v1/conversations/{item.conversation_id}/{item.action}")
        return dict(self.link.request("POST", path, json=self._payload(item),
                                      headers={"Idempotency-Key": item.client_key}))

    def _done(self, item: TeamAction, me: int, answer: dict[str, Any]) -> None:
        """The server took it: a reply's row (a start's conversation first) replaces its echo."""
        if item.action == "start":
            self.mirror_conversations([answer["conversation"]], [answer["message"]], me=me)
            self.action_done(item.id, me, answer["message"])
        else:
            self.action_done(item.id, me, answer if item.action in ("reply", "call") else None)

    def _payload(self, item: TeamAction) -> dict[str, Any]:
        """The action's body for the server; a reply's files uploaded first. A new upload
        each attempt: the reply's key makes a repeat after a lost answer act once anyway,
        and the server sweeps an upload no reply used."""
        body = {k: v for k, v in item.body.items() if k != "files"}
        if item.body.get("files"):
            uploads = []
            into = None if item.action == "start" else item.conversation_id  # a new one: not the server's yet
            for path, name, mime in self.queued_files(item):
                uploads.append(self._upload(into, path, name, mime))
            body["uploads"] = uploads
        return body

    def _upload(self, conversation_id: int | None, path: Path, name: str, mime: str) -> str:
        """A file staged on the server (``POST /sync/v1/uploads``): its upload id."""
        params = {"conversation_id": conversation_id} if conversation_id is not None else {}
        # Bytes, not a file object: a retry on the next server sends them again.
        up = self.link.request("POST", "/sync/v1/uploads", params=params, files={"file": (name, path.read_bytes(), mime)})
        return str(up["upload_id"])


class TeamTasks:
    """What a team-mode runner runs instead of channels: the sync task and the sender, under
    the App's supervisor board."""

    def __init__(self, inbox: TeamInbox, board: Any) -> None:
        from tray_agent.supervisor import Supervisor
        from tray_agent.team.sync import SyncTask

        self.inbox = inbox
        self.supervisor = Supervisor(board)
        self.sync = SyncTask(inbox, inbox.link)
        self._wake: asyncio.Event | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._wake = wake = asyncio.Event()
        self.inbox._wake = lambda: loop.call_soon_threadsafe(wake.set)
        self.supervisor.start(self.sync.NAME, self.sync.step, max_backoff=10.0)
        self.supervisor.start("team-outbox", self._send, wake=wake, max_backoff=10.0)
        self.supervisor.start("team-file-retention", self._expire, max_backoff=60.0)

    async def _expire(self) -> float:
        """Files fetched from the server go when their retention ends, as on the server."""
        await asyncio.to_thread(self.inbox.expire_files)
        return 60.0

    async def _send(self) -> float:
        delay = await asyncio.to_thread(self.inbox.send_pending)
        return 30.0 if delay is None else delay

    async def stop(self) -> None:
        self.inbox._wake = None
        await self.supervisor.stop()
