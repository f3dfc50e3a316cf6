"""What the search index holds and how a typed query matches it, on SQLite and PostgreSQL.

Both engines' word splitters make a whole CJK run one token and drop emoji, so the index
holds the text with each CJK character spaced out and each emoji spelled as a word
(``📦`` → ``u1f4e6``); a CJK query becomes a phrase of its characters. The last word of
a query matches as a prefix (people search as they type) unless the query ends in a space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tray_agent.core.errors import InvalidInput

#: Code-point ranges written into the index one character at a time. The PostgreSQL
#: function in migration 0003 lists the same ranges: index and query must agree.
CJK = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF),
       (0xFF66, 0xFF9F), (0x20000, 0x2FFFF))
#: Emoji and pictographs, spelled as ``u<hex>`` words. Skin tones and joiners are dropped.
SYMBOLS = ((0x2600, 0x27BF), (0x1F000, 0x1FAFF))
_DROPPED = frozenset(range(0x1F3FB, 0x1F400)) | {0x200D, 0xFE0F}

_CJK_CLASS = "".join(f"{chr(a)}-{chr(b)}" for a, b in CJK)
_SYM_CLASS = "".join(f"{chr(a)}-{chr(b)}" for a, b in SYMBOLS)
_SPECIAL = re.compile(f"[{_CJK_CLASS}{_SYM_CLASS}\u200d\ufe0f]")
#: A query's pieces: a CJK run, one emoji, or a word (with an optional ``*``).
_PIECE = re.compile(f"([{_CJK_CLASS}]+)|([{_SYM_CLASS}])|([^\\W{_CJK_CLASS}]+\\*?)")


def _spell(ch: str) -> str:
    cp = ord(ch)
    if cp in _DROPPED:
        return " "
    if any(a <= cp <= b for a, b in SYMBOLS):
        return f" u{cp:x} "
    return f" {ch} "


def index_text(text: str | None) -> str:
    """The text as the index stores it (a no-op for text with no CJK and no emoji)."""
    if not text or not _SPECIAL.search(text):
        return text or ""
    return _SPECIAL.sub(lambda m: _spell(m.group()), text)


@dataclass(frozen=True)
class Term:
    """One thing every hit must contain: a word, a prefix, or a phrase of CJK characters."""

    tokens: tuple[str, ...]
    prefix: bool = False
    word: bool = True


def parse(query: str) -> list[Term]:
    """The terms of a typed query; raises InvalidInput (written for the user) if it has none."""
    terms: list[Term] = []
    for cjk, sym, word in _PIECE.findall(query or ""):
        if cjk:
            terms.append(Term(tuple(cjk), word=False))
        elif sym:
            if ord(sym) not in _DROPPED:
                terms.append(Term((f"u{ord(sym):x}",), word=False))
        elif word.rstrip("*"):
            terms.append(Term((word.rstrip("*").lower(),), prefix=word.endswith("*")))
    if not terms:
        shown = (query or "").strip()
        raise InvalidInput(f"Nothing to search for in {shown!r}: type a word, a number or an emoji."
                           if shown else "Type a word to search for.")
    last = terms[-1]
    if not (query or "").endswith((" ", "\t", "\n")) and last.word and not last.prefix:
        # Typing "ord" finds "order"; a finished word (a space after it) stays whole.
        terms[-1] = Term(last.tokens, prefix=True)
    return terms


def sqlite_match(terms: list[Term]) -> str:
    """An FTS5 MATCH expression: every term, quoted so the user's text is never syntax."""
    parts = []
    for t in terms:
        quoted = '"' + " ".join(tok.replace('"', '""') for tok in t.tokens) + '"'
        parts.append(quoted + ("*" if t.prefix else ""))
    return " ".join(parts)


def postgres_tsquery(terms: list[Term]) -> str:
    """A to_tsquery('simple', …) expression; tokens are quoted as tsquery lexemes."""
    def lex(tok: str) -> str:
        return "'" + tok.replace("\\", "\\\\").replace("'", "''") + "'"

    # Only single words are prefixes; a CJK phrase is its characters side by side.
    return " & ".join("(" + " <-> ".join(lex(tok) for tok in t.tokens) + ")" if len(t.tokens) > 1
                      else lex(t.tokens[0]) + (":*" if t.prefix else "") for t in terms)
