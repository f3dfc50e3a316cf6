"""The local provider sandbox: fake Twilio and Meta WhatsApp Cloud API servers on loopback,
speaking the real protocols (auth, signatures, paging, media, the 24-hour rule, faults),
plus a customer-phone page, so the whole product works offline through production code.
"""

from __future__ import annotations

from tray_agent.sandbox.server import Sandbox, create_app
from tray_agent.sandbox.state import SandboxCredentials, SandboxState

__all__ = ["Sandbox", "SandboxCredentials", "SandboxState", "create_app"]
