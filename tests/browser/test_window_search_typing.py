"""Search as an agent types it in the window: a half word, a Japanese word inside a
sentence, an emoji — and never the previous query's results under a new query."""

from __future__ import annotations


def _hits(window) -> list[str]:  # type: ignore[no-untyped-def]
    return window.page.locator("#search-results .hit .hit-text").all_inner_texts()


def test_typing_a_half_word_an_emoji_and_cjk_each_shows_their_own_results(window):
    a = window.agent
    a.inbound(a.sms, "+14155552101", "Where is my ordering form", name="Half Word")
    a.inbound(a.wa, "+14155552102", "お荷物は東京に届きました", name="Tokyo")
    a.inbound(a.sms, "+14155552103", "box sent 📦 today", name="Boxer")
    window.open()
    search = window.page.locator("#search")
    search.press_sequentially("orderi", delay=20)
    window.page.wait_for_function("() => document.querySelectorAll('#search-results .hit').length === 1")
    assert "Where is my ordering form" in _hits(window)[0]
    window.shot("search-half-word")

    search.fill("📦")
    window.page.wait_for_function(
        "() => [...document.querySelectorAll('#search-results .hit-text')].map(e => e.innerText).join('|')"
        ".includes('📦')")
    assert [t for t in _hits(window)] == ["box sent 📦 today"]
    window.shot("search-emoji")

    search.fill("東京")
    window.page.wait_for_function(
        "() => [...document.querySelectorAll('#search-results .hit-text')].some(e => e.innerText.includes('東京'))")
    assert _hits(window) == ["お荷物は東京に届きました"]

    # Nothing searchable: the old results go, and the window says what to type.
    search.fill("?!")
    empty = window.page.locator("#search-results p.empty")
    empty.wait_for()
    assert "type a word, a number or an emoji" in empty.inner_text()
    assert _hits(window) == []
    window.shot("search-nothing-searchable")
