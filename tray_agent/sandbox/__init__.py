"""The local provider sandbox: fake Twilio and Meta WhatsApp Cloud API servers on loopback,
speaking the real protocols (auth, signatures, paging, media, the 24-hour rule, faults),
plus a customer-phone page, so the whole product works offline through production code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tray_agent.sandbox.server import Sandbox, create_app
    from tray_agent.sandbox.state import SandboxCredentials, SandboxState

__all__ = ["Sandbox", "SandboxCredentials", "SandboxState", "create_app"]


def __getattr__(name: str) -> Any:
    # Lazy: the agent's parent side (sandbox.process) needs the credentials only, not the
    # servers' routes, which load in the sandbox's own process.
    if name in ("Sandbox", "create_app"):
        from tray_agent.sandbox import server

        return getattr(server, name)
    if name in ("SandboxCredentials", "SandboxState"):
        from tray_agent.sandbox import state

        return getattr(state, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
