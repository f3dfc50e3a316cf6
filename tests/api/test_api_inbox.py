"""Reading the inbox over HTTP: session, list with filters and keyset cursor, conversation
detail with composer state and rules, history paging, one message, search."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.live import START


def test_the_session_says_who_the_window_acts_for_and_where_the_log_stands(agent, client):
    s = client.get("/api/session").json()
    assert s["agent"]["id"] == agent.me.id and s["agent"]["name"] == "Alex Agent"
    assert s["settings"]["popup"] is True and s["last_seq"] == agent.inbox.last_seq()
    assert s["now"] == "2026-03-10T09:00:00Z"


def test_the_list_pages_with_the_cursor_and_filters(agent, client):
    convs = [agent.conversation_of(agent.inbound(agent.sms, f"+1415555800{i}", f"page {i}")) for i in range(5)]
    seen, cursor = [], None
    while True:
        page = client.get("/api/inbox", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen[:5] == convs[::-1] and len(seen) == len(set(seen))
    agent.inbox.claim(agent.me.id, convs[0])
    agent.inbox.archive(agent.me.id, convs[1])
    ids = lambda f, **kw: [c["id"] for c in client.get("/api/inbox", params={"filter": f, **kw}).json()["items"]]
    assert convs[0] in ids("mine") and convs[2] not in ids("mine")
    assert convs[2] in ids("unassigned") and convs[0] not in ids("unassigned")
    assert ids("archived") == [convs[1]] and convs[1] not in ids("all")
    assert convs[2] in ids("unread")
    wa = agent.conversation_of(agent.inbound(agent.wa, "+14155558009", "on wa"))
    assert ids("all", channel_id=agent.wa.id)[0] == wa and convs[2] not in ids("all", channel_id=agent.wa.id)


@pytest.mark.parametrize("params", [{"filter": "nope"}, {"limit": 0}, {"limit": 201}, {"limit": "x"},
                                    {"cursor": "!!!"}, {"channel_id": "sms"}])
def test_bad_list_parameters_are_422_with_one_line(client, params):
    r = client.get("/api/inbox", params=params)
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_input" and "\n" not in r.json()["message"]


def test_unread_summary_for_the_tray(agent, client):
    conv = agent.conversation_of(agent.inbound(agent.sms, "+14155558010", "unread one"))
    s = client.get("/api/inbox/unread").json()
    assert s["conversation_ids"][0] == conv and s["count"] >= 1


def test_detail_carries_the_rules_and_what_the_composer_may_do(agent, client):
    conv = agent.conversation_of(agent.inbound(agent.wa, "+14155558011", "hello"))
    d = client.get(f"/api/conversations/{conv}").json()
    assert d["rules"]["reply_window_seconds"] == 86400 and d["rules"]["business_can_start"] is False
    assert d["composer"] == {"can_reply": True, "reason": None, "window_closes_at": "2026-03-11T09:00:00Z",
                             "max_file_bytes": 100_000_000, "must_claim": True}
    assert d["channel_kind"] == "fake-wa" and d["unread_count"] == 1


def test_history_pages_back_with_before_and_includes_earlier_conversations(agent, client):
    first = agent.conversation_of(agent.inbound(agent.sms, "+14155558012", "earliest"))
    agent.inbox.close(agent.me.id, first)
    for i in range(5):
        conv = agent.conversation_of(agent.inbound(agent.sms, "+14155558012", f"later {i}"))
    page = client.get(f"/api/conversations/{conv}/messages", params={"limit": 3}).json()
    assert [m["text"] for m in page["items"]] == ["later 2", "later 3", "later 4"]
    older = client.get(f"/api/conversations/{conv}/messages",
                       params={"limit": 10, "before": page["next_before"]}).json()
    assert [m["text"] for m in older["items"]] == ["earliest", "Closed by Alex Agent", "later 0", "later 1"]
    assert older["next_before"] is None
    assert {m["conversation_id"] for m in older["items"]} == {first, conv}
    assert client.get(f"/api/conversations/{conv}").json()["earlier_conversation_ids"] == [first]


def test_one_message_by_id_and_404s(agent, client):
    mid = agent.inbound(agent.sms, "+14155558013", "just me")
    conv = agent.conversation_of(mid)
    assert client.get(f"/api/conversations/{conv}/messages/{mid}").json()["text"] == "just me"
    other = agent.conversation_of(agent.inbound(agent.sms, "+14155558014", "someone else"))
    r = client.get(f"/api/conversations/{other}/messages/{mid}")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    for path in ("/api/conversations/999999", "/api/conversations/999999/messages",
                 f"/api/conversations/999999/messages/{mid}"):
        assert client.get(path).status_code == 404


def test_a_conversation_of_a_colleague_is_not_found(agent, client):
    conv = agent.conversation_of(agent.inbound(agent.sms, "+14155558015", "for bea"))
    agent.inbox.claim(agent.bea.id, conv)
    r = client.get(f"/api/conversations/{conv}")
    assert r.status_code == 404 and r.json()["message"] == f"There is no conversation {conv} in your inbox."


def test_search_finds_words_across_every_message(agent, client):
    agent.clock.advance(timedelta(seconds=1))
    try:
        conv = agent.conversation_of(agent.inbound(agent.sms, "+14155558016", "The quokka parcel arrived"))
    finally:
        agent.clock.set(START)
    hits = client.get("/api/search", params={"q": "quokka"}).json()
    assert hits[0]["message"]["text"] == "The quokka parcel arrived" and hits[0]["conversation"]["id"] == conv
    assert client.get("/api/search", params={"q": "quokka parc*"}).json()[0]["conversation"]["id"] == conv
    assert client.get("/api/search", params={"q": "zebra"}).json() == []
    r = client.get("/api/search", params={"q": "  ?! "})
    assert r.status_code == 422 and r.json()["message"] == "Nothing to search for in '?!': type a word, a number or an emoji."
    assert client.get("/api/search").status_code == 422


def test_the_list_takes_exactly_the_service_layers_filters(client):
    from tray_agent.core.views import FILTERS

    doc = client.get("/api/openapi.json").json()
    param = next(p for p in doc["paths"]["/api/inbox"]["get"]["parameters"] if p["name"] == "filter")
    assert tuple(param["schema"]["enum"]) == FILTERS
    assert all(client.get("/api/inbox", params={"filter": f}).status_code == 200 for f in FILTERS)
