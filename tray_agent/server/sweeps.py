"""The team server's own sweep, run on one replica at a time (under its job lease): agents
whose devices fell silent are announced offline, unanswered conversations return to their
queues, waiting ones find available members, and old idempotency records and events are
forgotten.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tray_agent.app import App
from tray_agent.server import idempotency
from tray_agent.supervisor import Step

JOB = "team-sweep"
#: Often enough that "offline" follows a minute of silence closely; each pass is a few
#: indexed queries when nothing is due.
EVERY = 5.0
#: How long a repeated action still gets its first answer.
IDEMPOTENCY_RETENTION = timedelta(days=7)


def sweep(app: App) -> dict[str, int]:
    """One pass; what it did, by part (the tests call it too)."""
    inbox = app.inbox
    return {"offline": inbox.mark_absent(), "requeued": inbox.requeue_unanswered(),
            "assigned": inbox.assign_waiting(),
            "idempotency_pruned": idempotency.prune(app.db, app.clock.now() - IDEMPOTENCY_RETENTION),
            "events_pruned": inbox.prune_events(app.clock.now() - timedelta(days=app.config.server.keep_events_days))}


def step(app: App) -> Step:
    async def run() -> float:
        await asyncio.to_thread(sweep, app)
        return EVERY
    return run
