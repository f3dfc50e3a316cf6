"""An action whose request never finished (its replica died mid-action) holds its key for a
lease, not for ever: a repeat after the lease acts, once, if the first had done nothing, and
answers with what the first did if it had acted — the reply is sent once either way."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pydantic import BaseModel

from tray_agent.server import idempotency
from tests.server.live import Team, wait_for

PATH = "/sync/v1/conversations/{}/reply"


@contextmanager
def cut_off(team: Team, who: str, key: str, path: str, before: Callable[[], object] = lambda: None) -> Iterator[None]:
    """A request for ``path`` under ``key`` whose action does ``before`` and then never
    finishes, as on a replica that died there: its key is reserved, its answer never written."""
    reached, never = threading.Event(), threading.Event()

    class Died(BaseException):
        pass

    def action() -> BaseModel:
        before()
        reached.set()
        never.wait(60)
        raise Died()

    def request() -> None:
        try:
            idempotency.run_once(team.app.db, team.clock, team.agents[who].id, key, f"POST {path}", action, 201)
        except Died:
            pass

    t = threading.Thread(target=request, daemon=True)
    t.start()
    assert reached.wait(10)
    try:
        yield
    finally:
        never.set()
        t.join(10)


def replies(team: Team, cid: int) -> list[str]:
    address = team.address_of(cid)
    return [m.text for m in team.fake.adapters[team.sms.id].sent if m.customer_address == address]


def post(team: Team, who: str, cid: int, key: str, text: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    with team.http(who) as c:
        r = c.post(PATH.format(cid), json={"text": text}, headers={"Idempotency-Key": key})
    return r.status_code, r.json()


def test_a_reply_cut_off_before_it_acted_is_done_by_a_repeat_after_the_lease(team: Team):
    cid = team.customer_says("anyone?")
    key = uuid.uuid4().hex
    with cut_off(team, "Alice", key, PATH.format(cid)):
        code, body = post(team, "Alice", cid, key, "here")
        assert (code, body["error"]) == (409, "in_progress")
        team.clock.advance(idempotency.LEASE.total_seconds() + 1)
        code, body = post(team, "Alice", cid, key, "here")
        assert code == 201, body
        assert post(team, "Alice", cid, key, "here") == (201, body)  # and from now on replayed
    wait_for(lambda: replies(team, cid) == ["here"], what="the reply sent")
    assert post(team, "Alice", cid, key, "here") == (201, body) and replies(team, cid) == ["here"]


def test_a_reply_cut_off_after_it_acted_is_answered_with_that_reply_never_sent_twice(team: Team):
    cid = team.customer_says("hello?")
    key = uuid.uuid4().hex
    done = []
    with cut_off(team, "Bea", key, PATH.format(cid),
                 before=lambda: done.append(team.inbox.reply(team.agents["Bea"].id, cid, "on my way"))):
        assert post(team, "Bea", cid, key, "on my way")[0] == 409
        team.clock.advance(idempotency.LEASE.total_seconds() + 1)
        code, body = post(team, "Bea", cid, key, "on my way")
    assert code == 201 and body["id"] == done[0].id and body["text"] == "on my way", body
    wait_for(lambda: replies(team, cid) == ["on my way"], what="the reply sent")
    assert post(team, "Bea", cid, key, "on my way") == (201, body) and replies(team, cid) == ["on my way"]
