"""The kit for testing channel plugins: a real agent on loopback (``AgentUnderTest``), a
loopback server for fake providers (``LoopbackServer``), and the conformance suite every
channel plugin should pass (``ChannelHarness`` + ``ChannelConformance``).

Installed as a pytest plugin (entry point ``pytest11``), so its fixtures are available in
any test session where tray-agent is installed.
"""

from tray_agent.testing.agent import AgentUnderTest, OffsetClock, WebhookRequest
from tray_agent.testing.conformance import ChannelConformance
from tray_agent.testing.harness import ChannelHarness
from tray_agent.testing.loopback import LoopbackServer, free_port

__all__ = [
    "AgentUnderTest", "ChannelConformance", "ChannelHarness", "LoopbackServer", "OffsetClock",
    "WebhookRequest", "free_port",
]
