"""The contract for desktop notification back-ends (registered via ``register_notifiers``)."""

from __future__ import annotations

from typing import Protocol


class Notifier(Protocol):
    name: str

    def available(self) -> bool:
        """Can this back-end show a notification here (a display, a notification server)?"""
        ...

    def notify(self, title: str, body: str, *, sound: bool, conversation_id: int | None) -> None:
        """Show one notification. Raise if it could not be shown."""
        ...
