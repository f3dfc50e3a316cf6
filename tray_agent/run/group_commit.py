"""Group commit for inbound traffic: messages that arrive together are stored in one
transaction, and each caller resumes only once its message is committed.

A committed transaction costs far more than the rows in it, so under load a channel
stores hundreds of webhooks per commit instead of one — persist first, then ack, still.
Every adapter gets it as ``await ctx.store(messages)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from tray_agent.channels import InboundMessage

MAX_BATCH = 500


class GroupCommit:
    def __init__(self, receive: Callable[[InboundMessage], int],
                 receive_batch: Callable[[list[InboundMessage]], int]) -> None:
        self._receive = receive
        self._batch = receive_batch
        self._pending: list[tuple[InboundMessage, asyncio.Future[None]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def store(self, messages: Sequence[InboundMessage]) -> list[BaseException | None]:
        """Return once every message is stored (or failed): per message, None or the error."""
        if any(m.files for m in messages):
            # Files are staged one message at a time.
            return await asyncio.to_thread(self._each, list(messages))
        loop = asyncio.get_running_loop()
        waits = []
        for m in messages:
            fut: asyncio.Future[None] = loop.create_future()
            self._pending.append((m, fut))
            waits.append(fut)
        if waits and (self._worker is None or self._worker.done()):
            self._worker = loop.create_task(self._drain())
        return list(await asyncio.gather(*waits, return_exceptions=True))

    async def _drain(self) -> None:
        # Whatever queued up while the previous batch was committing goes in the next one.
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                results = await asyncio.to_thread(self._commit, [m for m, _ in batch])
            except BaseException:  # cancelled at shutdown: leave no webhook waiting forever,
                # including those queued behind this batch, which no worker would take now
                waiting, self._pending = batch + self._pending, []
                for _m, fut in waiting:
                    fut.cancel()
                raise
            for (_m, fut), error in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(error)

    def _commit(self, messages: list[InboundMessage]) -> list[BaseException | None]:
        """One transaction for all; if it fails, each on its own, so one bad message (a
        sender that is no phone number) cannot keep the others from being stored."""
        try:
            self._batch(messages)
            return [None] * len(messages)
        except Exception:
            return self._each(messages)

    def _each(self, messages: list[InboundMessage]) -> list[BaseException | None]:
        results: list[BaseException | None] = []
        for m in messages:
            try:
                self._receive(m)
                results.append(None)
            except Exception as exc:
                results.append(exc)
        return results
