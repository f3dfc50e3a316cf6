"""The supervisor: a follower thread whose body raises is started again after a backoff and
recorded in the store (what `doctor` reads), a recovery is recorded too; and a stop always
ends, whatever its tasks were doing when it came."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from tray_agent.core.clock import SystemClock
from tray_agent.desktop.follower import BusFollower
from tray_agent.supervisor import Supervisor, TaskBoard
from tray_agent.waits import wait_event


class Flaky(BusFollower):
    thread_name = "flaky-follower"

    def __init__(self, world, fails: int) -> None:  # type: ignore[no-untyped-def]
        super().__init__(world.app.inbox.bus, world.app.tasks)
        self.fails = fails
        self.runs = 0
        self.done = threading.Event()

    def _run(self) -> None:
        self.runs += 1
        if self.runs <= self.fails:
            raise RuntimeError(f"broken pass {self.runs}")
        self._pass_ok()
        self.done.set()
        self._wake.wait()  # then follow the bus until stopped


def test_a_follower_whose_body_raises_is_restarted_and_its_failures_recorded(world) -> None:  # type: ignore[no-untyped-def]
    world.app.tasks.restart_base = 0.01
    f = Flaky(world, fails=2)
    f.start()
    try:
        assert f.done.wait(5), "the follower was not started again"
    finally:
        f.stop()
    assert f.runs == 3
    [row] = [t for t in world.inbox.task_statuses() if t.name == "flaky-follower"]
    assert (row.failures, row.consecutive_failures) == (2, 0)
    assert row.last_error == "RuntimeError: broken pass 2" and row.failed_at is not None and row.ok_at is not None


def test_a_task_woken_as_the_runner_stops_it_still_stops() -> None:
    """Python 3.11's ``wait_for`` returned instead of raising when the cancel came as the
    task's wake-up event fired: the task ran on and the team server's shutdown hung."""
    async def scenario() -> bool:
        wake = asyncio.Event()
        passes: list[int] = []

        async def step() -> float:
            passes.append(1)
            return 60.0

        sup = Supervisor(TaskBoard(SystemClock()))
        task = sup.start("woken", step, wake=wake)
        while not passes:
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)  # in its wait for the next wake-up
        wake.set()
        task.cancel()  # in the same turn of the loop, as a stop during a commit does
        await asyncio.sleep(0.05)
        return task.done()

    assert asyncio.run(scenario()), "the cancelled task went on running"


def test_wait_event_lets_a_cancel_through_when_the_event_fires_with_it() -> None:
    async def scenario() -> bool:
        ev = asyncio.Event()
        task = asyncio.create_task(wait_event(ev, 30))
        await asyncio.sleep(0.01)
        ev.set()
        task.cancel()
        await asyncio.sleep(0.01)
        return task.cancelled()

    assert asyncio.run(scenario())


def test_stop_does_not_wait_forever_for_a_step_that_swallows_its_cancel(caplog) -> None:  # type: ignore[no-untyped-def]
    """A plugin's step that eats one cancel is cancelled again; one that eats them all is
    named in the log after the grace period, and the stop goes on."""
    async def scenario() -> tuple[float, bool, bool]:
        async def once() -> float:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                pass  # swallowed once
            return 60.0

        released = asyncio.Event()

        async def always() -> None:
            while not released.is_set():
                try:
                    await asyncio.sleep(60)
                except asyncio.CancelledError:
                    pass
            return None  # finished: the supervisor ends the task

        sup = Supervisor(TaskBoard(SystemClock()))
        t_once, t_always = sup.start("eats-one-cancel", once), sup.start("eats-every-cancel", always)
        await asyncio.sleep(0.01)
        started = time.monotonic()
        await sup.stop(grace=1.5)
        took = time.monotonic() - started
        done = t_once.done(), t_always.done()
        released.set()  # let it end, so the loop can close
        t_always.cancel()
        await t_always
        return took, *done

    with caplog.at_level(logging.WARNING, "tray_agent.supervisor"):
        took, once_done, always_done = asyncio.run(scenario())
    assert once_done and not always_done
    assert 1.0 <= took < 3.0, took
    assert "eats-every-cancel" in caplog.text and "eats-one-cancel" not in caplog.text
