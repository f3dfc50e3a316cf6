"""The agent's own logging set-up (``tray_agent.logs``) run inside a test at a chosen level,
with its console captured: for asserting what a support engineer would find in
``logs/daemon.log`` and on the terminal. Everything it changed is put back afterwards."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path


class AgentLogs:
    """``with AgentLogs(tmp, "DEBUG") as logs: ...; logs.text()`` — file and console."""

    def __init__(self, logs_dir: Path, level: str = "DEBUG") -> None:
        self.logs_dir = logs_dir
        self.level = level
        self.console = io.StringIO()

    def __enter__(self) -> "AgentLogs":
        from tray_agent import logs

        root = logging.getLogger()
        self._saved = (list(root.handlers), root.level, logging.getLogRecordFactory(),
                       {n: logging.getLogger(n).level for n in logs.QUIET})
        real_stderr, sys.stderr = sys.stderr, self.console  # the console handler binds it now
        try:
            logs.configure(self.level, self.logs_dir)
        finally:
            sys.stderr = real_stderr
        return self

    @property
    def file(self) -> Path:
        from tray_agent.logs import LOG_FILE

        return self.logs_dir / LOG_FILE

    def text(self) -> str:
        """Everything written so far: the log file, then the console."""
        for h in logging.getLogger().handlers:
            h.flush()
        written = self.file.read_text(encoding="utf-8") if self.file.exists() else ""
        return written + self.console.getvalue()

    def __exit__(self, *exc: object) -> None:
        handlers, level, factory, quiet = self._saved
        root = logging.getLogger()
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
                h.close()
        root.setLevel(level)
        logging.setLogRecordFactory(factory)
        for name, lvl in quiet.items():
            logging.getLogger(name).setLevel(lvl)
