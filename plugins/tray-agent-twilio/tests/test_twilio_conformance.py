"""The channel conformance suite, run for the SMS channel against the sandbox's Twilio."""

from __future__ import annotations

import pytest

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.testing import ChannelConformance
from twilio_harness import TwilioHarness


class TestTwilioConformance(ChannelConformance):
    @pytest.fixture
    def channel_harness(self, sandbox: Sandbox, admin: SandboxAdmin) -> TwilioHarness:
        return TwilioHarness(sandbox, admin)
