"""One daemon per user: an exclusive lock on ``instance.lock`` held for the daemon's life,
and ``instance.json`` (API address and pid) for a second launch, which asks the running
daemon over its authenticated API to bring its window up, then exits.

The lock (not the pid file) is the arbiter: it is released by the kernel when the process
dies, so a crash never leaves a stale "already running".
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

OPEN_PATH = "/api/desktop/open"


@dataclass
class InstanceLock:
    path: Path
    handle: IO[str]

    def release(self) -> None:
        try:
            if sys.platform == "win32":
                import msvcrt

                self.handle.seek(0)
                msvcrt.locking(self.handle.fileno(), msvcrt.LK_UNLCK, 1)
            self.handle.close()
        except OSError:
            pass


def acquire(runtime_dir: Path) -> InstanceLock | None:
    """The instance lock, or None when another daemon holds it."""
    runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = runtime_dir / "instance.lock"
    handle = open(path, "a+")
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return InstanceLock(path, handle)


def write_info(path: Path, **info: Any) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": os.getpid(), **info}, f)
    os.replace(tmp, path)


def read_info(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("url") else None


def remove_info(path: Path) -> None:
    info = read_info(path)
    if info is None or info.get("pid") == os.getpid():
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def wait_for_info(path: Path, timeout: float = 15.0) -> dict[str, Any] | None:
    """The running daemon's info; it may still be starting, so wait for it a while."""
    deadline = time.monotonic() + timeout
    while True:
        info = read_info(path)
        if info is not None or time.monotonic() >= deadline:
            return info
        time.sleep(0.1)


def request_open(url: str, token: str, conversation_id: int | None = None,
                 timeout: float = 10.0) -> dict[str, Any]:
    """Ask the daemon at ``url`` to bring its window up. Raises OSError when it cannot."""
    body = json.dumps({"conversation_id": conversation_id}).encode()
    import urllib.request  # only a second launch needs it (~1 MB the daemon does without)

    req = urllib.request.Request(url.rstrip("/") + OPEN_PATH, data=body, method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback, our own API)
        return json.loads(resp.read() or b"{}")
