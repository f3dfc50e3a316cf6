"""Bringing a store's schema up to date in a child process (``python -m
tray_agent.core.migrate_process``), so that the long-running daemon never holds alembic:
one migration in-process leaves ~10 MB resident for the rest of the day. The database URL
(it may carry a password) goes over the child's stdin, never its argv or environment.
"""

from __future__ import annotations

import logging
import subprocess
import sys

from tray_agent.core.db import HEAD_REVISION, Database
from tray_agent.core.errors import TrayAgentError
from tray_agent.credentials import redact

log = logging.getLogger(__name__)
TIMEOUT = 600.0  # a large store's upgrade can take minutes; a hung child must not hang the start


def migrate_in_child(url: str) -> bool:
    """Migrate the store at ``url`` in a child unless its schema is current (one query).
    Returns whether it is current now. On failure the caller's own ``Database.migrate``
    runs as before and says what is wrong in its usual words."""
    db = Database(url)
    try:
        if db.schema_revision() == HEAD_REVISION:
            return True
    except TrayAgentError:
        return False  # the in-process migration reports it
    finally:
        db.dispose()
    try:
        done = subprocess.run([sys.executable, "-m", __name__], input=url, capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("could not migrate the store in a child process (%s); migrating in-process", type(exc).__name__)
        return False
    if done.returncode != 0:
        log.warning("migrating the store in a child process failed: %s",
                    redact((done.stderr.strip().splitlines() or ["no output"])[-1][:300]))
        return False
    return True


def main() -> int:
    url = sys.stdin.read().strip()
    try:
        Database(url).migrate()
    except TrayAgentError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
