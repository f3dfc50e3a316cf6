"""The agent's moving parts: one adapter per configured channel, the outbox worker, the
pollers and the background sweeps (idle closure, file retention). All asyncio, all
stopping cleanly; the runner (runner.py) starts and stops them in its event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from tray_agent import credentials
from tray_agent.app import App
from tray_agent.run.change_watch import INTERVAL as WATCH_EVERY, ChangeWatch
from tray_agent.channels import (
    ChannelAdapter, ChannelConfig, InboundMessage, OutboundMessage, StatusUpdate, WebhookRoute,
)
from tray_agent.core.errors import ProviderError, ProviderIdTaken, StorageUnavailable, TrayAgentError
from tray_agent.core.models import Attachment, Channel
from tray_agent.run.group_commit import GroupCommit
from tray_agent.run.leases import RENEW_EVERY, Fence, LeaseLost, Leases, Solo, poll_job
from tray_agent.supervisor import Step, Supervisor

log = logging.getLogger(__name__)

BACKOFF_BASE = 2.0
BACKOFF_MAX = 300.0
MAX_ATTEMPTS = 8
SWEEP_EVERY = 60.0
#: How soon a channel added while a team-server replica runs (the admin view, the console,
#: another replica) starts there: its adapter, webhook routes and poller.
NEW_CHANNELS_EVERY = 2.0
POLL_BACKOFF_MAX = 60.0
STAGING_MAX_AGE = 24 * 3600.0
#: How often a job whose lease another replica holds looks whether it is ours now (a local look).
LEASE_CHECK = 0.5
INTERRUPTED = ("The agent stopped while this message was being sent; it was not sent again "
               "automatically in case the provider had already accepted it.")
#: Added to an adapter's ``send_timeout`` before a taken-over send is looked up: the lease's
#: expiry is the database's clock, the wait this replica's.
IN_FLIGHT_MARGIN = 1.0


@dataclass
class _Context:
    """The ``ChannelContext`` an adapter gets: its only door into the inbox."""

    runtime: "Runtime"
    channel_id: int
    channel_name: str

    @property
    def public_base_url(self) -> str:
        return self.runtime.public_base_url

    def receive(self, message: InboundMessage) -> int:
        return self.runtime.app.inbox.receive(self.channel_id, message)

    def receive_batch(self, messages: list[InboundMessage]) -> int:
        return self.runtime.app.inbox.receive_batch(self.channel_id, messages)

    async def store(self, messages: Sequence[InboundMessage]) -> list[BaseException | None]:
        return await self.runtime.group.store(self.channel_id, messages)

    def update_status(self, update: StatusUpdate) -> None:
        self.runtime.app.inbox.update_status(self.channel_id, update)

    def secret(self, name: str) -> str | None:
        return credentials.get(self.channel_name, name)

    def file_url(self, attachment_id: int) -> str:
        return self.runtime.file_url(attachment_id)

    def report(self, problem: str) -> None:
        kind = self.runtime.app.inbox.get_channel(self.channel_id).kind
        self.runtime.app.plugins.report_failure(kind, "webhook", f"channel {self.channel_name}: {problem}")

    def outbound_message(self, message_id: int) -> OutboundMessage | None:
        out = self.runtime.app.inbox.outbox_peek(message_id)
        return None if out is None else _with_links(self.runtime, out, message_id)

    def provider_ids_held(self, provider_ids: Sequence[str], message_id: int | None = None) -> set[str]:
        return self.runtime.app.inbox.outbox_ids_held(self.channel_id, provider_ids, message_id)


class Runtime:
    def __init__(self, app: App, public_base_url: str = "", leases: Leases | None = None) -> None:
        self.app = app
        #: Which of the shared jobs (outbox, pollers, sweeps) this process runs: all of them
        #: on a desktop, those it holds the lease of among team-server replicas.
        self.leases: Leases = leases if leases is not None else Solo()
        self.public_base_url = public_base_url.rstrip("/")
        self.adapters: dict[int, ChannelAdapter] = {}
        #: Channels whose start was tried (at start-up or since): not tried again until a restart.
        self._tried: set[int] = set()
        #: One group commit for every channel's inbound messages (see group_commit.py).
        self.group = GroupCommit(app.inbox.receive, app.inbox.receive_batches)
        self.routes: dict[int, list[WebhookRoute]] = {}
        self.supervisor = Supervisor(app.tasks)
        self.watch: ChangeWatch | None = None
        self._wake = asyncio.Event()
        #: What a crash left mid-send, read once before the outbox claims anything new.
        self._to_recover: list[tuple[int, int]] | None = None
        #: Items this process is sending now: never "interrupted", whatever the lease did meanwhile.
        self._in_flight: set[int] = set()
        #: When this replica took the outbox over (monotonic): the dead holder's last call to a
        #: provider began before, and may be answered until its ``send_timeout`` after.
        self._outbox_taken_at = time.monotonic()
        self._stopping = False

    # -- adapters ------------------------------------------------------------------------

    def start_adapters(self) -> None:
        with self.app.db.read() as s:
            channels = list(s.execute(select(Channel).where(col(Channel.enabled).is_(True))).scalars())
        for ch in channels:
            self._tried.add(ch.id)
            self._start_adapter(ch)

    def _start_adapter(self, ch: Channel) -> None:
        ctype = self.app.channel_types.get(ch.kind)
        if ctype is None:
            self.app.inbox.set_channel_health(ch.id, False, f"The {ch.kind!r} channel plugin is not installed.",
                                              runs=False)  # another install may run it
            return
        cfg = ChannelConfig(id=ch.id, kind=ch.kind, name=ch.name, business_address=ch.business_address,
                            settings=dict(ch.settings))
        try:
            adapter = ctype.factory(cfg, _Context(self, ch.id, ch.name))
            self.adapters[ch.id] = adapter
            self.routes[ch.id] = list(adapter.webhook_routes())
        except Exception as exc:  # a broken plugin must not stop the other channels
            log.exception("channel %s could not start", ch.name)
            self.app.plugins.report_failure(ch.kind, "factory", f"{type(exc).__name__}: {exc}")
            self.app.inbox.set_channel_health(ch.id, False, f"Could not start: {exc}")

    def adapter(self, channel_id: int) -> ChannelAdapter | None:
        return self.adapters.get(channel_id)

    def file_url(self, attachment_id: int) -> str:
        """A tokenised link at which a provider (or a customer, for as-link files) can fetch
        a file until it expires."""
        with self.app.db.write() as s:
            a = s.get(Attachment, attachment_id)
            if a is None or a.expired:
                raise TrayAgentError(f"File {attachment_id} has expired or does not exist.")
            if not a.link_token:
                a.link_token = secrets.token_urlsafe(24)
            return f"{self.public_base_url}/files/{a.link_token}/{a.file_name}"

    # -- background tasks ---------------------------------------------------------------

    def start(self) -> None:
        """Start adapters and background tasks in the running event loop, each under the
        supervisor: a failing pass is recorded and retried, never the end of the task."""
        self.start_adapters()
        loop = asyncio.get_running_loop()
        sup = self.supervisor
        sup.start("outbox", self._leased("outbox", self._outbox_pass), wake=self._wake)
        sup.start("auto-closure", self._leased("auto-closure", self._every(SWEEP_EVERY, self.app.inbox.close_idle)))
        sup.start("sweeps", self._leased("sweeps", self._every(SWEEP_EVERY, self._sweep)))
        for cid, adapter in self.adapters.items():
            self._start_poller(cid, adapter)
        if self.leases.shared:  # team-server replicas: channels come and go while they run
            sup.start("new-channels", self._new_channels_pass)
        if self.leases.shared:  # replicas share the store: the leases' heartbeat
            # Back to renewing soon after the store returns: a long backoff would cost the jobs.
            sup.start("leases", self._heartbeat, max_backoff=RENEW_EVERY)
        sup.start("health", self._health_pass)
        # Commits of other processes (the CLI, another server) wake everything here too.
        self.watch = ChangeWatch(self.app.db, self.app.inbox.bus)
        sup.start("change-watch", self._watch_pass)
        # New outbound messages wake the outbox at once instead of waiting for its timer.
        # (``inbox.sends``: not after every webhook's commit, which cannot have queued a send.)
        self._unsubscribe = self.app.inbox.sends.subscribe(lambda _seq: loop.call_soon_threadsafe(self._wake.set))

    def _start_poller(self, channel_id: int, adapter: ChannelAdapter) -> None:
        ch = self.app.inbox.get_channel(channel_id)
        interval = self.app.channel_types[ch.kind].poll_interval
        if interval:
            # A provider back after an outage is polled again within a minute at most.
            self.supervisor.start(f"poll-{ch.name}", self._leased(poll_job(ch.id), self._poll_pass(adapter, interval)),
                                  max_backoff=max(interval, POLL_BACKOFF_MAX))

    async def _new_channels_pass(self) -> float:
        """Start the channels added (or first enabled) since this process started, so a
        channel an administrator adds takes messages without a restart of any replica."""
        for ch in await asyncio.to_thread(self._channels_not_started):
            if ch.id in self._tried:  # a send started it meanwhile (this pass read before)
                continue
            self._tried.add(ch.id)  # a factory that fails is reported once, not every pass
            self._start_adapter(ch)
            adapter = self.adapters.get(ch.id)
            if adapter is not None:
                log.info("channel %s started", ch.name)
                self._start_poller(ch.id, adapter)
                await self.check_health(ch.id, adapter)
        return NEW_CHANNELS_EVERY

    def _channels_not_started(self) -> list[Channel]:
        with self.app.db.read() as s:
            return [ch for ch in s.execute(select(Channel).where(col(Channel.enabled).is_(True))).scalars()
                    if ch.id not in self.adapters and ch.id not in self._tried and ch.kind in self.app.channel_types]

    async def stop(self) -> None:
        self._stopping = True
        if hasattr(self, "_unsubscribe"):
            self._unsubscribe()
        await self.supervisor.stop()
        try:
            await asyncio.to_thread(self.leases.release)
        except Exception as exc:  # the leases expire on their own
            log.warning("could not release this replica's job leases: %s", exc)
        if self.watch is not None:
            self.watch.close()
        for adapter in self.adapters.values():
            try:
                await adapter.aclose()
            except Exception:
                log.exception("closing an adapter failed")

    def start_leased(self, job: str, step: Step) -> None:
        """Start one more supervised job that runs only where this process holds its lease
        (the team server's presence and queue sweep)."""
        self.supervisor.start(job, self._leased(job, step))

    def _leased(self, job: str, step: Step) -> Step:
        """``step`` run only while this process holds the job's lease."""
        self.leases.want(job)

        async def leased() -> float | None:
            if not self.leases.held(job):
                return LEASE_CHECK
            return await step()
        return leased

    async def _heartbeat(self) -> float:
        """Take or renew the leases of the shared jobs; a job just taken over starts at once."""
        for job in await asyncio.to_thread(self.leases.renew):
            if job == "outbox":
                self._to_recover = None  # what the previous holder left mid-send: read it again
                self._outbox_taken_at = time.monotonic()
                self._wake.set()
        return RENEW_EVERY

    async def _watch_pass(self) -> float:
        assert self.watch is not None
        if self.app.db.is_sqlite:
            seen = self.watch.check()  # ~10 µs, takes no lock: a thread hand-off would cost more than the look
        else:
            seen = await asyncio.to_thread(self.watch.check)
        if seen:
            self._wake.set()  # another process's commit (a CLI send, another replica's) may be for the outbox
        return WATCH_EVERY

    async def _health_pass(self) -> None:
        for cid, adapter in list(self.adapters.items()):
            await self.check_health(cid, adapter)
        return None  # once, at start; the API asks again on demand

    async def check_health(self, channel_id: int, adapter: ChannelAdapter) -> tuple[bool, str]:
        try:
            h = await adapter.check_health()
            ok, detail = h.ok, h.detail
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        await asyncio.to_thread(self.app.inbox.set_channel_health, channel_id, ok, detail)
        return ok, detail

    @staticmethod
    def _every(seconds: float, work: Callable[[], object]) -> Step:
        """A pass that runs blocking ``work`` in a thread, then waits ``seconds``."""
        async def step() -> float:
            await asyncio.to_thread(work)
            return seconds
        return step

    def _sweep(self) -> None:
        self.app.inbox.expire_files()
        self.app.inbox.expire_early_statuses()
        # Uploads staged for a message that was never sent (a closed window, an abandoned
        # draft) would otherwise stay on disk for ever.
        self.app.inbox.files.discard_staging_older_than(STAGING_MAX_AGE, time.time())  # file mtimes are wall time

    @staticmethod
    def _poll_pass(adapter: ChannelAdapter, interval: float) -> Step:
        async def step() -> float:
            await adapter.poll()
            return interval
        return step

    async def _outbox_pass(self) -> float:
        # The first pass: what a crash left, before any new claim.
        undecided = await self.recover_interrupted()
        await self.drain_outbox()
        nxt = await asyncio.to_thread(self.app.inbox.outbox_next_due_at)
        delay = 30.0 if nxt is None else max(0.0, (nxt - self.app.clock.now()).total_seconds())
        return min(delay, 30.0, undecided if undecided is not None else 30.0)

    def _still_in_flight(self, channel_id: int) -> float:
        """Seconds during which a send the previous holder began may still be answered by the
        provider (its adapter's ``send_timeout`` after the take-over): looked up sooner, a
        send Twilio is still processing would look lost and go out twice. 0 on a desktop,
        whose previous run is gone with its calls."""
        if not self.leases.shared:
            return 0.0
        bound = float(getattr(self.adapters.get(channel_id), "send_timeout", 0.0) or 0.0)
        if not bound:
            return 0.0
        return max(0.0, self._outbox_taken_at + bound + IN_FLIGHT_MARGIN - time.monotonic())

    async def recover_interrupted(self) -> float | None:
        """Items left mid-send by a crash: ask the adapter whether the provider has them
        (``find_sent``); without that, fail them visibly rather than risk a duplicate.
        Each item is decided on its own: one that cannot be decided fails visibly and the
        others go on; one whose send may still be in flight at its provider waits (it stays
        "sending") while the rest go out. Returns seconds until such a one can be decided."""
        if self._to_recover is None:
            # Read only by the outbox's lease holder: an item "sending" is then either ours
            # (in flight, skipped) or left by a holder that stopped or died (its lease expired).
            self._to_recover = [(m, c) for m, c in await asyncio.to_thread(self.app.inbox.outbox_interrupted)
                                if m not in self._in_flight]
        todo = self._to_recover
        wait: float | None = None
        n = 0  # items before it wait for their in-flight bound; kept for a later pass
        while n < len(todo):
            if not self.leases.held("outbox"):
                return None  # taken over: the new holder reads these again and decides them
            message_id, channel_id = todo[n]
            if (left := self._still_in_flight(channel_id)) > 0:
                wait = left if wait is None else min(wait, left)
                n += 1
                continue
            try:
                await self._recover(message_id, channel_id, self.leases.fence("outbox"))
            except LeaseLost as exc:
                self._stale(message_id, exc)
                return None
            except StorageUnavailable:
                raise  # nothing decided: the supervisor runs the pass again later
            except Exception as exc:
                log.warning("could not recover interrupted message %s: %s", message_id, exc)
                try:
                    await asyncio.to_thread(self.app.inbox.outbox_failed, message_id, INTERRUPTED,
                                            fence=self.leases.fence("outbox"))
                except LeaseLost as lost:
                    self._stale(message_id, lost)
                    return None
            del todo[n]
        return wait

    def _stale(self, message_id: int, exc: LeaseLost) -> None:
        """This replica stalled past its outbox lease and another took the outbox over: the
        write for ``message_id`` was refused (the new holder decides the item); stop sending."""
        log.warning("outbox: message %s: %s", message_id, exc.message)
        self.leases.step_down("outbox")

    async def _recover(self, message_id: int, channel_id: int, fence: Fence | None) -> None:
        inbox = self.app.inbox
        finder = getattr(self.adapters.get(channel_id), "find_sent", None)
        if finder is None:
            await asyncio.to_thread(inbox.outbox_failed, message_id, INTERRUPTED, fence=fence)
            return
        try:
            provider_id = await finder(message_id)
        except Exception as exc:
            log.warning("could not check message %s with its provider: %s", message_id, exc)
            await asyncio.to_thread(inbox.outbox_failed, message_id, INTERRUPTED, fence=fence)
            return
        if provider_id:
            # Raises ProviderIdTaken for another message's send: then it fails visibly.
            await asyncio.to_thread(inbox.outbox_sent, message_id, provider_id, fence=fence)
        else:
            await asyncio.to_thread(inbox.outbox_requeue, message_id, fence)

    async def drain_outbox(self) -> int:
        """Send every due item once; returns how many were attempted."""
        inbox = self.app.inbox
        attempted = 0
        while not self._stopping and self.leases.held("outbox"):
            due = await asyncio.to_thread(inbox.outbox_due)
            if not due:
                return attempted
            for message_id in due:
                if not self.leases.held("outbox"):
                    return attempted  # taken over (this replica stalled): the new holder sends the rest
                # The lease as it was at the claim: every write for this send checks it.
                fence = self.leases.fence("outbox")
                try:
                    claimed = await asyncio.to_thread(inbox.outbox_claim, message_id, fence)
                    if claimed is None:
                        continue
                    attempted += 1
                    self._in_flight.add(message_id)
                    try:
                        await self._send(message_id, *claimed, fence=fence)
                    finally:
                        self._in_flight.discard(message_id)
                except LeaseLost as exc:
                    self._stale(message_id, exc)
                    return attempted
                except StorageUnavailable:
                    # A write around the provider call failed: the item may be left "sending";
                    # the next pass decides it as a crash's (asks the provider), never resends blind.
                    self._to_recover = None
                    raise
        return attempted

    async def _send(self, message_id: int, channel_id: int, out: OutboundMessage, *,
                    fence: Fence | None = None) -> None:
        inbox = self.app.inbox
        adapter = self.adapters.get(channel_id)
        if adapter is None:  # a channel added moments ago: start it now rather than fail the send
            await self._new_channels_pass()
            adapter = self.adapters.get(channel_id)
        if adapter is None:
            await asyncio.to_thread(inbox.outbox_failed, message_id,
                                    "The channel is not running (its plugin is missing or failed to start).",
                                    fence=fence)
            return
        if out.files:
            out = await asyncio.to_thread(_with_links, self, out, message_id)
        try:
            result = await adapter.send(out)
        except ProviderError as exc:
            if exc.retryable and not exc.permanent_rule and out.attempt < MAX_ATTEMPTS:
                delay = exc.retry_after if exc.retry_after is not None else backoff(out.attempt)
                await asyncio.to_thread(inbox.outbox_retry_later, message_id, delay, exc.message, fence)
            else:
                await asyncio.to_thread(inbox.outbox_failed, message_id, exc.message,
                                        None if exc.provider_code is None else str(exc.provider_code),
                                        rule_refused=exc.permanent_rule, fence=fence)
            return
        except Exception as exc:  # an adapter bug: keep the message, show why
            log.exception("channel %s failed to send message %s", channel_id, message_id)
            await asyncio.to_thread(inbox.outbox_failed, message_id, f"The channel failed: {type(exc).__name__}: {exc}",
                                    fence=fence)
            return
        try:
            await asyncio.to_thread(inbox.outbox_sent, message_id, result.provider_message_id, result.status, fence)
        except ProviderIdTaken as exc:  # the adapter answered with another message's send
            log.error("channel %s: %s", channel_id, exc.message)
            await asyncio.to_thread(inbox.outbox_failed, message_id, f"The channel failed: {exc.message}", fence=fence)


def backoff(attempt: int) -> float:
    """Exponential backoff with jitter: 2, 4, 8, ... seconds, at most five minutes."""
    base = min(BACKOFF_MAX, BACKOFF_BASE ** max(1, attempt))
    return base * (0.8 + 0.4 * random.random())


def _with_links(rt: Runtime, out: OutboundMessage, message_id: int) -> OutboundMessage:
    """Give each outbound file the public link the provider (or the customer) fetches it at."""
    from dataclasses import replace

    with rt.app.db.read() as s:
        ids = list(s.execute(select(col(Attachment.id)).where(col(Attachment.message_id) == message_id,
                                                         col(Attachment.expired).is_(False))
                             .order_by(col(Attachment.id))).scalars())
    files = tuple(replace(f, public_url=rt.file_url(aid)) for f, aid in zip(out.files, ids, strict=True))
    return replace(out, files=files)
