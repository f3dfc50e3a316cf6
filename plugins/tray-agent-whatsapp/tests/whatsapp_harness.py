"""How the conformance suite drives the WhatsApp channel: a channel pointed at the
sandbox's Cloud API, and notifications signed with X-Hub-Signature-256 over raw bytes."""

from __future__ import annotations

import json
from typing import Any

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.sandbox.webhooks import meta_signature
from tray_agent.testing import AgentUnderTest, ChannelHarness, WebhookRequest

NAME = "Test WhatsApp"


def add_whatsapp_channel(agent: AgentUnderTest, sandbox: Sandbox, name: str = NAME, **extra: Any) -> int:
    c = sandbox.creds
    cid = agent.add_channel("whatsapp", name, c.whatsapp_number, {
        "phone_number_id": c.phone_number_id, "api_base": sandbox.url, "api_version": c.graph_version,
        "timeout_seconds": 3, **extra})
    agent.set_secret(name, "access_token", c.meta_access_token)
    agent.set_secret(name, "app_secret", c.meta_app_secret)
    agent.set_secret(name, "verify_token", c.meta_verify_token)
    sandbox.register_whatsapp(agent.webhook_url(cid, "events"))
    return cid


def notification(sandbox: Sandbox, value: dict[str, Any]) -> dict[str, Any]:
    c = sandbox.creds
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": c.whatsapp_number.lstrip("+"), "phone_number_id": c.phone_number_id},
             **value}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": c.waba_id, "changes": [{"field": "messages", "value": value}]}]}


def signed(sandbox: Sandbox, payload: dict[str, Any] | bytes) -> WebhookRequest:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return WebhookRequest("events", body, {"Content-Type": "application/json",
                                           "X-Hub-Signature-256": meta_signature(sandbox.creds.meta_app_secret, body)})


def text_message(sandbox: Sandbox, wamid: str, customer: str, text: str, name: str = "Sam") -> dict[str, Any]:
    wa_id = customer.lstrip("+")
    return notification(sandbox, {
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": wamid, "timestamp": str(int(sandbox.state.now().timestamp())),
                      "type": "text", "text": {"body": text}}]})


class WhatsAppHarness(ChannelHarness):
    entry_point = "whatsapp"
    channel_type = "whatsapp"
    signature_headers = ("X-Hub-Signature-256",)
    status_callbacks = True
    customer = "+14155550123"

    def __init__(self, sandbox: Sandbox, admin: SandboxAdmin) -> None:
        self.sandbox = sandbox
        self.admin = admin

    def make_channel(self, agent: AgentUnderTest) -> int:
        self.admin.options(auto_status=False)  # the suite sends its own status callbacks
        return add_whatsapp_channel(agent, self.sandbox)

    def inbound_request(self, agent: AgentUnderTest, channel_id: int, *, provider_message_id: str,
                        text: str) -> WebhookRequest:
        # The customer wrote, as far as the sandbox's 24-hour rule is concerned, too.
        state = self.sandbox.state
        with state.lock:
            state.last_inbound[(self.sandbox.creds.phone_number_id, self.customer.lstrip("+"))] = state.now()
        return signed(self.sandbox, text_message(self.sandbox, provider_message_id, self.customer, text))

    def sign(self, agent: AgentUnderTest, channel_id: int, request: WebhookRequest) -> WebhookRequest:
        sig = meta_signature(self.sandbox.creds.meta_app_secret, request.body)
        return request.with_headers(**{"X-Hub-Signature-256": sig})

    def fake_provider_fail_next(self, status: int, retry_after: float | None = None) -> None:
        self.admin.fault(provider="meta", status=status, retry_after=retry_after, method="POST", path="/messages")

    def sent_texts(self) -> list[str]:
        return [m["text"] for m in self.admin.outbound("whatsapp")]

    def status_request(self, agent: AgentUnderTest, channel_id: int, provider_message_id: str,
                       status: str) -> WebhookRequest:
        item: dict[str, Any] = {"id": provider_message_id, "status": status, "recipient_id": self.customer.lstrip("+"),
                                "timestamp": str(int(self.sandbox.state.now().timestamp()))}
        if status == "failed":
            item["errors"] = [{"code": 131026, "title": "Message undeliverable"}]
        return signed(self.sandbox, notification(self.sandbox, {"statuses": [item]}))
