"""Files over HTTP: uploads streamed into the store under the channel's limit (413 before
anything is stored), replies and new conversations with files, and downloads whose
Content-Disposition no file name can break."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from tests.api.conftest import TINY_LIMIT, raw_request
from tests.api.live import PNG


def _conv(agent, address: str, channel=None) -> int:  # type: ignore[no-untyped-def]
    return agent.conversation_of(agent.inbound(channel or agent.sms, address, "hello"))


def _upload(client, data: bytes, name: str = "notes.txt", mime: str = "text/plain", **target):  # type: ignore[no-untyped-def]
    return client.post("/api/uploads", params=target, content=data,
                       headers={"X-File-Name": quote(name), "Content-Type": mime})


def _staging(agent) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(p.name for p in agent.inbox.files.staging.iterdir())


def test_upload_then_reply_with_the_file_then_download_it(agent, client):
    conv = _conv(agent, "+14155550201")
    up = _upload(client, b"line one\n", "Quarterly report.txt", conversation_id=conv)
    assert up.status_code == 201
    u = up.json()
    assert u["file_name"] == "Quarterly report.txt" and u["size"] == 9 and u["mime_type"] == "text/plain"
    m = client.post(f"/api/conversations/{conv}/messages", json={"text": "", "uploads": [u["upload_id"]]}).json()
    assert m["kind"] == "file" and m["attachments"][0]["file_name"] == "Quarterly report.txt"
    d = client.get(f"/api/attachments/{m['attachments'][0]['id']}")
    assert d.status_code == 200 and d.content == b"line one\n"
    assert d.headers["content-disposition"] == \
        "attachment; filename=\"Quarterly report.txt\"; filename*=UTF-8''Quarterly%20report.txt"
    assert d.headers["content-type"] == "application/octet-stream" and "sandbox" in d.headers["content-security-policy"]
    # The same upload cannot be sent twice.
    again = client.post(f"/api/conversations/{conv}/messages", json={"uploads": [u["upload_id"]]})
    assert again.status_code == 422 and "upload the file again" in again.json()["message"]


def test_a_new_conversation_can_carry_a_file_uploaded_for_its_channel(agent, client):
    u = _upload(client, PNG, "logo.png", "image/png", channel_id=agent.sms.id).json()
    r = client.post("/api/conversations", json={"channel_id": agent.sms.id, "customer_address": "+14155550202",
                                                "text": "our logo", "uploads": [u["upload_id"]]})
    assert r.status_code == 201 and r.json()["message"]["attachments"][0]["mime_type"] == "image/png"
    aid = r.json()["message"]["attachments"][0]["id"]
    inline = client.get(f"/api/attachments/{aid}", params={"inline": "true"})
    assert inline.headers["content-type"] == "image/png" and inline.headers["content-disposition"].startswith("inline;")


def test_an_upload_over_the_limit_by_content_length_is_refused_before_its_body_is_read(agent):
    conv = _conv(agent, "+14155550203")
    before = _staging(agent)
    host = agent.url[7:]
    status, _, body = raw_request(agent, (
        f"POST /api/uploads?conversation_id={conv} HTTP/1.1\nHost: {host}\nAuthorization: Bearer {agent.token}\n"
        f"X-File-Name: big.iso\nContent-Type: application/octet-stream\nContent-Length: 150000000"))
    assert status == 413
    assert b"'big.iso' is 150 MB; Fake SMS takes files up to 100 MB. It was not uploaded." in body
    assert _staging(agent) == before


def test_a_streamed_upload_is_cut_off_as_soon_as_it_passes_the_limit(agent, client):
    tiny = agent.inbox.add_channel("fake-tiny", "Tiny", "+14155550199")
    conv = _conv(agent, "+14155550204", channel=tiny)
    before = _staging(agent)

    def chunks():  # no Content-Length: chunked transfer, checked as it streams
        for _ in range(100):
            yield b"x" * 4096

    r = client.post("/api/uploads", params={"conversation_id": conv}, content=chunks(),
                    headers={"X-File-Name": "stream.bin"})
    assert r.status_code == 413 and r.json()["error"] == "file_too_large"
    assert r.json()["message"] == "'stream.bin' is over the 64 kB limit; it was not uploaded."
    assert _staging(agent) == before
    ok = _upload(client, b"y" * TINY_LIMIT, "exactly.bin", conversation_id=conv)
    assert ok.status_code == 201 and ok.json()["size"] == TINY_LIMIT


@pytest.mark.parametrize("mangle", ["forged", "foreign", "garbage"])
def test_forged_or_foreign_upload_ids_are_refused(agent, client, mangle):
    conv = _conv(agent, "+14155550205")
    uid = _upload(client, b"data", conversation_id=conv).json()["upload_id"]
    body, mac = uid.split(".")
    bad = {"forged": body + "." + ("0" * len(mac)), "garbage": "not-an-id",
           "foreign": uid}[mangle]
    if mangle == "foreign":
        # Bea cannot use Alex's upload: the id is bound to the agent that uploaded it.
        from tray_agent.api import uploads

        class Req:  # the signing key is derived from the token, as in a request
            app = type("A", (), {"state": type("S", (), {"tray": agent.server.runner.state})()})()

        with pytest.raises(Exception, match="belongs to another agent"):
            uploads.resolve(Req(), agent.bea.id, [uid])  # type: ignore[arg-type]
        return
    r = client.post(f"/api/conversations/{conv}/messages", json={"uploads": [bad]})
    assert r.status_code == 422 and r.json()["message"] == "That upload id is not valid; upload the file again."


def test_upload_refusals(agent, client):
    conv = _conv(agent, "+14155550206")
    assert _upload(client, b"x").status_code == 422  # neither target
    assert _upload(client, b"x", conversation_id=conv, channel_id=agent.sms.id).status_code == 422
    assert _upload(client, b"x", conversation_id=999999).status_code == 404
    assert _upload(client, b"x", channel_id=999).status_code == 404
    empty = _upload(client, b"", conversation_id=conv)
    assert empty.status_code == 422 and empty.json()["message"] == "'notes.txt' is empty."
    no_name = client.post("/api/uploads", params={"conversation_id": conv}, content=b"x")
    assert no_name.status_code == 422 and "x-file-name" in no_name.json()["message"]
    # WhatsApp takes images up to 5 MB and cannot send bigger ones as links: refused at send.
    wa = _conv(agent, "+14155550207", channel=agent.wa)
    big = _upload(client, b"\0" * 5_100_000, "photo.png", "image/png", conversation_id=wa).json()
    r = client.post(f"/api/conversations/{wa}/messages", json={"uploads": [big["upload_id"]]})
    assert r.status_code == 413 and r.json()["message"] == \
        "Fake WhatsApp takes image/png files up to 5 MB; this one is 5.1 MB."


@pytest.mark.parametrize("name,fallback,encoded", [
    ('evil"; filename="x.exe', 'evil__ filename=_x.exe', "evil_%3B%20filename%3D_x.exe"),
    ("naïve résumé.pdf", "na_ve r_sum_.pdf", "na%C3%AFve%20r%C3%A9sum%C3%A9.pdf"),
    ("photo\u202egnp.exe", "photognp.exe", "photognp.exe"),
    ("a\r\nSet-Cookie: x=1.txt", "a_Set-Cookie_ x=1.txt", "a_Set-Cookie_%20x%3D1.txt"),
    ("100%.txt", "100_.txt", "100%25.txt"),
])
def test_downloads_name_the_file_safely(agent, client, name, fallback, encoded):
    conv = agent.conversation_of(agent.inbound(agent.sms, "+14155550208", "",
                                               files=((name, "text/html", b"<script>alert(1)</script>"),)))
    aid = agent.inbox.history(agent.me.id, conv).items[-1].attachments[-1].id
    r = client.get(f"/api/attachments/{aid}", params={"inline": "true"})
    assert r.headers["content-disposition"] == f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    assert r.headers["content-type"] == "application/octet-stream"  # HTML never rendered
    assert "set-cookie" not in r.headers


def test_unknown_foreign_and_expired_files_are_404(agent, client):
    assert client.get("/api/attachments/999999").status_code == 404
    conv = agent.conversation_of(agent.inbound(agent.sms, "+14155550209", "", files=(("a.txt", "text/plain", b"a"),)))
    aid = agent.inbox.history(agent.me.id, conv).items[-1].attachments[0].id
    agent.inbox.claim(agent.bea.id, conv)
    assert client.get(f"/api/attachments/{aid}").status_code == 404  # Bea's conversation now
    mine = agent.conversation_of(agent.inbound(agent.sms, "+14155550210", "", files=(("b.txt", "text/plain", b"b"),)))
    bid = agent.inbox.history(agent.me.id, mine).items[-1].attachments[0].id
    agent.inbox.expire_files(now=agent.clock.now() + timedelta(hours=25))
    r = client.get(f"/api/attachments/{bid}")
    assert r.status_code == 404 and r.json()["message"] == "'b.txt' has expired and was deleted."
    assert client.get(f"/api/conversations/{mine}/messages").json()["items"][-1]["attachments"][0]["expired"] is True
