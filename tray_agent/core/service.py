"""The one service layer. The CLI, the HTTP API, the tray and plugins all call ``Inbox``;
none of them opens its own database session to change the inbox.

Every operation that acts for a person takes that agent's id first, so the same calls
serve a single desktop and a team server.
"""

from __future__ import annotations

from tray_agent.core.actions import Actions
from tray_agent.core.admin import Admin
from tray_agent.core.assign import Assignment
from tray_agent.core.call_actions import CallActions
from tray_agent.core.fetch import Fetch
from tray_agent.core.heartbeat import Heartbeat
from tray_agent.core.ingest import Ingest
from tray_agent.core.maintenance import Maintenance
from tray_agent.core.mirror import Mirror
from tray_agent.core.outbox import Outbox
from tray_agent.core.queries import Queries
from tray_agent.core.sync import Sync
from tray_agent.core.upstream_outbox import UpstreamOutbox


class Inbox(Ingest, Actions, CallActions, Outbox, Maintenance, Queries, Admin, Sync, Fetch, Mirror, UpstreamOutbox, Heartbeat,
            Assignment):
    """Ingest, agent actions (calls among them), the outbox, the background rules, queries, administration,
    what a syncing client reads (Sync, Fetch), a team desktop's cache writes (Mirror) and
    upstream outbox, presence and automatic assignment, in one place. Each part stands on
    ``InboxBase`` alone; what
    two parts share lives there."""
