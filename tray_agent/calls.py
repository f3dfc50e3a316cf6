"""Elevate to a call: the contract for call handlers (the OS ``tel:`` handler, a PBX, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CallResult:
    started: bool
    #: One line for the history ("Opened tel:+1555… with the system's call handler").
    detail: str
    #: The handler's own reference for the call, if it has one (a PBX call id).
    call_id: str | None = None


class CallHandler(Protocol):
    name: str
    label: str

    def available(self) -> bool:
        """Can this handler place a call on this machine right now?"""
        ...

    def call(self, number: str, agent_extension: str | None) -> CallResult:
        """Start a call to the E.164 ``number``; raise TrayAgentError with a one-line reason."""
        ...
