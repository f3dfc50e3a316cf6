"""The supervisor's board: a follower thread whose body raises is started again after a
backoff and recorded in the store (what `doctor` reads), and a recovery is recorded too."""

from __future__ import annotations

import threading

from tray_agent.desktop.follower import BusFollower


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
