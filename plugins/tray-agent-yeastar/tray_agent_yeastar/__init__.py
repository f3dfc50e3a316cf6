"""Click-to-call through a Yeastar P-Series PBX, as a Tray Agent call handler.

Registers the ``yeastar`` handler; its settings live in ``[calls.yeastar]`` of config.toml,
its Client ID and Secret in the OS keyring. The HTTP and WebSocket clients load on first call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tray_agent import hookimpl


@hookimpl
def register_call_handlers(register: Callable[[Any], None]) -> None:
    from tray_agent_yeastar.handler import YeastarHandler

    register(YeastarHandler())
