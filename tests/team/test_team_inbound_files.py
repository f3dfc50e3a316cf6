"""A customer's file on a team desktop: fetched from the server the first time the window
opens its URL, kept in the cache (served again with the link cut), and deleted with the
server's 24 h retention by the desktop's own retention job; the message stays."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tray_agent.channels import InboundFile, InboundMessage
from tray_agent.core.models import Attachment, Message
from tests.server.live import Team
from tests.team.desktop import Desktop, connect, start_desktop, wait_for
from tests.team.proxy import Relay
from tests.team.test_team_upstream import relay  # noqa: F401  (the fixture)

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64


@pytest.fixture
def clocked(team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], Desktop]]:
    """A desktop on the server's clock (both keep the same time, as real ones do)."""
    monkeypatch.delenv("TRAY_AGENT_HOME", raising=False)
    started: list[Desktop] = []

    def make(who: str, server: str) -> Desktop:
        home = tmp_path / f"home-{who}-{len(started)}"
        r = connect(team, who, home, server)
        assert r.exit_code == 0, r.output
        started.append(start_desktop(home, clock=team.clock))
        return started[-1]

    yield make
    for d in started:
        d.stop()


def a_file_in_the_cache(team: Team, clocked, relay: Relay, address: str, text: str,  # type: ignore[no-untyped-def]  # noqa: F811
                        name: str) -> tuple[Desktop, int, dict]:
    """A customer's message with a file on the server, and Alice's desktop holding its row
    (not its bytes): the desktop, the conversation, the file's view."""
    mid = team.inbox.receive(team.sms.id, InboundMessage(f"file-{time.monotonic_ns()}", address, text,
                                                         files=(InboundFile(name, "image/png", PHOTO),)))
    with team.app.db.read() as s:
        cid = s.get_one(Message, mid).conversation_id
    alice = clocked("Alice", relay.url)
    wait_for(lambda: cid in alice.inbox_ids(), what="the conversation in Alice's cache")
    att = wait_for(lambda: [a for m in alice.get(f"/api/conversations/{cid}/messages")["items"]
                            for a in m["attachments"]], what="the file's row in Alice's cache")[0]
    return alice, cid, att


def test_a_customers_file_is_fetched_once_cached_for_offline_and_deleted_after_24_hours(
        team: Team, clocked, relay: Relay) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    alice, cid, att = a_file_in_the_cache(team, clocked, relay, "+14155557101", "here is the damage", "damage.png")
    msg = next(m for m in alice.get(f"/api/conversations/{cid}/messages")["items"] if m["attachments"])
    assert (att["file_name"], att["size"], att["expired"]) == ("damage.png", len(PHOTO), False)
    assert not any(alice.paths.files.rglob("*.*")), "no file is fetched before it is opened"
    with alice.http() as c:
        first = c.get(f"/api/attachments/{att['id']}")  # the window's URL for it (web_ui/js/api.js)
        assert first.status_code == 200, first.text
        assert first.content == PHOTO
        assert 'filename="damage.png"' in first.headers["content-disposition"]
        cached = [p for p in alice.paths.files.rglob("*") if p.is_file()]
        assert len(cached) == 1 and cached[0].read_bytes() == PHOTO
        relay.block()  # the network is gone: the cached copy answers
        again = c.get(f"/api/attachments/{att['id']}")
        assert again.status_code == 200 and again.content == PHOTO
        thumb = c.get(f"/api/attachments/{att['id']}", params={"inline": "true"})
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
    # 24 h after it arrived the file's retention ends; the desktop's job (TeamTasks._expire
    # runs this each minute) deletes the cached copy, offline as it is.
    team.clock.advance(timedelta(hours=24, minutes=1))
    assert alice.app.inbox.expire_files() == 1
    assert not cached[0].exists()
    with alice.http() as c:
        gone = c.get(f"/api/attachments/{att['id']}")
    # The desktop API's code stays not_found (core/errors.py FileExpired); the message says why.
    assert gone.status_code == 404 and gone.json()["error"] == "not_found", gone.text
    assert "expired" in gone.json()["message"]
    kept = [m for m in alice.get(f"/api/conversations/{cid}/messages")["items"] if m["id"] == msg["id"]]
    assert kept and kept[0]["text"] == "here is the damage" and kept[0]["attachments"][0]["expired"] is True


def test_a_file_the_server_expired_before_it_was_opened_answers_expired_not_an_error(
        team: Team, clocked, relay: Relay) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    alice, cid, att = a_file_in_the_cache(team, clocked, relay, "+14155557102", "the receipt", "receipt.png")
    team.clock.advance(timedelta(hours=24, minutes=1))
    assert team.app.inbox.expire_files() >= 1  # the server's retention sweep
    # Before this desktop's own sweep comes round, the server's word reaches the window.
    wait_for(lambda: [a for m in alice.get(f"/api/conversations/{cid}/messages")["items"]
                      for a in m["attachments"] if a["id"] == att["id"] and a["expired"]],
             timeout=20, what="the file shown expired in Alice's cache")
    with alice.http() as c:
        gone = c.get(f"/api/attachments/{att['id']}")
    assert gone.status_code == 404 and gone.json()["error"] == "not_found", gone.text
    assert "expired" in gone.json()["message"]


def test_a_file_opened_as_the_server_expires_it_answers_as_an_expired_file(
        team: Team, clocked, relay: Relay) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The server's sweep has deleted it and its event is not here yet: the server's
    ``file_expired`` is this API's expired file (404 ``not_found``, saying so)."""
    alice, cid, att = a_file_in_the_cache(team, clocked, relay, "+14155557103", "the label", "label.png")
    with team.app.db.write() as s:  # the sweep's commit, before its event reaches this desktop
        row = s.get_one(Attachment, att["id"])
        team.app.inbox.files.delete(row.storage_path)
        row.expired, row.storage_path = True, ""
    with alice.http() as c:
        gone = c.get(f"/api/attachments/{att['id']}")
    assert gone.status_code == 404 and gone.json()["error"] == "not_found", gone.text
    assert "expired" in gone.json()["message"]
    assert not [p for p in alice.paths.files.rglob("*") if p.is_file()]
