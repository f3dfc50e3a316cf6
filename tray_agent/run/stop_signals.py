"""How a headless agent (``serve``, the daemon without a tray) takes the signals that stop it.

uvicorn, in the main thread, turns SIGINT and SIGTERM into a graceful shutdown and then
re-raises the signal at the handler that was there before. That handler is a no-op, so
a stopped agent exits 0 after tidying up instead of dying by the signal. SIGHUP (its
terminal closed) had no handler and killed it untidied; it now stops it as SIGTERM does.
"""

from __future__ import annotations

import signal


def take_stop_signals() -> None:
    """Call in the main thread before uvicorn serves there."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    if hasattr(signal, "SIGHUP"):  # not on Windows
        signal.signal(signal.SIGHUP, lambda *_: signal.raise_signal(signal.SIGTERM))
