"""The bot token is in every Bot API URL (``/bot<token>/getUpdates``, ``/file/bot<token>/…``):
with the agent's logging set-up at DEBUG, real polling, downloads, replies and failures
leave it in no log line, console line or error a user sees."""

from __future__ import annotations

import httpx

from fake_telegram_botapi import BOT_USERNAME, TOKEN, FakeTelegram
from tray_agent.core.errors import ProviderError
from tray_agent.testing import AgentUnderTest
from tray_agent.testing.agent import TOKEN as API_TOKEN
from tray_agent.testing.logcapture import AgentLogs

CHAT = 777002
WEBHOOK_SECRET = "hook_secret_value"


def test_polling_downloads_replies_and_failures_at_debug_log_no_bot_token(
        agent_under_test, fake_telegram: FakeTelegram, agent_logs: AgentLogs) -> None:  # type: ignore[no-untyped-def]
    agent: AgentUnderTest = agent_under_test(["telegram"])
    agent.set_secret("tg", "bot_token", TOKEN)
    agent.set_secret("tg", "webhook_secret", WEBHOOK_SECRET)
    cid = agent.add_channel("telegram", "tg", f"@{BOT_USERNAME}", {"api_base": fake_telegram.url, "poll_timeout": "1"})
    agent.start_channels()
    fake_telegram.customer_writes(CHAT, "My invoice", document=("invoice.pdf", b"%PDF-1.7 invoice", "application/pdf"))
    agent.poll(cid)
    [conv] = agent.conversations()
    agent.reply(conv.id, "Thanks, received")
    agent.drain_outbox()
    assert [s.text for s in fake_telegram.sent] == ["Thanks, received"]
    fake_telegram.fail_next.append((401, None))
    failed = agent.reply(conv.id, "Refused by Telegram")
    agent.drain_outbox()
    assert agent.message(failed.id).status == "failed"
    agent.check_health(cid)

    logged = agent_logs.text()
    assert " DEBUG " in logged
    assert TOKEN not in logged and TOKEN.split(":", 1)[1] not in logged
    assert WEBHOOK_SECRET not in logged
    for path in ("/api/channels", f"/api/conversations/{conv.id}/messages"):
        r = agent.http.get(path, headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert r.status_code == 200 and TOKEN not in r.text


def test_an_http_error_quoting_the_bot_api_url_shows_no_token() -> None:
    """httpx's own errors name the URL they failed on; the user's one line must not."""
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates"
    try:
        httpx.Response(502, request=httpx.Request("POST", url)).raise_for_status()
    except httpx.HTTPStatusError as exc:
        error = ProviderError(f"Telegram could not be reached: {exc}", retryable=True)
    assert TOKEN not in error.message and TOKEN not in str(error)
    assert "api.telegram.org/bot***/getUpdates" in error.message
