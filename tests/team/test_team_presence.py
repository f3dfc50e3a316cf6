"""``app.inbox.set_status`` — the tray's do-not-disturb sets my presence: a single desktop
keeps it on my agent row (a team desktop sends it upstream, tests with the server's
presence endpoint)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tray_agent.app import App
from tray_agent.core.errors import InvalidInput


def test_a_single_desktop_keeps_my_status_in_my_settings(make_app: Callable[..., App]) -> None:
    app = make_app()
    me = app.agent.id
    assert app.inbox.set_status(me, "busy").status == "busy"
    assert app.inbox.get_agent(me).status == "busy"
    app.inbox.set_status(me, "available")
    assert app.inbox.get_agent(me).status == "available"
    with pytest.raises(InvalidInput, match="available, away"):
        app.inbox.set_status(me, "lunch")
