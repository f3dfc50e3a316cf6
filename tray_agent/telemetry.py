"""FastAPI's built-in OpenTelemetry, switched off in every app Tray Agent serves.

Since 0.165 FastAPI traces each request, and logs validation failures and exceptions with
their messages, as soon as any code in the process sets a global OpenTelemetry provider
(a channel plugin, an instrumentation wrapper) or ``FASTAPI_OTEL_AUTO_CONFIGURE`` is set.
Those records carry conversation paths and customers' message text to wherever that
provider exports. Message text stays on this machine and the team server, so the apps
opt out; older FastAPI has no such switch and nothing to switch off.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI

OFF = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False, "auto_configure": False}


def no_telemetry() -> dict[str, Any]:
    """Keyword arguments for ``FastAPI(...)``: ``telemetry`` off where FastAPI has it."""
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": dict(OFF)}
    return {}
