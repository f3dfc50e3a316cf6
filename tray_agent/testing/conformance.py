"""The channel conformance tests: what every channel plugin must do, checked over real HTTP
against the plugin's own fake provider. Subclass ``ChannelConformance`` in a test module
and provide a ``channel_harness`` fixture returning your ``ChannelHarness``."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from tray_agent.channels import ChannelType
from tray_agent.core.clock import utc
from tray_agent.core.rules import PRODUCT_MAX_FILE_BYTES, ChannelRules
from tray_agent.testing.agent import AgentUnderTest
from tray_agent.testing.harness import ChannelHarness

GROUP = "tray_agent"


def _new_id() -> str:
    return f"conf-{uuid.uuid4().hex[:12]}"


class ChannelConformance:
    """Inherit from this in a class named ``Test...``; every test below runs for your channel."""

    # -- fixtures ----------------------------------------------------------------------

    @pytest.fixture
    def channel_harness(self) -> ChannelHarness:
        raise NotImplementedError("define a `channel_harness` fixture returning your ChannelHarness")

    @pytest.fixture
    def agent(self, channel_harness: ChannelHarness, tmp_path: Path) -> Iterator[AgentUnderTest]:
        agent = AgentUnderTest(tmp_path / "tray-agent-home", [channel_harness.entry_point]).start()
        try:
            yield agent
        finally:
            agent.close()

    @pytest.fixture
    def channel(self, agent: AgentUnderTest, channel_harness: ChannelHarness) -> int:
        assert channel_harness.channel_type in agent.app.channel_types, (
            f"entry point {channel_harness.entry_point!r} did not register channel type "
            f"{channel_harness.channel_type!r}; plugin errors: {agent.plugins.failures}")
        channel_id = channel_harness.make_channel(agent)
        agent.start_channels()
        agent.adapter(channel_id)  # fails with the start-up error if the factory raised
        return channel_id

    # -- helpers -----------------------------------------------------------------------

    def _receive(self, agent: AgentUnderTest, harness: ChannelHarness, channel: int,
                 text: str = "Hello, is anyone there?") -> int:
        """Deliver one customer message; return its conversation id."""
        pid = _new_id()
        r = agent.post(channel, harness.inbound_request(agent, channel, provider_message_id=pid, text=text))
        assert r.status_code < 300, f"a valid signed inbound webhook was refused: {r.status_code} {r.text}"
        convs = [c for c in agent.conversations(channel) if c.last_message_preview.startswith(text[:20])]
        assert convs, "the inbound message was acknowledged but no conversation shows it"
        return convs[0].id

    def _reply(self, agent: AgentUnderTest, conversation_id: int, text: str) -> int:
        return agent.reply(conversation_id, text).id

    # -- declaration -------------------------------------------------------------------

    def test_plugin_is_installed_under_the_tray_agent_entry_point_group(self, channel_harness: ChannelHarness) -> None:
        names = {ep.name for ep in metadata.entry_points(group=GROUP)}
        assert channel_harness.entry_point in names, (
            f"no entry point {channel_harness.entry_point!r} in group {GROUP!r}; is the package installed?")

    def test_declares_rules_and_icon(self, agent: AgentUnderTest, channel_harness: ChannelHarness) -> None:
        ctype: ChannelType = agent.app.channel_types[channel_harness.channel_type]
        assert ctype.label.strip(), "a channel type needs a label people can read"
        rules = ctype.rules
        assert isinstance(rules, ChannelRules)
        assert rules.address_kind in ("phone", "opaque")
        assert 0 < rules.max_file_bytes <= PRODUCT_MAX_FILE_BYTES
        assert all(0 < limit <= rules.max_file_bytes for limit in rules.native_file_limits.values())
        assert rules.max_text_chars > 0
        assert rules.reply_window is None or rules.reply_window.total_seconds() > 0
        assert rules.file_retention.total_seconds() > 0
        root = ET.fromstring(ctype.icon_svg)
        assert root.tag.endswith("svg"), "icon_svg must be SVG markup"
        assert root.get("viewBox"), "the icon needs a viewBox so it scales to every size"
        assert all(desc.strip() for desc in {**ctype.settings, **ctype.secrets}.values()), (
            "every setting and secret needs a one-line description")
        assert ctype.poll_interval is None or ctype.poll_interval > 0

    # -- inbound -------------------------------------------------------------------------

    def test_signed_inbound_message_is_stored(self, agent: AgentUnderTest, channel_harness: ChannelHarness,
                                               channel: int) -> None:
        cid = self._receive(agent, channel_harness, channel, "First message from the conformance suite")
        msgs = agent.messages(cid)
        assert [m.text for m in msgs if m.direction == "in"] == ["First message from the conformance suite"]

    def test_same_provider_message_is_stored_once(self, agent: AgentUnderTest, channel_harness: ChannelHarness,
                                                   channel: int) -> None:
        req = channel_harness.inbound_request(agent, channel, provider_message_id=_new_id(), text="Only once, please")
        first, again = agent.post(channel, req), agent.post(channel, req)
        assert first.status_code < 300 and again.status_code < 300, (
            "a provider re-delivering a message must get a success answer, or it retries forever")
        convs = agent.conversations(channel)
        assert len(convs) == 1
        assert [m.text for m in agent.messages(convs[0].id) if m.direction == "in"] == ["Only once, please"]

    def test_unsigned_webhook_is_refused(self, agent: AgentUnderTest, channel_harness: ChannelHarness,
                                         channel: int) -> None:
        req = channel_harness.inbound_request(agent, channel, provider_message_id=_new_id(), text="forged")
        r = agent.post(channel, channel_harness.unsigned(req))
        assert r.status_code in (401, 403), f"an unsigned webhook got {r.status_code}"
        assert agent.conversations(channel) == []

    def test_badly_signed_webhook_is_refused(self, agent: AgentUnderTest, channel_harness: ChannelHarness,
                                             channel: int) -> None:
        req = channel_harness.inbound_request(agent, channel, provider_message_id=_new_id(), text="forged")
        r = agent.post(channel, channel_harness.badly_signed(req))
        assert r.status_code in (401, 403), f"a badly signed webhook got {r.status_code}"
        assert agent.conversations(channel) == []

    def test_bad_payloads_do_not_crash_the_agent(self, agent: AgentUnderTest, channel_harness: ChannelHarness,
                                                 channel: int) -> None:
        inbound = channel_harness.inbound_request(agent, channel, provider_message_id=_new_id(), text="x")
        for bad in channel_harness.bad_payloads(inbound):
            r = agent.post(channel, channel_harness.sign(agent, channel, bad))
            assert r.status_code < 500, f"body {bad.body[:40]!r} made the webhook fail with {r.status_code}"
        assert agent.alive()
        self._receive(agent, channel_harness, channel, "Still working after garbage")

    # -- outbound ------------------------------------------------------------------------

    def test_reply_is_sent_through_the_provider(self, agent: AgentUnderTest, channel_harness: ChannelHarness,
                                                channel: int) -> None:
        cid = self._receive(agent, channel_harness, channel)
        mid = self._reply(agent, cid, "Hi! How can we help?")
        assert agent.drain_outbox() == 1
        m = agent.message(mid)
        assert m.status in ("sent", "delivered"), f"status {m.status}: {m.status_reason}"
        assert channel_harness.sent_texts().count("Hi! How can we help?") == 1

    @pytest.mark.parametrize("status,retry_after", [(429, 7.0), (500, None), (503, None)])
    def test_provider_failure_is_retried_and_nothing_is_lost(
        self, agent: AgentUnderTest, channel_harness: ChannelHarness, channel: int,
        status: int, retry_after: float | None,
    ) -> None:
        cid = self._receive(agent, channel_harness, channel)
        text = f"Reply surviving a {status}"
        channel_harness.fake_provider_fail_next(status, retry_after)
        mid = self._reply(agent, cid, text)
        agent.drain_outbox()
        m = agent.message(mid)
        assert m.status == "queued", (
            f"after a {status} the message must wait for a retry (ProviderError(retryable=True)), "
            f"not end as {m.status!r}: {m.status_reason}")
        due = agent.app.inbox.outbox_next_due_at()
        assert due is not None
        wait = (utc(due) - agent.clock.now()).total_seconds()
        if retry_after is not None:
            assert retry_after - 2 <= wait <= retry_after + 1, (
                f"the provider asked to wait {retry_after}s (ProviderError.retry_after); retry is due in {wait:.1f}s")
        assert text not in channel_harness.sent_texts()
        agent.clock.advance(400)
        agent.drain_outbox()
        m = agent.message(mid)
        assert m.status in ("sent", "delivered"), f"after the retry: {m.status}: {m.status_reason}"
        assert channel_harness.sent_texts().count(text) == 1

    def test_provider_refusal_fails_the_message_with_a_reason(
        self, agent: AgentUnderTest, channel_harness: ChannelHarness, channel: int,
    ) -> None:
        cid = self._receive(agent, channel_harness, channel)
        channel_harness.fake_provider_fail_next(400)
        mid = self._reply(agent, cid, "This one the provider refuses")
        agent.drain_outbox()
        m = agent.message(mid)
        assert m.status == "failed", "a 400 is not retryable: the message must fail visibly"
        assert m.status_reason and "\n" not in m.status_reason.strip()
        assert agent.app.inbox.outbox_next_due_at() is None

    def test_status_only_moves_forward(self, agent: AgentUnderTest, channel_harness: ChannelHarness,
                                       channel: int) -> None:
        if not channel_harness.status_callbacks:
            pytest.skip(f"{channel_harness.channel_type} providers send no delivery statuses")
        cid = self._receive(agent, channel_harness, channel)
        mid = self._reply(agent, cid, "Track my delivery")
        agent.drain_outbox()
        pid = _provider_id(agent, mid)
        assert pid, "a sent message must carry the provider's message id"
        for status, expected in (("delivered", "delivered"), ("sent", "delivered"), ("failed", "delivered")):
            r = agent.post(channel, channel_harness.status_request(agent, channel, pid, status))
            assert r.status_code < 300, f"status callback {status!r} got {r.status_code} {r.text}"
            assert agent.message(mid).status == expected, f"after a late {status!r} callback"
        r = agent.post(channel, channel_harness.unsigned(channel_harness.status_request(agent, channel, pid, "read")))
        assert r.status_code in (401, 403), "an unsigned status callback must be refused"
        assert agent.message(mid).status == "delivered"


def _provider_id(agent: AgentUnderTest, message_id: int) -> str | None:
    from tray_agent.core.models import Message

    with agent.app.db.read() as s:
        msg = s.get(Message, message_id)
        return None if msg is None else msg.provider_message_id
