"""The process's logging, set up once for the daemon and ``tray-agent serve``: the console
and ``logs/daemon.log`` at ``[log] level``, the HTTP clients' per-request lines quieted,
and no credential in any record, whichever handler writes it (``credentials.redact``)."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

from tray_agent import credentials

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE = "daemon.log"
#: Libraries that log every request URL (and so tokens in paths and queries) at INFO/DEBUG.
QUIET = ("httpx", "httpcore", "hpack", "urllib3", "websockets", "multipart")
_MARK = "_tray_agent"


class RedactingFormatter(logging.Formatter):
    """The last pass before a line is written: masks the message, traceback and stack."""

    def format(self, record: logging.LogRecord) -> str:
        return credentials.redact(super().format(record))


def _install_record_factory() -> None:
    """Mask credentials as each record is made, so handlers we did not install (uvicorn's,
    a plugin's, a test's capture) never see them either. Records below the level are never
    made, so this costs nothing for the lines not written."""
    current = logging.getLogRecordFactory()
    if getattr(current, _MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: let logging report it as it always does
            return record
        masked = credentials.redact(message)
        if masked != message:
            # Flattened only when something was masked: formatters that read the
            # arguments (uvicorn's access lines) keep them otherwise.
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = credentials.redact(logging.Formatter().formatException(record.exc_info))
        return record

    setattr(factory, _MARK, True)
    logging.setLogRecordFactory(factory)


def level_of(name: str) -> int:
    """``[log] level`` as a logging level (INFO when it names none)."""
    level = logging.getLevelName(str(name).strip().upper())
    return level if isinstance(level, int) else logging.INFO


def configure(level: str, logs_dir: Path | None) -> None:
    """Console (stderr) and, when ``logs_dir`` is writable, a rotating ``daemon.log``, both
    masking credentials; idempotent. Records reaching other handlers are masked too."""
    credentials.remember_environment()
    _install_record_factory()
    root = logging.getLogger()
    if not any(getattr(h, _MARK, False) for h in root.handlers):
        handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
        if logs_dir is not None:
            try:
                logs_dir.mkdir(parents=True, exist_ok=True)
                handlers.append(logging.handlers.RotatingFileHandler(
                    logs_dir / LOG_FILE, maxBytes=1_000_000, backupCount=2, encoding="utf-8"))
            except OSError:
                pass  # a read-only data directory: the console still has everything
        for h in handlers:
            h.setFormatter(RedactingFormatter(FORMAT))
            setattr(h, _MARK, True)
            root.addHandler(h)
    root.setLevel(level_of(level))
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def configure_app(app: Any) -> None:
    """``configure`` from an App's ``[log] level`` and logs directory."""
    configure(str(app.config.log.level), app.paths.logs)
