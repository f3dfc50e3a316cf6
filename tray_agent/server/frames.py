"""Server-Sent Events frames, serialised once per replica: an event goes to every stream
that may see it, and its frame (the view's JSON and its cursor) is the same for each.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from tray_agent.core.views import EventView
from tray_agent.server.cursor import format_cursor

#: Frames kept: a few seconds of traffic, which is what streams that keep up ask for.
FRAMES = 4096


class Frames:
    """Each event's SSE frame, serialised once per replica rather than once per stream. A
    view depends only on its event (``for_agent`` filters, it does not tailor), so
    (epoch, seq, type) names it; a removal shares its event's seq, not its type."""

    def __init__(self, keep: int = FRAMES) -> None:
        self.keep = keep
        self._frames: dict[tuple[str, int, str], str] = {}

    def sse(self, epoch: str, batch: Sequence[EventView], upto: int) -> str:
        """The SSE text for one step of a stream: its events, then a data-less ``id:``
        when the cursor moved past events this agent may not see."""
        chunks = [self._frame(epoch, e) for e in batch]
        if not batch or batch[-1].seq != upto:
            chunks.append(f"id: {format_cursor(epoch, upto)}\n\n")
        return "".join(chunks)

    def _frame(self, epoch: str, e: EventView) -> str:
        key = (epoch, e.seq, e.type)
        frame = self._frames.get(key)
        if frame is None:
            cursor = format_cursor(epoch, e.seq)
            # _wire's JSON, serialised by pydantic in one pass.
            data = '{"cursor":' + json.dumps(cursor) + "," + e.model_dump_json()[1:]
            frame = f"id: {cursor}\nevent: {e.type}\ndata: {data}\n\n"
            if len(self._frames) >= self.keep:
                del self._frames[next(iter(self._frames))]  # the oldest: streams move forward
            self._frames[key] = frame
        return frame
