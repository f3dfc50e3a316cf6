"""Giving memory back when the daemon goes quiet.

SQLite keeps a page cache per pooled connection (the store asks for up to 32 MB each, so
large inboxes stay fast); one unread count over 100,000 conversations fills ~25 MB of it.
While the agent is busy that cache earns its keep; once the daemon has been idle for a
while it is released: idle pooled connections are closed (``Database.dispose``: the
engine stays usable and opens new connections on demand) and glibc is asked to return
freed heap to the system. The next query re-reads pages from the OS cache (tens of ms).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tray_agent.app import App

log = logging.getLogger(__name__)

_libc: object | None = None


def _trim() -> None:
    global _libc
    if not sys.platform.startswith("linux"):
        return
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _libc.malloc_trim(0)  # type: ignore[attr-defined]  # CDLL functions are looked up at run time
    except (OSError, AttributeError):  # not glibc (musl): nothing to trim
        _libc = False


def release(app: "App") -> None:
    """Close idle database connections and return freed heap to the OS."""
    try:
        app.db.dispose()
    except Exception:
        log.debug("could not release database connections", exc_info=True)
    _trim()
