"""How a headless agent (``serve``, the daemon without a tray, the team server) takes the
signals that stop it.

uvicorn, in the main thread, turns SIGINT and SIGTERM into a graceful shutdown while it
serves, then re-raises the signal at the handler that was there before. Ours asks the
runner to stop: before uvicorn serves (the sandbox and the channels still starting) a
Ctrl+C stops the start instead of being lost; after, asking again is harmless, and a
stopped agent exits 0 after tidying up instead of dying by the signal. SIGHUP (its
terminal closed) had no handler and killed it untidied; it now stops it as SIGTERM does.
"""

from __future__ import annotations

import signal
from collections.abc import Callable


def take_stop_signals(request_stop: Callable[[], None]) -> None:
    """Call in the main thread before uvicorn serves there; ``request_stop`` must only set
    a flag (it runs in a signal handler)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: request_stop())
    if hasattr(signal, "SIGHUP"):  # not on Windows
        signal.signal(signal.SIGHUP, lambda *_: signal.raise_signal(signal.SIGTERM))
