"""The team-mode desktop's writes into its cache: the server's rows upserted as they are
(cache ids = server ids), in bulk, with local events so the window, tray badge and
notifications follow as they do on a single desktop; plus the cache's own state (cursor).
The actions waiting to go upstream are core/upstream_outbox.py's."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import and_, delete, or_, select, text, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.core import events
from tray_agent.core.base import InboxBase, attachment_view
from tray_agent.core.errors import NotFound
from tray_agent.core.mirror_bulk import meta_text, stored_time, upsert_messages
from tray_agent.core.mirror_models import TeamAction, TeamState
from tray_agent.core.views import AttachmentView
from tray_agent.core.models import (
    IN, Agent, Attachment, Channel, Contact, Conversation, Event, Message, MessageQueue, QueueMember, ReadState,
    Transfer,
)

_TIME = TypeAdapter(datetime)
#: Keys of an event's data that ``events.append`` takes as its own arguments.
_RESERVED = {"now", "conversation_id", "message_id", "agent_id", "visible_agent_id", "visible_queue_id", "type"}
REMOVED = "conversation.removed"
CONNECTION_UPDATED = "connection.updated"
#: A reply's local echo has an id no server row will have (far above them, so it sorts
#: last, in the order written; below 2**53, so the window's JavaScript holds it exactly).
ECHO_BASE = 1 << 52


def _t(v: Any) -> datetime | None:
    return None if v is None else _TIME.validate_python(v)


class Mirror(InboxBase):
    # -- the cache's own state --------------------------------------------------------

    def team_state(self) -> TeamState:
        with self.db.read() as s:
            return s.get(TeamState, 1) or TeamState()

    def set_team_state(self, **changes: Any) -> TeamState:
        with self.db.write() as s:
            return self._set_state(s, **changes)

    def _set_state(self, s: Session, **changes: Any) -> TeamState:
        st = s.get(TeamState, 1)
        if st is None:
            st = TeamState(id=1)
            s.add(st)
        for k, v in changes.items():
            setattr(st, k, v)
        return st

    def mirror_ids(self, among: Iterable[int] | None = None) -> set[int]:
        """The conversations the cache holds (``among`` these, when given)."""
        q = select(col(Conversation.id))
        if among is not None:
            q = q.where(col(Conversation.id).in_(list(among)))
        with self.db.read() as s:
            return set(s.execute(q).scalars())

    # -- directory: agents, queues, channels ---------------------------------------------

    def mirror_directory(self, agents: Sequence[dict[str, Any]], queues: Sequence[dict[str, Any]] | None = None,
                         channels: Sequence[dict[str, Any]] | None = None) -> None:
        with self.db.write() as s:
            self._upsert_agents(s, agents)
            if channels is not None:
                for ch in channels:
                    s.execute(insert(Channel).values(
                        id=ch["id"], kind=ch["kind"], name=ch["name"], business_address=ch["business_address"],
                        settings=ch.get("settings") or {}, route_agent_id=None, route_queue_id=None,
                        auto_close_seconds=ch.get("auto_close_seconds"), enabled=ch.get("enabled", True),
                        healthy=ch.get("healthy"), health_detail=ch.get("health_detail") or "",
                    ).on_conflict_do_update(index_elements=["id"], set_={
                        "kind": ch["kind"], "name": ch["name"], "business_address": ch["business_address"],
                        "settings": ch.get("settings") or {}, "auto_close_seconds": ch.get("auto_close_seconds"),
                        "enabled": ch.get("enabled", True), "healthy": ch.get("healthy"),
                        "health_detail": ch.get("health_detail") or ""}))
                    self._forget_channel(ch["id"])
            if queues is not None:
                for q in queues:
                    s.execute(insert(MessageQueue).values(id=q["id"], name=q["name"],
                                                          pickup_mode=q.get("pickup_mode", "auto"))
                              .on_conflict_do_update(index_elements=["id"], set_={
                                  "name": q["name"], "pickup_mode": q.get("pickup_mode", "auto")}))
                    s.execute(delete(QueueMember).where(col(QueueMember.queue_id) == q["id"]))
                    self._ensure_agents(s, {m: None for m in q.get("member_ids", [])})
                    for m in q.get("member_ids", []):
                        s.add(QueueMember(queue_id=q["id"], agent_id=m))

    def _upsert_agents(self, s: Session, agents: Iterable[dict[str, Any]]) -> None:
        for a in agents:
            # The email is unique locally too: a colleague's changed address must not collide.
            s.execute(update(Agent).where(col(Agent.email) == a.get("email"), col(Agent.id) != a["id"])
                      .values(email=None))
            s.execute(insert(Agent).values(id=a["id"], name=a["name"], email=a.get("email"),
                                           last_seen_at=_t(a.get("last_seen_at")), role=a.get("role", "agent"),
                                           settings={})
                      .on_conflict_do_update(index_elements=["id"], set_={
                          "name": a["name"], "email": a.get("email"), "last_seen_at": _t(a.get("last_seen_at")),
                          "role": a.get("role", "agent")}))

    def _ensure_agents(self, s: Session, names: dict[Any, str | None]) -> None:
        """Rows for agents a conversation or message names (a colleague not yet in the directory)."""
        ids = {i for i in names if i is not None}
        if not ids:
            return
        have = set(s.execute(select(col(Agent.id)).where(col(Agent.id).in_(ids))).scalars())
        for i in ids - have:
            s.add(Agent(id=i, name=names[i] or f"Agent {i}"))
        s.flush()

    # -- conversations and messages -------------------------------------------------------

    def mirror_conversations(self, convs: Sequence[dict[str, Any]], messages: Sequence[dict[str, Any]] = (),
                             *, me: int, related: Sequence[dict[str, Any]] = (),
                             server_events: Sequence[dict[str, Any]] = (), removed: Sequence[int] = (),
                             synced: bool = False, cursor: str | None = None) -> list[Event]:
        """Upsert ``convs`` (views, each may carry its ``messages``), ``messages`` and
        ``related`` (earlier sessions, as stubs) in one transaction; drop ``removed``;
        then write a local copy of each of ``server_events`` (or, ``synced``, one
        ``conversation.updated`` for the page) and store ``cursor``."""
        with self._tx() as (s, out):
            self._ensure_agents(s, {c.get("assigned_agent_id"): c.get("assigned_agent_name") for c in convs})
            self._ensure_queues(s, {c.get("queue_id"): c.get("queue_name") for c in convs})
            contacts = {c["contact_id"]: c.get("contact_name") or c.get("customer_display") or ""
                        for c in convs if c.get("contact_id")}
            if contacts:
                st = insert(Contact.__table__)  # type: ignore[attr-defined]
                s.execute(st.on_conflict_do_update(index_elements=["id"], set_={"display_name": st.excluded.display_name}),
                          [{"id": cid, "display_name": name} for cid, name in contacts.items()])
            rows = [self._conv_row(c) for c in convs]
            given = {c["id"] for c in convs}
            rows += [self._stub_row(r, convs) for r in related if r["id"] not in given]
            if rows:
                # One open conversation per customer locally too: a newer open one closes an older copy.
                opened = [{"ch": r["channel_id"], "addr": r["customer_address"], "id": r["id"]}
                          for r in rows if r["status"] == "open"]
                if opened:
                    s.execute(text("UPDATE conversation SET status = 'closed' WHERE channel_id = :ch AND "
                                   "customer_address = :addr AND status = 'open' AND id != :id"), opened)
                keep = {"id", "created_at"}
                stmt = insert(Conversation.__table__)  # type: ignore[attr-defined]  # Core, not the ORM's bulk path
                s.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={
                    k: getattr(stmt.excluded, k) for k in rows[0] if k not in keep}), rows)
            channel_of = {r["id"]: r["channel_id"] for r in rows}
            msgs = [m for c in convs for m in c.get("messages", [])] + list(messages)
            touched = {r["id"] for r in rows if r["id"] in given}
            if msgs:
                if synced:
                    self._drop_unknown_messages(s, convs)
                self._upsert_messages(s, msgs, channel_of)
                touched |= {m["conversation_id"] for m in msgs}
            if touched:
                self._refresh_lasts(s, touched)
                self._read_marks(s, me, convs, msgs)
            if removed:
                self._drop(s, set(removed) - self._held_back(s, removed))
            by_id = {m["id"]: m for m in msgs}
            for ev in server_events:
                key = (ev.get("data") or {}).get("client_key")
                if ev["type"] == events.MESSAGE_CREATED and key and ev.get("message_id") in by_id \
                        and self.confirm_key(s, out, key, by_id[ev["message_id"]]):  # type: ignore[attr-defined]  # UpstreamOutbox's
                    continue  # the swap told the window
                self._copy_event(s, out, ev)
            if synced and convs:
                # One event per snapshot page: the window reloads its list once, not per row.
                self._emit(s, out, events.CONVERSATION_UPDATED, None, change="synced", count=len(convs))
            if cursor is not None:
                self._set_state(s, cursor=cursor, synced_at=self.clock.now())
        return out

    def _ensure_queues(self, s: Session, names: dict[Any, str | None]) -> None:
        ids = {i for i in names if i is not None}
        have = set(s.execute(select(col(MessageQueue.id)).where(col(MessageQueue.id).in_(ids))).scalars()) if ids else set()
        for i in ids - have:
            s.add(MessageQueue(id=i, name=names[i] or f"Queue {i}"))
        s.flush()

    @staticmethod
    def _conv_row(c: dict[str, Any]) -> dict[str, Any]:
        at = _t(c.get("last_activity_at"))
        return {"id": c["id"], "channel_id": c["channel_id"], "customer_address": c["customer_address"],
                "customer_name": c.get("customer_name"), "contact_id": c.get("contact_id"),
                "status": c["status"], "archived": bool(c.get("archived")),
                "assigned_agent_id": c.get("assigned_agent_id"), "queue_id": c.get("queue_id"),
                "last_activity_at": at, "created_at": at,
                "last_message_preview": c.get("last_message_preview") or "",
                "last_message_direction": c.get("last_message_direction")}

    @staticmethod
    def _stub_row(r: dict[str, Any], convs: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """An earlier session of a customer, so its messages have a home in the history;
        archived, so it does not crowd the inbox list."""
        base = convs[0] if convs else {}
        at = _t(r.get("started_at"))
        return {"id": r["id"], "channel_id": r["channel_id"],
                "customer_address": r.get("customer_address") or base.get("customer_address", ""),
                "customer_name": base.get("customer_name"), "contact_id": base.get("contact_id"),
                "status": r["status"], "archived": True, "assigned_agent_id": None, "queue_id": None,
                "last_activity_at": at, "created_at": at, "last_message_preview": "",
                "last_message_direction": None}

    def _upsert_messages(self, s: Session, msgs: Sequence[dict[str, Any]], channel_of: dict[int, int]) -> None:
        missing = {m["conversation_id"] for m in msgs} - set(channel_of)
        if missing:
            channel_of.update(s.execute(select(col(Conversation.id), col(Conversation.channel_id))
                                        .where(col(Conversation.id).in_(missing))).all())
        msgs = [m for m in msgs if m["conversation_id"] in channel_of]
        if not msgs:
            return
        self._ensure_agents(s, {m.get("sender_agent_id"): m.get("sender_name") for m in msgs})
        upsert_messages(s, [(
            m["id"], m["conversation_id"], channel_of[m["conversation_id"]], m["direction"], m.get("kind", "text"),
            m.get("text") or "", m.get("sender_agent_id"), m.get("status"), m.get("status_reason"),
            m.get("error_code"), int(m.get("status") == "failed" and not m.get("can_retry")),
            stored_time(m["created_at"]), meta_text(m.get("meta"))) for m in msgs])
        atts = [{"id": a["id"], "message_id": m["id"], "file_name": a["file_name"], "mime_type": a["mime_type"],
                 "size": a["size"], "sha256": a["sha256"], "expired": a["expired"],
                 "expires_at": _t(a.get("expires_at")), "storage_path": "", "created_at": _t(m["created_at"])}
                for m in msgs for a in m.get("attachments", [])]
        if atts:
            st = insert(Attachment.__table__)  # type: ignore[attr-defined]
            s.execute(st.on_conflict_do_update(index_elements=["id"], set_={
                "expired": st.excluded.expired, "expires_at": st.excluded.expires_at}), atts)
            # Expired on the server: a copy fetched here goes too.
            for a in s.execute(select(Attachment).where(col(Attachment.id).in_([x["id"] for x in atts]),
                                                        col(Attachment.expired).is_(True),
                                                        col(Attachment.storage_path) != "")).scalars():
                self.files.delete(a.storage_path)
                a.storage_path = ""

    def _drop_unknown_messages(self, s: Session, convs: Sequence[dict[str, Any]]) -> None:
        """Before a snapshot page is upserted: cached messages of its conversations that the
        server does not hold as they are (a database restored from a backup lost them, and
        gives their ids to other messages) go, so the page's rows come in whole. A page
        carries each conversation's newest messages; my replies' echoes (ids from
        ECHO_BASE) stay."""
        having = [c["id"] for c in convs if c.get("messages")]
        if not having or s.execute(select(col(Message.id)).where(col(Message.conversation_id).in_(having),
                                                                 col(Message.id) < ECHO_BASE).limit(1)).first() is None:
            return  # none of them cached yet (a cold sync): nothing to compare, and that read is dear
        page = {m["id"]: m for c in convs for m in c.get("messages", [])}
        lowest: dict[int, int] = {}
        for m in page.values():
            lowest[m["conversation_id"]] = min(m["id"], lowest.get(m["conversation_id"], m["id"]))
        held = s.execute(select(col(Message.id), col(Message.conversation_id), col(Message.direction),
                                col(Message.text)).where(or_(col(Message.id).in_(list(page)), and_(
                                    col(Message.conversation_id).in_(list(lowest)),
                                    col(Message.id) >= min(lowest.values()), col(Message.id) < ECHO_BASE)))).all()
        gone = []
        for mid, cid, direction, txt in held:
            m = page.get(mid)
            if m is None:
                if mid >= lowest.get(cid, ECHO_BASE):  # among the newest, yet not on the server
                    gone.append(mid)
            elif (cid, direction, txt) != (m["conversation_id"], m["direction"], m.get("text") or ""):
                gone.append(mid)  # the server holds another message under this id now
        if gone:
            s.execute(delete(Attachment).where(col(Attachment.message_id).in_(gone)))
            s.execute(delete(Message).where(col(Message.id).in_(gone)))

    def _refresh_lasts(self, s: Session, conv_ids: set[int]) -> None:
        """What the list and the composer read from the messages held (unread counts, the
        reply window): the newest message and the newest inbound one."""
        ids = ",".join(str(int(i)) for i in conv_ids)
        s.execute(text(f"""UPDATE conversation SET
            last_message_id = (SELECT max(id) FROM message WHERE conversation_id = conversation.id),
            last_inbound_message_id = (SELECT max(id) FROM message WHERE conversation_id = conversation.id
                                       AND direction = 'in'),
            last_inbound_at = (SELECT created_at FROM message WHERE id = (SELECT max(id) FROM message
                               WHERE conversation_id = conversation.id AND direction = 'in'))
            WHERE id IN ({ids})"""))

    def _read_marks(self, s: Session, me: int, convs: Sequence[dict[str, Any]],
                    msgs: Sequence[dict[str, Any]]) -> None:
        """My read mark as the server counts it: ``unread_count`` inbound messages after it
        (found among the messages at hand, else in the cache), written in one statement."""
        inbound: dict[int, list[int]] = {}
        for m in msgs:
            if m["direction"] == IN:
                inbound.setdefault(m["conversation_id"], []).append(m["id"])
        rows = []
        for c in convs:
            if "unread_count" not in c:
                continue
            n = int(c.get("unread_count") or 0)
            ids = sorted(inbound.get(c["id"], []), reverse=True)
            if len(ids) < max(n, 1):
                ids = list(s.execute(select(col(Message.id)).where(
                    col(Message.conversation_id) == c["id"], col(Message.direction) == IN)
                    .order_by(col(Message.id).desc()).limit(max(n, 1))).scalars())
            if n == 0:
                last = ids[0] if ids else 0
            else:
                last = ids[n - 1] - 1 if len(ids) >= n else 0
            rows.append({"conversation_id": c["id"], "agent_id": me, "last_read_message_id": last,
                         "marked_unread": bool(c.get("unread")) and n == 0})
        if rows:
            stmt = insert(ReadState.__table__)  # type: ignore[attr-defined]
            s.execute(stmt.on_conflict_do_update(index_elements=["conversation_id", "agent_id"], set_={
                "last_read_message_id": stmt.excluded.last_read_message_id,
                "marked_unread": stmt.excluded.marked_unread}), rows)

    def _held_back(self, s: Session, conv_ids: Iterable[int]) -> set[int]:
        """Conversations that stay though they left my view: a reply of mine there has not
        had the server's answer yet, or was refused — the agent must see why (a fresh
        snapshot's sweep takes them out)."""
        ids = list(conv_ids)
        if not ids:
            return set()
        return set(s.execute(select(col(TeamAction.conversation_id)).join(
            Message, col(Message.id) == col(TeamAction.message_id)).where(
            col(TeamAction.conversation_id).in_(ids), col(TeamAction.state).in_(("pending", "failed")))).scalars())

    def _drop(self, s: Session, conv_ids: Iterable[int]) -> None:
        ids = list(conv_ids)
        if not ids:
            return
        mids = select(col(Message.id)).where(col(Message.conversation_id).in_(ids))
        s.execute(delete(Attachment).where(col(Attachment.message_id).in_(mids)))
        s.execute(delete(Message).where(col(Message.conversation_id).in_(ids)))
        for model in (ReadState, Transfer):
            s.execute(delete(model).where(col(model.conversation_id).in_(ids)))
        s.execute(delete(Conversation).where(col(Conversation.id).in_(ids)))

    def mirror_remove(self, conv_ids: Sequence[int], reason: str) -> None:
        """Conversations that left this agent's view: gone from the cache, a local event each."""
        with self._tx() as (s, out):
            present = list(s.execute(select(col(Conversation.id)).where(col(Conversation.id).in_(conv_ids))).scalars())
            present = [c for c in present if c not in self._held_back(s, present)]
            for cid in present:
                self._emit_removed(s, out, cid, reason)
            self._drop(s, present)

    def _emit_removed(self, s: Session, out: list[Event], cid: int, reason: str, **data: Any) -> None:
        conv = s.get(Conversation, cid)
        # Seen by everyone on this desktop: the window drops it whoever it was assigned to.
        events_kw = {"conversation_id": cid, "visible_agent_id": None, "visible_queue_id": None}
        if conv is not None:
            out.append(events.append(s, REMOVED, now=self.clock.now(), **events_kw, reason=reason, **data))

    def _copy_event(self, s: Session, out: list[Event], ev: dict[str, Any]) -> None:
        data = {k: v for k, v in (ev.get("data") or {}).items() if k not in _RESERVED}
        cid = ev.get("conversation_id")
        if ev["type"] == REMOVED:
            if cid is not None and s.get(Conversation, cid) is not None and not self._held_back(s, [cid]):
                self._emit_removed(s, out, cid, str(data.pop("reason", "")), **data)
                self._drop(s, [cid])
            return
        conv = s.get(Conversation, cid) if cid is not None else None
        if cid is not None and conv is None:
            return  # not ours (any more): nothing in the cache to tell the window about
        mid = ev.get("message_id")
        if mid is not None and ev["type"].startswith("message.") and s.get(Message, mid) is None:
            return
        self._emit(s, out, ev["type"], conv, message_id=mid, agent_id=ev.get("agent_id"), **data)

    def mirror_sweep(self, keep: set[int]) -> int:
        """After a fresh snapshot: drop what it no longer contained (earlier sessions'
        stubs of kept conversations stay)."""
        with self._tx() as (s, out):
            held = set(s.execute(select(col(Conversation.id)).where(
                col(Conversation.id) > 0, col(Conversation.archived).is_(False))).scalars())
            gone = sorted(held - keep)
            for cid in gone:
                self._emit_removed(s, out, cid, "resync")
            self._drop(s, gone)
        return len(gone)

    # -- files fetched on demand ------------------------------------------------------------

    def attachment_state(self, agent_id: int, attachment_id: int) -> tuple[AttachmentView, int, bool]:
        """A cached file's view, its conversation, and whether its bytes are here."""
        with self.db.read() as s:
            a = s.get(Attachment, attachment_id)
            msg = s.get(Message, a.message_id) if a is not None else None
            if a is None or msg is None:
                raise NotFound(f"There is no file {attachment_id}.")
            self._conversation(s, agent_id, msg.conversation_id)
            return attachment_view(a), msg.conversation_id, bool(a.storage_path)

    def attach_fetched(self, attachment_id: int, rel: str) -> None:
        with self.db.write() as s:
            a = s.get(Attachment, attachment_id)
            if a is None or a.storage_path:
                self.files.delete(rel)  # gone meanwhile, or another request fetched it first
                return
            a.storage_path = rel

    # -- connection and presence -----------------------------------------------------------

    def note_connection(self, body: dict[str, Any]) -> None:
        """A ``connection.updated`` local event carrying the connection's state."""
        with self._tx() as (s, out):
            out.append(events.append(s, CONNECTION_UPDATED, now=self.clock.now(), **body))
