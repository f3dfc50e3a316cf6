"""Inbound traffic: customer messages, stored idempotently (delivery statuses: outbox.py).

Persist first, then act: a webhook is acknowledged only after ``receive`` has committed.
The same provider message id twice stores one message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.channels import InboundFile, InboundMessage
from tray_agent.core import events, ingest_pg
from tray_agent.core.base import ChannelSnapshot, InboxBase, preview
from tray_agent.core.errors import InvalidInput
from tray_agent.core.files import StagedFile
from tray_agent.core.models import IN, Channel, ContactPoint, Conversation, Event, Message
from tray_agent.core.rules import ChannelRules, cap_inbound_text


class Ingest(InboxBase):
    def receive(self, channel_id: int, msg: InboundMessage) -> int:
        """Store one customer message; return its id (the existing one for a duplicate)."""
        ch = self._channel(channel_id)
        rules = self._rules(ch)
        if not msg.provider_message_id:
            raise InvalidInput("An inbound message needs the provider's message id.")
        address = self._normalize_address(rules, msg.customer_address)
        msg = self._capped(ch, rules, msg)
        existing = self._existing(channel_id, msg.provider_message_id)
        if existing is not None:
            return existing
        staged = [self._stage_inbound(rules, f) for f in msg.files]
        for attempt in range(3):
            try:
                with self._tx() as (s, out):
                    return self._store_inbound(s, out, ch, rules, address, msg, staged)
            except IntegrityError:
                # A concurrent delivery of the same message, or a race to open the
                # conversation: look again; the loser finds what the winner stored.
                existing = self._existing(channel_id, msg.provider_message_id)
                if existing is not None:
                    for f in staged:
                        f.path.unlink(missing_ok=True)
                    return existing
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def receive_batch(self, channel_id: int, batch: Sequence[InboundMessage]) -> int:
        """Store many text messages in one transaction: imports, and the webhook hot path
        through ``receive_batches``. Returns the number newly stored; provider ids already
        stored are skipped.

        Set-based on purpose: one query finds the open conversations, bulk inserts with
        RETURNING create the missing ones, the messages and the events, and one
        executemany moves each conversation's summary. The FTS index is kept by triggers.
        """
        return self.receive_batches({channel_id: batch})

    def receive_batches(self, batches: Mapping[int, Sequence[InboundMessage]]) -> int:
        """``receive_batch`` for several channels in ONE transaction (group commit hands it
        every text-only message that arrived together, whatever its channel): the event
        log's writers are serialised, so a commit per channel would queue on that lock."""
        snaps = {cid: self._channel(cid) for cid, batch in batches.items() if batch}
        now = self.clock.now()
        if not self.db.is_sqlite:
            return self._store_batches_pg(snaps, batches, now)
        with self._tx() as (s, out):
            return sum(self._store_batch(s, out, ch, batches[cid], now) for cid, ch in snaps.items())

    def _store_batches_pg(self, snaps: Mapping[int, ChannelSnapshot],
                          batches: Mapping[int, Sequence[InboundMessage]], now: datetime) -> int:
        """All channels' messages in one statement after the log's lock (``ingest_pg``)."""
        fresh: list[ingest_pg.Fresh] = []
        for cid, ch in snaps.items():
            for address, m in self._fresh(ch, batches[cid], set()):
                fresh.append(ingest_pg.Fresh(cid, address, m.customer_name, m.text, m.provider_message_id,
                                             min(m.sent_at, now) if m.sent_at else now,
                                             json.dumps(m.meta or {}), preview(m.text)))
        routes = {cid: (ch.route_agent_id, ch.route_queue_id) for cid, ch in snaps.items()}
        # The statement tells which new conversations wait for an automatic assignment: the
        # generic after-commit look (a read transaction per commit) is not needed.
        with self._tx(after_commit=False) as (s, out):
            got = ingest_pg.store(s, fresh, routes, now)
            out.extend(got.written)  # type: ignore[arg-type]  # records as _publish reads them (see _logged)
        if got.waiting:
            self._assign_after_commit(got.waiting)  # type: ignore[attr-defined]  # Assignment's: both mixed into Inbox
        return got.count

    def _fresh(self, ch: ChannelSnapshot, batch: Sequence[InboundMessage],
               known: set[str | None]) -> list[tuple[str, InboundMessage]]:
        """(address, capped message) for each message not in ``known`` nor repeated in the batch."""
        rules = self._rules(ch)
        fresh: list[tuple[str, InboundMessage]] = []
        for m in batch:
            if m.provider_message_id in known:
                continue
            known.add(m.provider_message_id)
            fresh.append((self._normalize_address(rules, m.customer_address), self._capped(ch, rules, m)))
        return fresh

    def _store_batch(self, s: Session, out: list[Event], ch: ChannelSnapshot, batch: Sequence[InboundMessage],
                     now: datetime) -> int:
        channel_id = ch.id
        known = set(s.execute(select(col(Message.provider_message_id)).where(
            col(Message.channel_id) == channel_id,
            col(Message.provider_message_id).in_({m.provider_message_id for m in batch}))).scalars())
        fresh = self._fresh(ch, batch, known)
        if not fresh:
            return 0
        convs = self._open_conversations_for(s, ch, {a: m.customer_name for a, m in fresh}, now, out)
        rows = []
        for address, m in fresh:
            at = min(m.sent_at, now) if m.sent_at else now
            rows.append(dict(conversation_id=convs[address][0], channel_id=channel_id, direction=IN,
                             kind="text", text=m.text, provider_message_id=m.provider_message_id,
                             created_at=at, meta=m.meta or {}))
        ids = self._insert_many(s, Message, rows)
        summary: dict[int, dict[str, Any]] = {}
        events_rows = []
        for (address, m), row, mid in zip(fresh, rows, ids, strict=True):
            cid, agent, queue = convs[address]
            summary[cid] = dict(b_id=cid, at=row["created_at"], mid=mid, preview=preview(m.text),
                                name=m.customer_name)
            events_rows.append(dict(type=events.MESSAGE_CREATED, conversation_id=cid, message_id=mid,
                                    created_at=now, data={"direction": IN}, visible_agent_id=agent,
                                    visible_queue_id=queue if agent is None else None))
        t = Conversation.__table__  # type: ignore[attr-defined]  # set by the metaclass of table=True models
        s.execute(update(t).where(t.c.id == bindparam("b_id")).values(
            archived=False, last_activity_at=bindparam("at"), last_inbound_at=bindparam("at"),
            last_message_id=bindparam("mid"), last_inbound_message_id=bindparam("mid"),
            last_message_preview=bindparam("preview"), last_message_direction=IN,
            customer_name=func.coalesce(bindparam("name"), t.c.customer_name),
        ), list(summary.values()))
        seqs = self._insert_many(s, Event, events_rows)
        # Publish every event (webhooks come this way; plugins' inbox_event must see each).
        out.extend(_logged(q, row) for q, row in zip(seqs, events_rows, strict=True))
        return len(ids)

    def _insert_many(self, s: Session, model: type, rows: list[dict[str, Any]]) -> list[int]:
        """Insert rows, returning their primary keys in row order.

        SQLite cannot promise RETURNING order for a multi-row insert, so SQLAlchemy would
        fall back to one statement per row. We hold SQLite's write lock (BEGIN IMMEDIATE),
        so nobody else can take ids meanwhile: assign them here and insert in one batch.
        """
        pk = model.__table__.primary_key.columns.values()[0]  # type: ignore[attr-defined]  # set by the metaclass
        if not self.db.is_sqlite:
            return list(s.execute(insert(model).returning(pk, sort_by_parameter_order=True), rows).scalars())
        base = s.execute(select(func.max(pk))).scalar() or 0
        ids = list(range(base + 1, base + 1 + len(rows)))
        s.execute(insert(model), [{**r, pk.key: i} for r, i in zip(rows, ids, strict=True)])
        return ids

    def _open_conversations_for(self, s: Session, ch: Channel | ChannelSnapshot, names: dict[str, str | None],
                                now: datetime, out: list[Event]) -> dict[str, tuple[int, int | None, int | None]]:
        """address → (conversation id, assigned agent, queue) for each address, opening the
        missing conversations in bulk."""
        found: dict[str, tuple[int, int | None, int | None]] = {}
        addresses = list(names)
        for i in range(0, len(addresses), 500):
            chunk = addresses[i:i + 500]
            for cid, addr, agent, queue in s.execute(select(
                    col(Conversation.id), col(Conversation.customer_address), col(Conversation.assigned_agent_id),
                    col(Conversation.queue_id)).where(
                    col(Conversation.channel_id) == ch.id, col(Conversation.status) == "open",
                    col(Conversation.customer_address).in_(chunk))):
                found[addr] = (cid, agent, queue)
        missing = [a for a in addresses if a not in found]
        if not missing:
            return found
        contacts: dict[str, int] = {}
        for i in range(0, len(missing), 500):
            contacts.update(s.execute(select(col(ContactPoint.address), col(ContactPoint.contact_id)).where(
                col(ContactPoint.address).in_(missing[i:i + 500]))).all())
        new = self._insert_many(s, Conversation, [
            dict(channel_id=ch.id, customer_address=a, customer_name=names[a], contact_id=contacts.get(a),
                 assigned_agent_id=ch.route_agent_id, queue_id=ch.route_queue_id, started_by="customer",
                 status="open", archived=False, created_at=now, last_activity_at=now, last_message_preview="")
            for a in missing])
        agent, queue = ch.route_agent_id, ch.route_queue_id
        created = [dict(type=events.CONVERSATION_CREATED, conversation_id=cid, created_at=now,
                        data={"started_by": "customer"}, visible_agent_id=agent,
                        visible_queue_id=queue if agent is None else None) for cid in new]
        out.extend(_logged(q, row) for q, row in zip(self._insert_many(s, Event, created), created, strict=True))
        for a, cid in zip(missing, new, strict=True):
            found[a] = (cid, agent, queue)
        return found

    # -- helpers ---------------------------------------------------------------------

    def _capped(self, ch: Channel | ChannelSnapshot, rules: ChannelRules, msg: InboundMessage) -> InboundMessage:
        text = cap_inbound_text(rules, msg.text, self._label(ch))
        return msg if text is msg.text else replace(msg, text=text)

    def _existing(self, channel_id: int, provider_id: str) -> int | None:
        with self.db.read() as s:
            return s.execute(select(col(Message.id)).where(
                col(Message.channel_id) == channel_id, col(Message.provider_message_id) == provider_id)).scalar()

    def _stage_inbound(self, rules: ChannelRules, f: InboundFile) -> StagedFile:
        return self.files.stage_bytes(f.data, f.file_name, f.mime_type, rules.max_file_bytes)

    def _store_inbound(self, s: Session, out: list[Event], ch: Channel | ChannelSnapshot, rules: ChannelRules,
                       address: str, msg: InboundMessage, staged: list[StagedFile]) -> int:
        now = self.clock.now()  # _open_conversation takes the log's lock first
        at = min(msg.sent_at, now) if msg.sent_at else now
        conv = self._open_conversation(s, out, ch, address, msg.customer_name, now)
        kind = "file" if staged and not msg.text else "text"
        m = Message(conversation_id=conv.id, channel_id=ch.id, direction=IN, kind=kind, text=msg.text,
                    provider_message_id=msg.provider_message_id, created_at=at, meta=dict(msg.meta))
        s.add(m)
        s.flush()
        for f in staged:
            self._attach(s, m.id, f, rules, now)
        was_archived = conv.archived
        conv.archived = False
        conv.last_activity_at = max(conv.last_activity_at or at, at)
        conv.last_inbound_at = max(conv.last_inbound_at or at, at)
        conv.last_message_id = conv.last_inbound_message_id = m.id
        conv.last_message_preview = preview(msg.text) or ", ".join(f.file_name for f in staged)
        conv.last_message_direction = IN
        if msg.customer_name:
            conv.customer_name = msg.customer_name
        self._emit(s, out, events.MESSAGE_CREATED, conv, message_id=m.id, direction=IN,
                   unarchived=was_archived)
        return m.id


def _logged(seq: int, row: dict[str, Any]) -> Event:
    """An inserted event as ``_publish`` reads it. A plain record on purpose: building a
    SQLModel row costs ~25 µs, a third of the batch path's whole budget per message."""
    return SimpleNamespace(**{"agent_id": None, "message_id": None, **row, "seq": seq})  # type: ignore[return-value]  # (duck)

