"""Search as people type it: half words, CJK words inside sentences, emoji, and an
existing store whose index is rebuilt by the migration (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from tray_agent.core.errors import InvalidInput


def _texts(world, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.message.text for h in world.inbox.search(world.me.id, query)]


def test_half_typed_last_word_finds_the_whole_word(world):
    world.customer_says(world.sms, "+14155550199", "Where is my order?")
    world.customer_says(world.sms, "+14155550142", "ordinary question")
    world.customer_says(world.sms, "+14155550143", "my parcel")
    assert _texts(world, "ord") == ["ordinary question", "Where is my order?"]
    assert _texts(world, "my ord") == ["Where is my order?"]
    # A finished word (a space after it) stays whole, as do the words before the last.
    assert _texts(world, "ord ") == []
    assert _texts(world, "m order") == []


def test_japanese_word_inside_a_sentence_is_found(world):
    world.customer_says(world.wa, "+14155550199", "お荷物は東京に届きました")
    world.customer_says(world.wa, "+14155550142", "京都へ行く東")
    assert _texts(world, "東京") == ["お荷物は東京に届きました"]
    assert _texts(world, "荷物") == ["お荷物は東京に届きました"]
    assert set(_texts(world, "東")) == {"お荷物は東京に届きました", "京都へ行く東"}


def test_emoji_search_finds_the_messages_with_that_emoji(world):
    world.customer_says(world.sms, "+14155550199", "sent 📦 today")
    world.customer_says(world.sms, "+14155550142", "thanks 👍🏽")
    world.customer_says(world.sms, "+14155550143", "no emoji here")
    assert _texts(world, "📦") == ["sent 📦 today"]
    assert _texts(world, "👍") == ["thanks 👍🏽"]


def test_a_query_with_nothing_searchable_says_what_to_type(world):
    with pytest.raises(InvalidInput, match=r"Nothing to search for in '!!\?': type a word, a number or an emoji"):
        world.inbox.search(world.me.id, "!!?")
    with pytest.raises(InvalidInput, match="Type a word to search for."):
        world.inbox.search(world.me.id, "   ")


def test_search_syntax_in_text_is_just_text(world):
    world.customer_says(world.sms, "+14155550199", 'he said "NEAR" AND left')
    assert _texts(world, '"near" AND') == ['he said "NEAR" AND left']


def test_migration_rebuilds_the_index_of_an_existing_store(sqlite_world):
    """A store at 0001 (a CJK run is one token) finds a word inside Japanese text once
    migrated: the upgrade re-indexes the rows already there."""
    from alembic import command
    from alembic.config import Config

    from tray_agent.core.db import HEAD_REVISION, MIGRATIONS

    w = sqlite_world
    w.customer_says(w.wa, "+14155550199", "お荷物は東京に届きました")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with w.app.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    with w.app.db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM message_fts WHERE message_fts MATCH '\"東 京\"'").scalar() == 0
    assert w.app.db.migrate() == HEAD_REVISION
    assert _texts(w, "東京") == ["お荷物は東京に届きました"]


def test_cli_search_for_an_emoji_and_a_half_word_as_typed(world_cli):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from tray_agent.app import App
    from tray_agent.channels import InboundMessage
    from tray_agent.cli import cli

    home, conv = world_cli
    app = App(home)
    sms = app.inbox.list_channels()[0]
    app.inbox.receive(sms.id, InboundMessage("SM2", "+14155550199", "box 📦 sent", customer_name="Ada"))
    app.close()
    run = CliRunner()
    box = run.invoke(cli, ["search", "📦"])
    assert box.exit_code == 0 and "box 📦 sent" in box.output and "parcel" not in box.output
    half = run.invoke(cli, ["search", "parc"])
    assert half.exit_code == 0 and "where is my parcel" in half.output
    nothing = run.invoke(cli, ["search", "?!"])
    assert nothing.exit_code == 1
    assert nothing.output.strip() == "error: Nothing to search for in '?!': type a word, a number or an emoji."
