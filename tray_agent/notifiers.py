"""The contract for desktop notification back-ends (registered via ``register_notifiers``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Notifier(Protocol):
    """A notification back-end. Beyond the two required methods, the daemon uses three
    optional extras where a back-end has them:

    - ``supports_replace = True`` and ``notify(..., replaces=id) -> id``: a burst's summary
      replaces its first pop-up instead of stacking a second one;
    - ``on_activate``: an attribute the daemon sets to a callable taking the clicked
      notification's conversation id (or None), so a click opens the window there.
    """

    name: str

    def available(self) -> bool:
        """Can this back-end show a notification here (a display, a notification server)?"""
        ...

    def notify(self, title: str, body: str, *, sound: bool, conversation_id: int | None) -> None:
        """Show one notification. Raise if it could not be shown."""
        ...


#: The type of ``Notifier.on_activate`` for back-ends that report clicks.
ActivateCallback = Callable[[int | None], None]
