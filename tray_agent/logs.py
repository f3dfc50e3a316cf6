"""The process's logging, set up once for the daemon and ``tray-agent serve``: the console
and ``logs/daemon.log`` at ``[log] level``, the HTTP clients' per-request lines quieted,
and no credential in any record, whichever handler writes it (``secrets.redact``)."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tray_agent import secrets

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE = "daemon.log"
#: Libraries that log every request URL (and so tokens in paths and queries) at INFO/DEBUG.
QUIET = ("httpx", "httpcore", "hpack", "urllib3", "websockets", "multipart")
_MARK = "_tray_agent"


class RedactingFormatter(logging.Formatter):
    """The last pass before a line is written: masks the message, traceback and stack."""

    def format(self, record: logging.LogRecord) -> str:
        return secrets.redact(super().format(record))


def _redacted_arg(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value  # keeps %d / %f working; numbers are not the credentials we know
    text = str(value)
    masked = secrets.redact(text)
    return value if masked == text else masked


def _redacted_args(args: Any) -> Any:
    if isinstance(args, Mapping):
        return {k: _redacted_arg(v) for k, v in args.items()}
    if isinstance(args, tuple):
        return tuple(_redacted_arg(a) for a in args)
    return args


def _install_record_factory() -> None:
    """Mask credentials as each record is made, so handlers we did not install (uvicorn's,
    a plugin's, a test's capture) never see them either. Records below the level are never
    made, so this costs nothing for the lines not written."""
    current = logging.getLogRecordFactory()
    if getattr(current, _MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        if isinstance(record.msg, str):
            record.msg = secrets.redact(record.msg)
        record.args = _redacted_args(record.args)
        if record.exc_info and not record.exc_text:
            record.exc_text = secrets.redact(logging.Formatter().formatException(record.exc_info))
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
    secrets.remember_environment()
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
