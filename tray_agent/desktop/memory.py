"""The daemon's memory: what it gives back when it goes quiet, and what it never takes.

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

_libc: object | None = None  # None: not looked up yet; False: not glibc


def _glibc() -> object | None:
    """The C library when it is glibc (its malloc_trim and mallopt), else None."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                if hasattr(lib, "malloc_trim") and hasattr(lib, "mallopt"):
                    _libc = lib
            except OSError:
                pass
    return _libc or None


def trim() -> None:
    """Return the heap's free pages to the OS (glibc's malloc_trim: a few ms on the
    daemon's heap), also those between live chunks that freeing alone never returns."""
    libc = _glibc()
    if libc is not None:  # not glibc (musl): nothing to trim
        libc.malloc_trim(0)  # type: ignore[attr-defined]  # CDLL functions are looked up at run time


#: glibc's malloc arenas: by default up to 8 per core, one for each thread that allocates.
#: The API's and the loop's worker threads each kept a fragmented arena under traffic;
#: two arenas cost the daemon's mostly waiting threads nothing measurable.
ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


def limit_arenas(arenas: int = ARENAS) -> None:
    """Cap glibc's malloc arenas (call before the daemon's threads start). 600 messages
    24 at once: 131.0 MB RSS after 45 s idle, 135.2 MB without the cap."""
    libc = _glibc()
    if libc is not None:  # not glibc (musl): its allocator has no arenas to cap
        libc.mallopt(_M_ARENA_MAX, arenas)  # type: ignore[attr-defined]  # looked up at run time


#: Modules the daemon never runs that its libraries import whenever they find them
#: installed, each falling back cleanly on ImportError: httpx loads its command-line client
#: (``httpx._main``: rich and pygments, 4.5 MB resident) at import when rich is there;
#: FastAPI imports pydantic's bundled v1 (1.7 MB) at its first route only to ask whether a
#: model is a v1 one, which it no longer accepts anyway.
NEVER_RUN = ("httpx._main", "pydantic.v1")


def keep_out_unused_modules() -> None:
    """Make importing ``NEVER_RUN`` fail (``None`` in ``sys.modules``: Python's own way of
    saying "not importable"); call before anything imports httpx."""
    for name in NEVER_RUN:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None is what import reads as "blocked"


def release(app: "App") -> None:
    """Close idle database connections and return freed heap to the OS."""
    try:
        app.db.dispose()
    except Exception:
        log.debug("could not release database connections", exc_info=True)
    trim()
