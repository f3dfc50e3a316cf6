"""The channel conformance suite, run for the WhatsApp channel against the sandbox's Cloud API."""

from __future__ import annotations

import pytest

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.testing import ChannelConformance
from whatsapp_harness import WhatsAppHarness


class TestWhatsAppConformance(ChannelConformance):
    @pytest.fixture
    def channel_harness(self, sandbox: Sandbox, admin: SandboxAdmin) -> WhatsAppHarness:
        return WhatsAppHarness(sandbox, admin)
