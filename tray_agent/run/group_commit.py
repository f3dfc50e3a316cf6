"""Group commit for inbound traffic: messages that arrive together are stored in one
transaction, whatever channel they came on, and each caller resumes only once its message
is committed.

A committed transaction costs far more than the rows in it, and the event log's writers
are serialised (across team-server replicas too), so under load one runtime stores
hundreds of webhooks per commit instead of one commit per message or per channel —
persist first, then ack, still. Every adapter gets it as ``await ctx.store(messages)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from tray_agent.channels import InboundMessage

MAX_BATCH = 500

Receive = Callable[[int, InboundMessage], int]
ReceiveBatches = Callable[[Mapping[int, Sequence[InboundMessage]]], int]


class GroupCommit:
    def __init__(self, receive: Receive, receive_batches: ReceiveBatches) -> None:
        self._receive = receive
        self._batches = receive_batches
        self._pending: list[tuple[int, InboundMessage, asyncio.Future[None]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def store(self, channel_id: int, messages: Sequence[InboundMessage]) -> list[BaseException | None]:
        """Return once every message is stored (or failed): per message, None or the error."""
        if any(m.files for m in messages):
            # Files are staged one message at a time.
            return await asyncio.to_thread(self._each, [(channel_id, m) for m in messages])
        loop = asyncio.get_running_loop()
        waits = []
        for m in messages:
            fut: asyncio.Future[None] = loop.create_future()
            self._pending.append((channel_id, m, fut))
            waits.append(fut)
        if waits and (self._worker is None or self._worker.done()):
            self._worker = loop.create_task(self._drain())
        return list(await asyncio.gather(*waits, return_exceptions=True))

    async def _drain(self) -> None:
        # Whatever queued up while the previous batch was committing goes in the next one.
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                results = await asyncio.to_thread(self._commit, [(c, m) for c, m, _ in batch])
            except BaseException:  # cancelled at shutdown: leave no webhook waiting forever,
                # including those queued behind this batch, which no worker would take now
                waiting, self._pending = batch + self._pending, []
                for _c, _m, fut in waiting:
                    fut.cancel()
                raise
            for (_c, _m, fut), error in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(error)

    def _commit(self, items: list[tuple[int, InboundMessage]]) -> list[BaseException | None]:
        """One transaction for all; if it fails, one per channel, then each message on its
        own, so one bad message (a sender that is no phone number) cannot keep the others
        from being stored."""
        by_channel: dict[int, list[InboundMessage]] = {}
        for c, m in items:
            by_channel.setdefault(c, []).append(m)
        try:
            self._batches(by_channel)
            return [None] * len(items)
        except Exception:
            pass
        failed: dict[int, list[BaseException | None]] = {}
        for c, ms in by_channel.items():
            try:
                self._batches({c: ms})
            except Exception:
                failed[c] = self._each([(c, m) for m in ms])
        return [failed[c].pop(0) if c in failed else None for c, _m in items]

    def _each(self, items: list[tuple[int, InboundMessage]]) -> list[BaseException | None]:
        results: list[BaseException | None] = []
        for c, m in items:
            try:
                self._receive(c, m)
                results.append(None)
            except Exception as exc:
                results.append(exc)
        return results
