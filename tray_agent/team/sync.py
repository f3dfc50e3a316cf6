"""The sync task: mirrors the agent's snapshot into the cache (every page; the window is
usable after the first), then follows the per-agent event stream (SSE) from the stored
cursor, applying each burst of thin events with one batch fetch. A stream that breaks is
resumed from the cursor (on the next server if several are configured); ``must_resync``
rebuilds from a fresh snapshot by mark and sweep, so the inbox never goes empty."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tray_agent.core.errors import TrayAgentError
from tray_agent.core.service import Inbox
from tray_agent.team.link import Link, Refused, explain

log = logging.getLogger(__name__)

#: The first page is small, so the window has something to show soon; the rest come in
#: bigger pages (fewer round trips and transactions: 10,000 conversations in 20).
FIRST_PAGE = 200
PAGE = 500
#: A snapshot page is one consistent read on the server: give it time on a busy one.
SNAPSHOT_TIMEOUT = httpx.Timeout(120.0, connect=5.0)
MESSAGES = 20
HISTORY_PAGE = 200
#: The server sends a keep-alive every 15 s: a stream silent for longer is dead.
READ_TIMEOUT = 40.0
REMOVED = "conversation.removed"


class SyncTask:
    NAME = "team-sync"

    def __init__(self, inbox: Inbox, link: Link) -> None:
        self.inbox = inbox
        self.link = link
        self.must_resync = False
        #: Set once the first snapshot page is in the cache (the window can show it).
        self.first_page = threading.Event()  # set from the worker thread the snapshot runs in
        #: Set once the cache holds a whole snapshot (or held one already at start).
        self.synced = threading.Event()
        self._side_pool: ThreadPoolExecutor | None = None

    @property
    def me(self) -> int:
        agent_id = self.inbox.team_state().agent_id
        if agent_id is None:
            raise TrayAgentError("This cache has no signed-in agent; run `tray-agent connect URL` again.")
        return agent_id

    async def step(self) -> float:
        """One connection: (re)build if needed, then follow until the stream ends."""
        try:
            cursor = (await asyncio.to_thread(self.inbox.team_state)).cursor
            if not cursor or self.must_resync:
                cursor = await asyncio.to_thread(self.resync)
            else:
                self.first_page.set()
            self.synced.set()
            await self.follow(cursor)
        except (httpx.TransportError, OSError) as exc:
            self.link.set_state("offline", explain(exc, self.link.url))
            self.link.next_server()
            raise TrayAgentError(explain(exc, self.link.url)) from None
        return 0.0

    # -- snapshot ------------------------------------------------------------------

    def resync(self) -> str:
        """Every page of a fresh snapshot, upserted as it comes; then what it did not
        contain is swept. The cursor is the first page's (later pages are newer). Each page
        is written (in order, by one writer thread) while the next is fetched and parsed:
        the server's answers and the cache's writes overlap instead of adding up."""
        self.link.set_state("connecting", None)
        keep: set[int] = set()
        me = self.me
        page = self._page(0, FIRST_PAGE)
        cursor = page["cursor"]
        with ThreadPoolExecutor(1, thread_name_prefix="snapshot-write") as writer:
            written = writer.submit(self._write_page, page, me, True)
            while True:
                keep |= {c["id"] for c in page["conversations"]}
                after = page.get("next_after")
                if after is None:
                    break
                page = self._page(after, PAGE)
                written.result()  # a failed write stops the sync here, not pages later
                written = writer.submit(self._write_page, page, me, False)
            written.result()
        self.inbox.mirror_sweep(keep)
        self.inbox.set_team_state(cursor=cursor)
        self.must_resync = False
        return str(cursor)

    def _page(self, after: int, limit: int) -> dict[str, Any]:
        return self.link.request("GET", "/sync/v1/snapshot", timeout=SNAPSHOT_TIMEOUT,
                                 params={"after": after, "limit": limit, "messages": MESSAGES})

    def _write_page(self, page: dict[str, Any], me: int, first: bool) -> None:
        if first:
            self.inbox.mirror_directory([page["me"], *page["agents"]], page["queues"], page["channels"])
        self.inbox.mirror_conversations(page["conversations"], me=me, synced=True)
        self.first_page.set()

    # -- events --------------------------------------------------------------------

    async def follow(self, cursor: str) -> None:
        timeout = httpx.Timeout(READ_TIMEOUT, connect=5.0)
        async with self.link.async_client(timeout=timeout) as c:
            async with c.stream("GET", "/sync/v1/events", params={"since": cursor},
                                headers={"Accept": "text/event-stream"}) as r:
                if r.status_code == 410:
                    self.must_resync = True
                    return
                if r.status_code != 200:
                    await r.aread()
                    raise _refusal(r)
                self.link.set_state("online", None)
                buf = ""
                async for chunk in r.aiter_text():
                    # A request that failed meanwhile said offline; the stream says otherwise
                    # (the sender waits for online before it tries again).
                    if self.link.status.state != "online":
                        self.link.set_state("online", None)
                    buf += chunk
                    *blocks, buf = buf.split("\n\n")
                    evs, upto = parse(blocks)
                    if upto is not None:
                        await asyncio.to_thread(self.apply, evs, upto)
                    if self.must_resync:
                        return

    def apply(self, evs: list[dict[str, Any]], cursor: str) -> None:
        """One burst: fetch what the events name, upsert it, copy the events, store the cursor."""
        me = self.me
        wanted: dict[int, bool] = {}  # conversation id -> still wanted after the burst
        mids: set[int] = set()
        directory = False
        for e in evs:
            cid, data = e.get("conversation_id"), e.get("data") or {}
            if e["type"] in ("agent.updated", "channel.updated"):
                directory = True
                if data.get("change") == "queue" and me in (data.get("added") or []):
                    self.must_resync = True  # a new queue's conversations come with a snapshot
            if cid is None:
                continue
            wanted[cid] = e["type"] != REMOVED
            if e.get("message_id") and e["type"].startswith("message."):
                mids.add(e["message_id"])
        # The directory and the burst's rows are independent reads: asked at the same time
        # (a colleague's presence in the same burst as a customer's message delays nothing).
        refresh = self._side().submit(self.link.request, "GET", "/sync/v1/snapshot",
                                      params={"limit": 1, "messages": 0}) if directory else None
        ask = sorted(c for c, keep in wanted.items() if keep)
        held = self.inbox.mirror_ids(ask) if ask else set()
        got: dict[str, list[dict[str, Any]]] = {"conversations": [], "messages": [], "histories": []}
        if ask or mids:
            # New to this desktop (offered, transferred to me): their whole history comes along.
            got = self.link.request("POST", "/sync/v1/fetch", json={
                "conversation_ids": ask, "message_ids": sorted(mids),
                "history_ids": [c for c in ask if c not in held][:50]})
        if refresh is not None:
            page = refresh.result()
            self.inbox.mirror_directory([page["me"], *page["agents"]], page["queues"], page["channels"])
        visible = {c["id"] for c in got["conversations"]}
        history: list[dict[str, Any]] = []
        related: list[dict[str, Any]] = []
        address = {c["id"]: c["customer_address"] for c in got["conversations"]}
        fetched = {h["conversation_id"] for h in got.get("histories", [])}
        for h in got.get("histories", []):
            history += h["messages"] + (self.older(h["conversation_id"], h["next_before"]) if h.get("next_before") else [])
            related += [{**r, "customer_address": address[h["conversation_id"]]} for r in h["related"]
                        if r["id"] != h["conversation_id"]]
        for conv in got["conversations"]:
            if conv["id"] not in held and conv["id"] not in fetched:  # past the 50 a fetch brings
                older, earlier = self.history(conv)
                history += older
                related += earlier
        # A removal followed by the conversation coming back (the same burst) keeps it.
        evs = [e for e in evs if not (e["type"] == REMOVED and e.get("conversation_id") in visible)]
        gone = [c for c in ask if c not in visible and c in held]
        self.inbox.mirror_conversations(got["conversations"], got["messages"] + history, me=me, related=related,
                                        server_events=evs, removed=gone, cursor=cursor)

    def _side(self) -> ThreadPoolExecutor:
        """A second thread for a read that runs beside the burst's fetch (its own kept-alive
        connection: the link's clients are per thread)."""
        if self._side_pool is None:
            self._side_pool = ThreadPoolExecutor(1, thread_name_prefix="team-sync-side")
        return self._side_pool

    def history(self, conv: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The customer's whole history (earlier sessions too) and those sessions' rows."""
        detail = self.link.request("GET", f"/sync/v1/conversations/{conv['id']}")
        related = [{**r, "customer_address": conv["customer_address"]} for r in detail.get("related", [])
                   if r["id"] != conv["id"]]
        return self.older(conv["id"], None), related

    def older(self, cid: int, before: int | None) -> list[dict[str, Any]]:
        """The history before ``before`` (None: all of it), page by page."""
        msgs: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"limit": HISTORY_PAGE}
            if before is not None:
                params["before"] = before
            page = self.link.request("GET", f"/sync/v1/conversations/{cid}/messages", params=params)
            msgs = page["items"] + msgs
            before = page.get("next_before")
            if before is None:
                return msgs


def parse(blocks: list[str]) -> tuple[list[dict[str, Any]], str | None]:
    """Server-Sent Events blocks: the events' data, and the last ``id:`` (the cursor)."""
    evs: list[dict[str, Any]] = []
    upto: str | None = None
    for block in blocks:
        data = []
        for line in block.split("\n"):
            if line.startswith("id:"):
                upto = line[3:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            evs.append(json.loads("\n".join(data)))
    return evs, upto


def _refusal(r: httpx.Response) -> Exception:
    try:
        body = r.json()
    except ValueError:
        body = {}
    return Refused(r.status_code, str(body.get("error", "server_error")),
                   str(body.get("message") or f"The team server answered {r.status_code}."))
