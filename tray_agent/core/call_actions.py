"""Elevating a conversation to a phone call: the call is placed by a handler on the agent's
own machine (a tel: URI, the PBX's click-to-call) and recorded as a "call" row in the
history. The two halves are apart because a team desktop places the call itself and has the
team server record it, so that colleagues see the row too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tray_agent.calls import CallHandler, CallResult, availability
from tray_agent.core.base import InboxBase
from tray_agent.core.errors import CallFailed, NotFound, RuleViolation, TrayAgentError
from tray_agent.core import rules as R
from tray_agent.core.views import CallPlanView, CallView, MessageView


@dataclass(frozen=True)
class PlacedCall:
    """What a handler said of one attempt: what ``record_call`` writes into the history."""

    handler: str
    handler_label: str
    started: bool
    detail: str  # the handler's words, or why the call did not start
    call_id: str | None = None
    outcome: str | None = None

    def row(self, number: str) -> tuple[str, dict[str, Any]]:
        """The history's "call" row for it: text and meta."""
        meta: dict[str, Any] = {"handler": self.handler, "handler_label": self.handler_label, "started": self.started}
        if self.started or self.call_id or self.outcome:
            meta |= {"call_id": self.call_id, "outcome": self.outcome}
        if self.started:
            return f"Call to {number}: {self.detail}", meta
        return f"Call to {number} failed: {self.detail}", meta | {"reason": self.detail}

    def record(self) -> dict[str, Any]:
        """The attempt as the sync API's body for recording it."""
        return {"handler": self.handler, "handler_label": self.handler_label, "started": self.started,
                "detail": self.detail, "call_id": self.call_id, "outcome": self.outcome}


class CallActions(InboxBase):
    def call_plan(self, agent_id: int, conversation_id: int, handler: str | None = None) -> CallPlanView:
        """Which number a call would dial and through which handler (nothing is dialled)."""
        number, _ = self._call_target(agent_id, conversation_id)
        chosen = self._call_handler(handler)
        ok, detail = availability(chosen) if not isinstance(chosen, _NoHandler) else (False, "; ".join(chosen.reasons))
        return CallPlanView(number=number, handler=chosen.name, label=chosen.label, available=ok, detail=detail)

    def elevate_to_call(self, agent_id: int, conversation_id: int, handler: str | None = None) -> CallView:
        """Start a phone call to the customer through a call handler and record it."""
        placed = self.place_call(agent_id, conversation_id, handler)
        message = self.record_call(agent_id, conversation_id, placed)
        return call_answer(placed, message)

    def place_call(self, agent_id: int, conversation_id: int, handler: str | None = None) -> PlacedCall:
        """Dial through a handler of this machine; a failure is an attempt to record, not an error yet."""
        number, extension = self._call_target(agent_id, conversation_id)
        chosen = self._call_handler(handler)
        try:
            result = chosen.call(number, extension)
        except TrayAgentError as exc:
            return PlacedCall(chosen.name, chosen.label, False, exc.message)
        # A handler may answer "not started" instead of raising.
        return PlacedCall(chosen.name, chosen.label, bool(result.started), result.detail, result.call_id,
                          getattr(result, "outcome", None))

    def record_call(self, agent_id: int, conversation_id: int, placed: PlacedCall) -> MessageView:
        """The attempt's "call" row in the history, seen by whoever sees the conversation."""
        number, _ = self._call_target(agent_id, conversation_id)
        text, meta = placed.row(number)
        with self._tx() as (s, out):
            conv = self._conversation(s, agent_id, conversation_id)
            msg = self._system_message(s, out, conv, "call", text, agent_id, meta=meta)
            return self._message_views(s, [msg])[0]

    def _call_target(self, agent_id: int, conversation_id: int) -> tuple[str, str | None]:
        with self.db.read() as s:
            conv = self._conversation(s, agent_id, conversation_id)
            if R.contact_kind(self._rules(self._channel(conv.channel_id, s)), conv.customer_address) != "phone":
                raise RuleViolation("This channel's customers have no phone number to call.")
            return conv.customer_address, self._agent(s, agent_id).extension

    def _call_handler(self, name: str | None) -> CallHandler | _NoHandler:
        if name is not None:
            if name not in self.call_handlers:
                raise NotFound(f"There is no call handler {name!r}; installed: {', '.join(self.call_handlers) or 'none'}.")
            return self.call_handlers[name]
        for h in self.call_handlers.values():
            if h.available():
                return h
        if not self.call_handlers:
            raise RuleViolation("No call handler is installed.")
        # None can call now: the attempt is still recorded, failed with each handler's reason.
        if len(self.call_handlers) == 1:
            return next(iter(self.call_handlers.values()))
        return _NoHandler([f"{n}: {availability(h)[1] or 'not available'}" for n, h in self.call_handlers.items()])


def call_answer(placed: PlacedCall, message: MessageView) -> CallView:
    """What the agent is told of an attempt, its row recorded: a call that did not start is
    an error (its reason is in the history too)."""
    if not placed.started:
        raise CallFailed(placed.detail)
    return CallView(message=message, handler=placed.handler, detail=message.text or placed.detail, started=True,
                    call_id=placed.call_id, outcome=placed.outcome)


class _NoHandler:
    """Stands for "no handler can call" so that attempt is recorded like any failed call."""

    name, label = "none", "No call handler"

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons

    def call(self, number: str, agent_extension: str | None) -> CallResult:
        raise TrayAgentError("No call handler can place calls on this machine (" + "; ".join(self.reasons) + ").")
