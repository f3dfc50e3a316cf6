"""Untrusted text (customer names, file names, message previews) made inert for display
outside the web page, where there is no ``<bdi>`` to isolate it: notifications, the tray
menu, the CLI. web_ui/js/text.js is the page's twin of this."""

from __future__ import annotations

import re

#: Bidirectional formatting controls: embeddings and overrides (U+202A-202E), isolates
#: (U+2066-2069), the marks (U+200E/200F) and the Arabic letter mark (U+061C). One of them
#: makes "invoice\u202efdp.exe" show as "invoiceexe.pdf".
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def inert(text: str) -> str:
    """``text`` without bidi controls, so it shows in the order it is stored."""
    return BIDI_CONTROLS.sub("", text)
