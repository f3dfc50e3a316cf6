"""How the conformance suite drives the SMS channel: a channel pointed at the sandbox's
Twilio, and webhooks signed with the official twilio package's RequestValidator."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from twilio.request_validator import RequestValidator

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.testing import AgentUnderTest, ChannelHarness, WebhookRequest

NAME = "Test SMS"


def channel_settings(sandbox: Sandbox, **extra: Any) -> dict[str, Any]:
    return {"account_sid": sandbox.creds.twilio_account_sid, "api_base": sandbox.url, "poll": "off",
            "timeout_seconds": 3, **extra}


def add_sms_channel(agent: AgentUnderTest, sandbox: Sandbox, name: str = NAME, **extra: Any) -> int:
    cid = agent.add_channel("sms", name, sandbox.creds.sms_number, channel_settings(sandbox, **extra))
    agent.set_secret(name, "auth_token", sandbox.creds.twilio_auth_token)
    sandbox.register_sms(agent.webhook_url(cid, "inbound"))
    return cid


def signed(token: str, url: str, params: list[tuple[str, str]], path: str) -> WebhookRequest:
    signature = RequestValidator(token).compute_signature(url, dict(params))
    return WebhookRequest(path, urlencode(params).encode(),
                          {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})


class TwilioHarness(ChannelHarness):
    entry_point = "twilio"
    channel_type = "sms"
    signature_headers = ("X-Twilio-Signature",)
    status_callbacks = True
    customer = "+14155550123"

    def __init__(self, sandbox: Sandbox, admin: SandboxAdmin) -> None:
        self.sandbox = sandbox
        self.admin = admin

    @property
    def token(self) -> str:
        return self.sandbox.creds.twilio_auth_token

    def make_channel(self, agent: AgentUnderTest) -> int:
        self.admin.options(auto_status=False)  # the suite sends its own status callbacks
        return add_sms_channel(agent, self.sandbox)

    def inbound_request(self, agent: AgentUnderTest, channel_id: int, *, provider_message_id: str,
                        text: str) -> WebhookRequest:
        params = [("MessageSid", provider_message_id), ("SmsSid", provider_message_id),
                  ("AccountSid", self.sandbox.creds.twilio_account_sid), ("From", self.customer),
                  ("To", self.sandbox.creds.sms_number), ("Body", text), ("NumMedia", "0")]
        return signed(self.token, agent.webhook_url(channel_id, "inbound"), params, "inbound")

    def sign(self, agent: AgentUnderTest, channel_id: int, request: WebhookRequest) -> WebhookRequest:
        params = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        url = agent.webhook_url(channel_id, request.path)
        sig = RequestValidator(self.token).compute_signature(url, dict(params))
        return request.with_headers(**{"X-Twilio-Signature": sig})

    def fake_provider_fail_next(self, status: int, retry_after: float | None = None) -> None:
        self.admin.fault(provider="twilio", status=status, retry_after=retry_after, method="POST", path="/Messages.json")

    def sent_texts(self) -> list[str]:
        return [m["text"] for m in self.admin.outbound("sms")]

    def status_request(self, agent: AgentUnderTest, channel_id: int, provider_message_id: str,
                       status: str) -> WebhookRequest:
        params = [("MessageSid", provider_message_id), ("SmsSid", provider_message_id), ("MessageStatus", status),
                  ("SmsStatus", status), ("AccountSid", self.sandbox.creds.twilio_account_sid),
                  ("From", self.sandbox.creds.sms_number), ("To", self.customer), ("ApiVersion", "2010-04-01")]
        if status == "failed":
            params.append(("ErrorCode", "30003"))
        return signed(self.token, agent.webhook_url(channel_id, "status"), params, "status")
