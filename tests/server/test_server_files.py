"""Files over the sync API: a conversation's files for whoever sees it (404 for anyone
else, ``file_expired`` after the retention), and replies with files: a multipart upload under
the channel's limit, then ``reply {"uploads": [...]}``, sent once — through the fakes and
through the provider sandbox with a real file."""

from __future__ import annotations

import hashlib
import json
import socket
import time
import uuid
from datetime import timedelta
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from tests.server.live import CONSOLE_ACTOR, Team, sandbox_server, wait_for
from tray_agent.channels import InboundFile, InboundMessage
from tray_agent.core.models import Attachment, Message
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.server.runner import TeamServer

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def customer_sends_file(team: Team, name: str = "receipt.png", data: bytes = PHOTO) -> tuple[int, int]:
    """A customer's message with a file, routed to the queue: (conversation id, attachment id)."""
    mid = team.inbox.receive(team.sms.id, InboundMessage(f"file-{uuid.uuid4().hex}", f"+1415556{time.monotonic_ns() % 10000:04d}",
                                                         "see attached", files=(InboundFile(name, "image/png", data),)))
    with team.app.db.read() as s:
        conv = s.get_one(Message, mid).conversation_id
        att = s.execute(select(col(Attachment.id)).where(col(Attachment.message_id) == mid)).scalar_one()
    return conv, att


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def test_a_file_downloads_with_its_type_and_name_for_whoever_sees_the_conversation(team: Team):
    conv, att = customer_sends_file(team, name="reçu.png")
    with team.http("Bea") as bea:
        r = bea.get(f"/sync/v1/conversations/{conv}/files/{att}")
    assert r.status_code == 200 and r.content == PHOTO
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"] == "attachment; filename=\"re_u.png\"; filename*=UTF-8''re%C3%A7u.png"
    assert r.headers["x-content-type-options"] == "nosniff"
    team.inbox.claim(team.agents["Alice"].id, conv)
    for who, status in (("Alice", 200), ("Ada", 200), ("Bea", 404), ("Carl", 404), (None, 401)):
        with team.http(who) as c:
            got = c.get(f"/sync/v1/conversations/{conv}/files/{att}")
        assert got.status_code == status, who
        if status == 404:
            assert got.json()["error"] == "not_found"
    other, _ = customer_sends_file(team)
    with team.http("Ada") as ada:  # a file named under a conversation it is not part of
        assert ada.get(f"/sync/v1/conversations/{other}/files/{att}").json()["error"] == "not_found"


def test_an_expired_file_answers_file_expired(team: Team):
    conv, att = customer_sends_file(team)
    team.clock.advance(timedelta(hours=25))
    try:
        assert team.inbox.expire_files() >= 1
        with team.http("Bea") as bea:
            r = bea.get(f"/sync/v1/conversations/{conv}/files/{att}")
        assert r.status_code == 404 and r.json()["error"] == "file_expired"
        assert "expired" in r.json()["message"]
    finally:
        team.clock.advance(timedelta(hours=-25))


def upload(c: httpx.Client, data: bytes, name: str = "invoice.pdf", mime: str = "application/pdf",
           **params: Any) -> httpx.Response:
    return c.post("/sync/v1/uploads", files={"file": (name, data, mime)}, params=params)


def test_a_reply_with_an_uploaded_file_is_sent_once_with_the_file(team: Team):
    conv = team.customer_says("send me the invoice")
    pdf = b"%PDF-1.7\n" + b"x" * 50_000
    with team.http("Bea") as bea:
        up = upload(bea, pdf, conversation_id=conv)
        assert up.status_code == 201, up.text
        assert up.json()["file_name"] == "invoice.pdf" and up.json()["size"] == len(pdf)
        assert up.json()["mime_type"] == "application/pdf"
        assert up.json()["sha256"] == hashlib.sha256(pdf).hexdigest()
        headers = key()
        body = {"text": "Here it is", "uploads": [up.json()["upload_id"]]}
        first = bea.post(f"/sync/v1/conversations/{conv}/reply", json=body, headers=headers)
        assert first.status_code == 201, first.text
        # Retried after a lost answer: the same answer, though the staged file is spent.
        again = bea.post(f"/sync/v1/conversations/{conv}/reply", json=body, headers=headers)
        assert again.status_code == 201 and again.json() == first.json()
        attachment = first.json()["attachments"][0]
        assert (attachment["file_name"], attachment["size"]) == ("invoice.pdf", len(pdf))
        # The colleague's desktop fetches what was sent like any file.
        r = bea.get(f"/sync/v1/conversations/{conv}/files/{attachment['id']}")
        assert r.content == pdf
    adapter = team.fake.adapters[team.sms.id]
    sent = wait_for(lambda: [m for m in adapter.sent if m.text == "Here it is"], what="the reply at the channel")
    time.sleep(0.5)
    assert len([m for m in adapter.sent if m.text == "Here it is"]) == 1
    assert [(f.file_name, f.size) for f in sent[0].files] == [("invoice.pdf", len(pdf))]
    assert Path(sent[0].files[0].path).read_bytes() == pdf


def test_a_file_only_reply_needs_no_text(team: Team):
    conv = team.customer_says("a photo please")
    with team.http("Bea") as bea:
        up = upload(bea, PHOTO, "photo.png", "image/png").json()
        r = bea.post(f"/sync/v1/conversations/{conv}/reply", json={"uploads": [up["upload_id"]]}, headers=key())
    assert r.status_code == 201 and r.json()["kind"] == "file"


def test_an_upload_over_the_channels_limit_is_refused_before_it_is_stored(team: Team):
    staging = team.app.inbox.files.staging
    before = set(staging.iterdir())
    host, port = team.url.removeprefix("http://").split(":")
    # Announces 200 MB and sends a few bytes: refused at once, before the body is read.
    head = (f"POST /sync/v1/uploads HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {team.tokens['Bea']}\r\n"
            f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {200 * 1024 * 1024}\r\n\r\n--x\r\n")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"}" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert status_line.split()[1] == b"413" and body["error"] == "file_too_large"
    assert "100 MB" in body["message"]
    assert set(staging.iterdir()) == before


def test_uploads_and_their_ids_are_checked(team: Team):
    conv = team.customer_says("hello")
    team.inbox.claim(team.agents["Alice"].id, conv)
    with team.http("Bea") as bea, team.http("Alice") as alice, team.http("Carl") as carl:
        assert upload(carl, PHOTO, conversation_id=conv).status_code == 404  # not one Carl sees
        assert bea.post("/sync/v1/uploads", data={"other": "x"}).json()["error"] == "invalid_input"
        two = bea.post("/sync/v1/uploads", files=[("file", ("a.txt", b"a", "text/plain")),
                                                  ("file", ("b.txt", b"b", "text/plain"))])
        assert two.status_code == 422 and two.json()["error"] == "invalid_input"
        unnamed = bea.post("/sync/v1/uploads", files={"other": ("a.txt", b"a", "text/plain")})
        assert unnamed.status_code == 422 and "file" in unnamed.json()["message"]
        assert upload(bea, b"", "empty.txt", "text/plain").json()["error"] == "invalid_input"
        beas = upload(bea, PHOTO).json()["upload_id"]
        foreign = alice.post(f"/sync/v1/conversations/{conv}/reply", json={"uploads": [beas]}, headers=key())
        assert foreign.status_code == 422 and "another agent" in foreign.json()["message"]
        forged = alice.post(f"/sync/v1/conversations/{conv}/reply", json={"uploads": [beas[:-4] + "0000"]},
                            headers=key())
        assert forged.status_code == 422 and forged.json()["error"] == "invalid_input"


@pytest.fixture
def sandbox(tmp_path: Path, postgres_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TeamServer]:
    monkeypatch.setenv("TRAY_AGENT_HOME", str(tmp_path / "home"))
    with sandbox_server(tmp_path / "home", postgres_db_url) as srv:
        yield srv


def test_a_real_file_goes_through_the_sandbox_both_ways(sandbox: TeamServer):
    srv = sandbox
    admin = SandboxAdmin(srv._auto.sandbox.url)  # type: ignore[union-attr]
    _, code = srv.accounts.add_agent(CONSOLE_ACTOR, "Bea", "bea@example.com")
    pdf = b"%PDF-1.4\n" + hashlib.sha256(b"seed").digest() * 2000
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        c.headers["Authorization"] = "Bearer " + c.post("/sync/v1/sign-in", json={
            "code": code, "device_name": "Laptop"}).json()["token"]
        admin.customer_sends("whatsapp", "+14155550177", "my ticket", files=[("ticket.png", "image/png", PHOTO)])

        def arrived() -> list[dict[str, Any]]:
            return [x for x in c.get("/sync/v1/snapshot").json()["conversations"]
                    if any(m["attachments"] for m in x["messages"])]

        conv = wait_for(arrived, what="the customer's file in the snapshot")[0]
        att = [m for m in conv["messages"] if m["attachments"]][0]["attachments"][0]
        got = c.get(f"/sync/v1/conversations/{conv['id']}/files/{att['id']}")
        assert got.status_code == 200 and got.content == PHOTO and got.headers["content-type"] == "image/png"
        up = c.post("/sync/v1/uploads", files={"file": ("answer.pdf", pdf, "application/pdf")},
                    params={"conversation_id": conv["id"]})
        assert up.status_code == 201, up.text
        r = c.post(f"/sync/v1/conversations/{conv['id']}/reply", json={"text": "Your answer",
                                                                       "uploads": [up.json()["upload_id"]]},
                   headers={"Idempotency-Key": "sandbox-file-1"})
        assert r.status_code == 201, r.text
    out = wait_for(lambda: [m for m in admin.outbound("whatsapp") if m.get("files")], timeout=30,
                   what="the file at the sandbox")
    assert len(out) == 1
    assert [(f["name"], f["size"]) for f in out[0]["files"]] == [("answer.pdf", len(pdf))]
