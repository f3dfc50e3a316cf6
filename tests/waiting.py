"""The suite's one wait loop: poll a check until it gives something truthy, fail with what
was awaited (and what was last seen), and stop early when the process that should make it
happen has died."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 20.0, what: str | Callable[[], str] = "condition",
             every: float = 0.05, alive: subprocess.Popen[Any] | None = None,
             retry: tuple[type[BaseException], ...] = ()) -> T:
    """``check()``'s first truthy value within ``timeout`` seconds. ``what`` names it in the
    failure (a callable is asked then, to say what was seen); ``alive`` is a process whose
    exit ends the wait at once; ``retry`` are exceptions that count as "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except retry:
            value = None  # type: ignore[assignment]
        if value:
            return value
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"gave up waiting for {_say(what)}: the process exited {alive.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {_say(what)}")
        time.sleep(every)


def _say(what: str | Callable[[], str]) -> str:
    return what if isinstance(what, str) else what()
