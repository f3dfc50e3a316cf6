"""A background task that keeps failing is not silent in the window: one quiet line names
it and its error while the supervisor retries, and it goes once the task recovers."""

from __future__ import annotations


def test_a_failing_background_task_is_shown_in_one_line_until_it_recovers(window):
    board = window.agent.app.tasks
    board.failed("outbox", RuntimeError("the disk is full"))
    try:
        window.open()
        line = window.page.locator("#task-trouble")
        line.wait_for(state="visible", timeout=10000)
        assert line.inner_text().startswith("outbox failing (retrying): RuntimeError: the disk is full")
        window.shot("task-failing")
    finally:
        board.ok("outbox")
    window.open()
    window.page.wait_for_selector("#task-trouble", state="hidden")
