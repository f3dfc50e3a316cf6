"""The channel cache after a channel changes: a refused write that next touches the channel
must not poison later requests, nor lose the customer messages arriving meanwhile."""

from __future__ import annotations

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.channels.live import Live
from tests.channels.test_chan_webhooks import post_twilio, twilio_form


def _client(live: Live) -> httpx.Client:
    return httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {live.server.token}"}, timeout=10)


@pytest.mark.parametrize("refresh", ["patch", "health"])
@pytest.mark.parametrize("refused", ["closed conversation", "empty reply"])
def test_a_refused_reply_after_a_channel_change_leaves_the_channel_working(live: Live, refresh: str,
                                                                         refused: str) -> None:
    token, url = live.sandbox.creds.twilio_auth_token, live.hook(live.sms, "inbound")
    form = twilio_form(live, "SM" + "a" * 32, "first")
    assert post_twilio(live, form, RequestValidator(token).compute_signature(url, dict(form))).status_code == 200
    conv = live.conversation(live.sms)
    with _client(live) as c:
        if refused == "closed conversation":
            assert c.post(f"/api/conversations/{conv.id}/close").status_code == 200
        if refresh == "patch":
            assert c.patch(f"/api/channels/{live.sms}", json={"auto_close_seconds": 3600}).status_code == 200
        else:
            live.app.inbox.set_channel_health(live.sms, False, "provider unreachable")
        r = c.post(f"/api/conversations/{conv.id}/messages", json={"text": "" if refused == "empty reply" else "a"})
        assert r.status_code == (409 if refused == "closed conversation" else 422), r.text
        # Everything touching the channel still answers...
        assert c.get("/api/inbox").status_code == 200
        assert c.get(f"/api/conversations/{conv.id}").status_code == 200
        assert c.get(f"/api/channels/{live.sms}").status_code == 200
    # ...and the customer's next SMS, signed as Twilio signs it, is stored.
    form = twilio_form(live, "SM" + "b" * 32, "are you there?")
    r = post_twilio(live, form, RequestValidator(token).compute_signature(url, dict(form)))
    assert r.status_code == 200, r.text
    texts = [m.text for cv in live.conversations(live.sms) for m in live.messages(cv.id)]
    assert "are you there?" in texts
