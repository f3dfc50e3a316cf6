"""Which running process reported a channel's health ("host:pid"), and whether it still
runs: health belongs to the process that runs the channel, not to the last one that looked."""

from __future__ import annotations

import os
import socket


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def is_running(reporter: str) -> bool | None:
    """True/False for a process on this machine; None when it is another machine's (or none)."""
    host, sep, pid = reporter.rpartition(":")
    if not sep or not pid.isdigit():
        return None
    if host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process of that pid: it exists
    return True
