"""Running the sandbox beside the agent when nothing real is configured: start it in its own
process (``sandbox.process``: what it keeps costs the agent nothing) on a free loopback
port, point a "Sandbox SMS" and a "Sandbox WhatsApp" channel at it and its
webhooks at the agent, so a new user sees the product work offline through the same
plugins and code paths as production.

The sandbox's fake credentials reach the channels through ``credentials.hold``: in this
process's memory (the child gets them over a pipe), released on stop — never written to
the config file, the store or a log, and not in the environment (the window process
would inherit them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tray_agent import credentials
from tray_agent.sandbox.process import SandboxProcess

if TYPE_CHECKING:
    from tray_agent.app import App

log = logging.getLogger(__name__)

SMS_NAME = "Sandbox SMS"
WHATSAPP_NAME = "Sandbox WhatsApp"
#: The webhook paths the two first-party plugins serve under /webhooks/{channel_id}/.
TWILIO_INBOUND_PATH = "inbound"
WHATSAPP_EVENTS_PATH = "events"


class AutoSandbox:
    def __init__(self, sandbox: SandboxProcess, held: list[tuple[str, str]]) -> None:
        self.sandbox = sandbox
        self.held = held  # (channel, credential) names given to ``credentials.hold``
        self.verifier: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        if self.verifier is not None:
            self.verifier.cancel()
        await asyncio.to_thread(self.sandbox.stop)
        for channel, name in self.held:
            credentials.release(channel, name)


async def start_for(app: "App", base: str, serving: Callable[[], bool]) -> AutoSandbox | None:
    """Start the sandbox for ``app``, whose webhooks are at ``base``; ``serving()`` says
    when the agent answers there (the WhatsApp callback is verified then)."""
    have = [k for k in ("sms", "whatsapp") if k in app.channel_types]
    if not have:
        log.info("the provider sandbox is not started: neither the sms nor the whatsapp plugin is installed")
        return None
    sandbox = await asyncio.to_thread(SandboxProcess(port=app.config.sandbox.port or 0).start)
    creds = sandbox.creds
    held: list[tuple[str, str]] = []
    auto = AutoSandbox(sandbox, held)

    def hold(channel: str, name: str, value: str) -> None:
        credentials.hold(channel, name, value)
        held.append((channel, name))

    if "sms" in have:
        ch = _ensure(app, "sms", SMS_NAME, creds.sms_number, {
            "account_sid": creds.twilio_account_sid, "api_base": sandbox.url, "poll": "off"})
        hold(SMS_NAME, "auth_token", creds.twilio_auth_token)
        await asyncio.to_thread(sandbox.register_sms, f"{base}/webhooks/{ch}/{TWILIO_INBOUND_PATH}")
    if "whatsapp" in have:
        ch = _ensure(app, "whatsapp", WHATSAPP_NAME, creds.whatsapp_number, {
            "phone_number_id": creds.phone_number_id, "waba_id": creds.waba_id, "api_base": sandbox.url,
            "api_version": creds.graph_version})
        hold(WHATSAPP_NAME, "access_token", creds.meta_access_token)
        hold(WHATSAPP_NAME, "app_secret", creds.meta_app_secret)
        hold(WHATSAPP_NAME, "verify_token", creds.meta_verify_token)
        await asyncio.to_thread(sandbox.register_whatsapp, f"{base}/webhooks/{ch}/{WHATSAPP_EVENTS_PATH}")
        auto.verifier = asyncio.get_running_loop().create_task(_verify_when_serving(serving, sandbox))
    real = [c.name for c in app.inbox.list_channels() if (c.settings or {}).get("source") != "sandbox"]
    if real:
        log.info("the provider sandbox runs beside %s ([sandbox] mode = on) at %s (customer phone: %s/)",
                 ", ".join(real), sandbox.url, sandbox.url)
    else:
        log.info("no channel is configured: the provider sandbox runs at %s (customer phone: %s/)", sandbox.url, sandbox.url)
    return auto


def _ensure(app: "App", kind: str, name: str, address: str, settings: dict[str, Any]) -> int:
    """The sandbox channel of this name, (re)pointed at this run's sandbox."""
    settings = {**settings, "source": "sandbox"}
    for ch in app.inbox.list_channels(include_disabled=True):
        if ch.name == name:
            app.inbox.update_channel(ch.id, settings=settings, business_address=address, enabled=True)
            return ch.id
    return app.inbox.add_channel(kind, name, address, settings).id


async def _verify_when_serving(serving: Callable[[], bool], sandbox: SandboxProcess) -> None:
    """Meta verifies a callback URL when it is set: do the same once the agent answers."""
    for _ in range(600):
        if serving():
            break
        await asyncio.sleep(0.05)
    ok, detail = await sandbox.verify_whatsapp()
    (log.info if ok else log.warning)("sandbox WhatsApp webhook %s", detail)
