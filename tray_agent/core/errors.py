"""Errors a user can cause. Each carries one line written for that user.

The API maps them to HTTP statuses, the CLI prints the line and exits non-zero.
Programming errors are not among them and are never caught to be hidden.
"""

from __future__ import annotations

from datetime import datetime

from tray_agent.credentials import redact


class TrayAgentError(Exception):
    """Base of the errors whose message is meant for the user."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, **details: object) -> None:
        # Messages often quote a provider's answer or an HTTP client's error, which can
        # carry a URL with a token in it: the user sees them, so mask every credential.
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message, **_jsonable(self.details)}


def _jsonable(d: dict[str, object]) -> dict[str, object]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in d.items()}


class InvalidInput(TrayAgentError):
    status = 422
    code = "invalid_input"


class NotFound(TrayAgentError):
    status = 404
    code = "not_found"


class FileExpired(NotFound):
    """The file passed its retention and was deleted (its message stays). ``reason`` is the
    sync API's code; the desktop API keeps answering ``not_found``."""

    reason = "file_expired"


class Forbidden(TrayAgentError):
    status = 403
    code = "forbidden"


class Conflict(TrayAgentError):
    status = 409
    code = "conflict"


class ProviderIdTaken(Conflict):
    """A provider's message id offered for a send that another message already holds."""

    code = "provider_id_taken"
class AlreadyTaken(Conflict):
    """A colleague took the conversation over first. ``reason`` is the stable code the sync
    API answers with (the desktop API keeps its ``code``)."""

    reason = "already_taken"

    def __init__(self, message: str, *, owner_id: int | None, owner_name: str,
                 taken_at: datetime | None) -> None:
        super().__init__(message, owner_id=owner_id)
        self.owner_name = owner_name
        self.taken_at = taken_at


class NotOwner(Forbidden):
    """Only the agent handling the conversation may do this."""

    reason = "not_owner"


class RuleViolation(TrayAgentError):
    """The channel's rules forbid this (start not allowed, window closed, closed conversation)."""

    status = 409
    code = "rule_violation"


class ConversationClosed(RuleViolation):
    reason = "conversation_closed"


class PickupDisabled(RuleViolation):
    """The queue is a shared inbox (pickup mode "none"): nobody takes its conversations."""

    reason = "pickup_disabled"


class ReplyWindowClosed(RuleViolation):
    code = "reply_window_closed"

    def __init__(self, closed_at: datetime) -> None:
        super().__init__(
            f"The reply window closed at {closed_at:%Y-%m-%d %H:%M} UTC; "
            "free-form replies are refused until the customer writes again.",
            closed_at=closed_at,
        )
        self.closed_at = closed_at


class FileTooLarge(TrayAgentError):
    status = 413
    code = "file_too_large"


class StorageUnavailable(TrayAgentError):
    """The database is locked, read-only or unreachable: nothing was written."""

    status = 503
    code = "storage_unavailable"


class ProviderError(TrayAgentError):
    """A messaging provider refused or failed a request.

    ``retryable`` says whether the outbox may try again (429 and 5xx, timeouts);
    ``retry_after`` is the provider's own hint in seconds, if it gave one.
    """

    status = 502
    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        provider_code: str | int | None = None,
        retry_after: float | None = None,
        permanent_rule: bool = False,
    ) -> None:
        super().__init__(message, provider_code=provider_code, retryable=retryable)
        self.retryable = retryable
        self.provider_code = provider_code
        self.retry_after = retry_after
        # True when the provider says a channel rule refused it (e.g. WhatsApp 131047):
        # never retried with the same content.
        self.permanent_rule = permanent_rule


class CallFailed(TrayAgentError):
    """A call handler (the OS, a PBX) could not start the call; the reason is the handler's."""

    status = 409
    code = "call_failed"
