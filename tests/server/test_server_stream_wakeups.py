"""Event streams wake for what their agent may see: a queue's message reaches its members'
streams at once and costs the other agents' streams nothing, while their cursors still
move past it (with the next keep-alive, or at the end of a long-poll)."""

from __future__ import annotations

import threading
import time

import httpx

from tests.server.live import Team
from tests.server.test_server_sync import cursor_of


class RawStream:
    """An SSE stream read in a thread, keeping every chunk with the time it came."""

    def __init__(self, team: Team, who: str, since: str) -> None:
        self.client = httpx.Client(base_url=team.url, headers={"Authorization": f"Bearer {team.tokens[who]}"},
                                   timeout=httpx.Timeout(30, read=None))
        self.chunks: list[tuple[float, str]] = []
        self._ctx = self.client.stream("GET", "/sync/v1/events", params={"since": since},
                                       headers={"Accept": "text/event-stream"})
        self.response = self._ctx.__enter__()
        assert self.response.status_code == 200
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for chunk in self.response.iter_text():
                self.chunks.append((time.monotonic(), chunk))
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by the test

    def text(self) -> str:
        return "".join(c for _, c in self.chunks)

    def close(self) -> None:
        self.client.close()
        self._thread.join(5)


def test_a_queue_message_wakes_its_members_streams_and_leaves_the_others_quiet(team: Team):
    bea = RawStream(team, "Bea", cursor_of(team, "Bea"))
    carl = RawStream(team, "Carl", cursor_of(team, "Carl"))  # not in the Support queue
    try:
        time.sleep(1.0)  # both connected and settled (presence touched)
        quiet_from = len(carl.chunks)
        for i in range(3):
            team.customer_says(f"wake {i}")
        deadline = time.monotonic() + 20
        while bea.text().count("event: message.created") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bea.text().count("event: message.created") == 3
        time.sleep(0.5)
        # Before: every commit wrote a data-less id to every stream on the replica. Carl's
        # periodic presence check (at a random point of its first 30 s) may still move his
        # cursor once in this window: one id, never one per commit, and no event.
        woke = "".join(c for _, c in carl.chunks[quiet_from:])  # frames, however they were chunked
        assert woke.count("id: ") <= 1 and "event:" not in woke, woke
    finally:
        bea.close()
        carl.close()


def test_a_long_poll_outside_the_queue_still_moves_its_cursor_past_what_it_may_not_see(team: Team):
    since = cursor_of(team, "Carl")
    threading.Timer(0.3, team.customer_says, args=("not for Carl",)).start()
    with team.http("Carl") as c:
        r = c.get("/sync/v1/events", params={"since": since, "wait": 2})
    assert r.status_code == 200 and r.json()["events"] == []
    newest = team.inbox.event_bounds()[1]
    assert int(r.json()["cursor"].rsplit(":", 1)[1]) >= newest
