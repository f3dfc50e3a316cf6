"""The channels' HTTP clients verify providers' certificates, all with the process's one
TLS context: each context built loads the whole CA bundle again (~0.9 MB resident)."""

from __future__ import annotations

import asyncio
import ssl

import httpx

from tray_agent import tls_context


def _context(client: httpx.Client | httpx.AsyncClient) -> ssl.SSLContext:
    return client._transport._pool._ssl_context  # type: ignore[union-attr]  # httpx's own transport


def test_every_built_in_channel_verifies_providers_with_one_shared_context() -> None:
    from tray_agent_telegram.botapi import BotApi
    from tray_agent_twilio.client import TwilioApi
    from tray_agent_whatsapp.client import GraphApi
    from tray_agent_yeastar.openapi import PSeriesApi

    async def async_clients() -> list[httpx.AsyncClient]:
        twilio = TwilioApi("", "AC1", lambda: "token")._http()
        whatsapp = GraphApi("", "v21.0", "123", lambda: "token")._http()
        telegram = BotApi("123:abc").client
        return [twilio, whatsapp, telegram]

    clients: list[httpx.Client | httpx.AsyncClient] = [*asyncio.run(async_clients())]
    pbx = PSeriesApi("https://pbx.example.test", "id", "secret")
    clients.append(pbx._http)
    shared = tls_context()
    assert shared.verify_mode == ssl.CERT_REQUIRED and shared.check_hostname
    assert shared.cert_store_stats()["x509_ca"] > 0  # the CA bundle is loaded
    assert [_context(c) is shared for c in clients] == [True] * 4
    # A PBX on a self-signed certificate is the one place verification may be turned off.
    unverified = PSeriesApi("https://pbx.example.test", "id", "secret", verify_tls=False)
    assert _context(unverified._http).verify_mode == ssl.CERT_NONE
    pbx.close()
    unverified.close()


def test_the_provider_sandbox_posts_its_webhooks_with_the_same_context() -> None:
    """The team server's ``--sandbox`` runs in the replica's process: one bundle for both."""
    from tray_agent.sandbox.state import SandboxState
    from tray_agent.sandbox.webhooks import Deliverer

    async def client_context() -> ssl.SSLContext:
        deliverer = Deliverer(SandboxState())
        try:
            return _context(deliverer._http())
        finally:
            await deliverer.aclose()

    assert asyncio.run(client_context()) is tls_context()
