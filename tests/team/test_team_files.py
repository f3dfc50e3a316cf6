"""Files from a team desktop: a reply with files is committed to the local outbox with its
files kept on this computer (readable while offline), then uploaded and sent once when the
server is reachable; the customer's channel receives the bytes."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote


from tray_agent.core.mirror import ECHO_BASE
from tests.server.live import Team
from tests.team.desktop import wait_for
from tests.team.proxy import Relay
from tests.team.test_team_upstream import relay  # noqa: F401,F811  (the fixture)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def upload(c, cid: int, data: bytes, name: str, mime: str) -> str:  # type: ignore[no-untyped-def]
    r = c.post("/api/uploads", params={"conversation_id": cid}, content=data,
               headers={"X-File-Name": quote(name), "Content-Type": mime})
    assert r.status_code == 201, r.text
    return str(r.json()["upload_id"])


def test_a_reply_with_files_written_offline_reaches_the_customer_once_with_its_bytes(
        team: Team, desktops, relay: Relay) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    cid = team.customer_says("send me the invoice please")
    alice = desktops("Alice", relay.url)
    wait_for(lambda: cid in alice.inbox_ids(), what="the conversation in Alice's cache")
    relay.block()
    wait_for(lambda: alice.connection()["state"] == "offline", what="Alice's desktop offline")
    with alice.http() as c:
        ids = [upload(c, cid, PNG, "invoice.png", "image/png"), upload(c, cid, b"total: 42\n", "notes.txt", "text/plain")]
        r = c.post(f"/api/conversations/{cid}/messages", json={"text": "here you are", "uploads": ids})
        assert r.status_code == 201, r.text
        echo = r.json()
        assert echo["status"] == "queued" and echo["id"] >= ECHO_BASE
        assert [a["file_name"] for a in echo["attachments"]] == ["invoice.png", "notes.txt"]
        # Offline, the queued file is here: the window shows and opens it from this computer.
        got = c.get(f"/api/attachments/{echo['attachments'][0]['id']}")
        assert got.status_code == 200 and got.content == PNG
    assert alice.connection()["pending_replies"] == 1
    relay.unblock()
    adapter = team.fake.adapters[team.sms.id]
    address = team.address_of(cid)
    wait_for(lambda: [m for m in adapter.sent if m.customer_address == address], timeout=40,
             what="the reply at the provider")
    wait_for(lambda: alice.connection()["pending"] == 0, timeout=20, what="the outbox emptied")
    sent = [m for m in adapter.sent if m.customer_address == address]
    assert len(sent) == 1 and sent[0].text == "here you are"
    assert [(f.file_name, f.mime_type) for f in sent[0].files] == [("invoice.png", "image/png"),
                                                                   ("notes.txt", "text/plain")]
    assert Path(sent[0].files[0].path).read_bytes() == PNG
    assert Path(sent[0].files[1].path).read_bytes() == b"total: 42\n"
    # The echo gave way to the server's row, whose files open from the copy already here.
    mine = wait_for(lambda: [m for m in alice.get(f"/api/conversations/{cid}/messages")["items"]
                             if m["direction"] == "out" and m["id"] < ECHO_BASE and m["attachments"]],
                    what="the server's row in Alice's cache")
    assert len(mine) == 1 and [a["file_name"] for a in mine[0]["attachments"]] == ["invoice.png", "notes.txt"]
    assert not [m for m in alice.get(f"/api/conversations/{cid}/messages")["items"] if m["id"] >= ECHO_BASE]
    relay.block()  # no download from the server: the bytes are the ones queued here
    with alice.http() as c:
        got = c.get(f"/api/attachments/{mine[0]['attachments'][0]['id']}")
    assert got.status_code == 200 and got.content == PNG

