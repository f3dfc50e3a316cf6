"""Debugging only, off by default: heap snapshots of a running daemon, to find what grows.

``TRAY_AGENT_HEAP_TRACE=DIR`` makes the daemon watch DIR: creating ``DIR/NAME.request``
makes it write ``DIR/NAME.snapshot`` (tracemalloc's format) and ``DIR/NAME.json`` (threads,
open file descriptors and sockets, live objects by type, modules in import order, malloc's and SQLite's
totals). Tracing starts at the first request (it slows the daemon several times over:
never on for users), so what the next snapshot holds beyond the first is what was
allocated since and is still alive. A request whose text is ``counts`` writes the JSON
only and starts no tracing (tracemalloc's own tables would blur malloc's totals).
``bench/soak.py --heap-trace`` drives it.
"""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import os
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "TRAY_AGENT_HEAP_TRACE"
FRAMES = 6  # enough to reach the caller in our code; deeper costs the daemon more
POLL_SECONDS = 0.5


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def native() -> dict[str, float]:
    """MB that C code holds: glibc malloc in use, free but kept, mmapped; SQLite in use."""
    out: dict[str, float] = {}
    try:
        info = ctypes.CDLL("libc.so.6").mallinfo2
        info.restype = _Mallinfo2
        m = info()
        out.update(malloc_in_use=(m.uordblks + m.hblkhd) / 2**20, malloc_free_kept=m.fordblks / 2**20)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/maps") as f:
        libs = sorted({line.split()[-1] for line in f if "libsqlite3" in line})
    if libs:
        lib = ctypes.CDLL(libs[0])
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        out["sqlite_in_use"] = lib.sqlite3_memory_used() / 2**20
    return out


def counts() -> dict[str, object]:
    """What a leak grows besides bytes: threads, descriptors, sockets, objects by type."""
    fds = os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else []
    sockets = 0
    for fd in fds:
        try:
            sockets += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    types = Counter(type(o).__name__ for o in gc.get_objects())
    return {"threads": sorted(t.name for t in threading.enumerate()), "fds": len(fds), "sockets": sockets,
            "objects": dict(types.most_common(40)), "modules": list(sys.modules), "native_mb": native(),
            "python_traced_mb": tracemalloc.get_traced_memory()[0] / 2**20 if tracemalloc.is_tracing() else None}


def _serve(folder: Path) -> None:
    while True:
        for request in sorted(folder.glob("*.request")):
            name = request.stem
            gc.collect()
            if request.read_text().strip() != "counts":
                if not tracemalloc.is_tracing():
                    tracemalloc.start(FRAMES)
                tracemalloc.take_snapshot().dump(str(folder / f"{name}.snapshot.tmp"))
                os.replace(folder / f"{name}.snapshot.tmp", folder / f"{name}.snapshot")
            (folder / f"{name}.json").write_text(json.dumps(counts()))
            request.unlink(missing_ok=True)
            log.info("heap snapshot %s written", name)
        time.sleep(POLL_SECONDS)


def start_if_asked() -> bool:
    """Start the snapshot thread when ``TRAY_AGENT_HEAP_TRACE`` names a folder."""
    folder = os.environ.get(ENV)
    if not folder:
        return False
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    threading.Thread(target=_serve, args=(path,), name="heap-trace", daemon=True).start()
    log.warning("heap snapshots on request (%s=%s): debugging only", ENV, folder)
    return True
