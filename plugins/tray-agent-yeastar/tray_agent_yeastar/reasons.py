"""What the PBX's refusals mean to the agent: ``errcode``/``errmsg`` answers of the OpenAPI
and the ``reason`` of a (30015) Call Failed event, each turned into one plain sentence."""

from __future__ import annotations

#: The (30015) reasons Yeastar documents, matched by their start (their spelling is the PBX's,
#: typos included), with what the agent is told. ``{ext}`` is the agent's extension.
FAILURE_REASONS: tuple[tuple[str, str], ...] = (
    ("no dial permission", "Your extension {ext} has no permission to dial out; ask the PBX administrator."),
    ("no outbound restrict", "Your extension {ext} has no outbound call permission; ask the PBX administrator."),
    ("circuit/channel congestion", "All of the PBX's lines are in use; try again in a moment."),
    ("dnd", "The customer's line is set to Do Not Disturb."),
    ("line unreachable", "The PBX's external line is unreachable; ask the PBX administrator."),
    ("user busy", "The customer declined the call."),
    ("410", "The customer is away (410 Gone)."),
    ("404", "The PBX found no such number (404 Not Found); check the customer's number."),
    ("408", "Nobody answered, or the phone is switched off (408 Request Timeout)."),
    ("480", "Nobody answered (480 Temporarily Unavailable)."),
    ("484", "The PBX's outbound route does not accept this number's format (484 Address Incomplete)."),
    ("486", "The customer is busy on another call (486 Busy Here)."),
    ("603", "The call timed out (603 Declined)."),
)

#: Words of an ``errmsg`` from ``call/dial`` and what they mean, checked in order.
DIAL_ERRORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("permission", "restrict"), "Your extension {ext} may not call out through the PBX; ask the PBX administrator."),
    (("not registered", "unregistered", "offline", "unavailable"),
     "Your extension {ext} is offline (no phone or Linkus is registered to it); sign in to your phone and try again."),
    (("not exist", "not found", "no such"), "The PBX has no extension {ext}; check the extension in your agent profile."),
    (("busy",), "Your extension {ext} is busy on another call."),
    (("callee", "number", "parameter", "invalid"), "The PBX refused the number {number} as invalid for its outbound routes."),
)


def failure_reason(reason: str, ext: str, caller_failed: bool = False) -> str:
    """The sentence for a (30015) ``reason``; ``caller_failed`` when the member that failed is
    the agent's own extension (its phone did not answer or is not registered)."""
    low = reason.strip().lower()
    if caller_failed and low[:3] in ("408", "480", "404", "410"):
        return (f"Your extension {ext} did not answer or is offline ({reason.strip()}); "
                f"sign in to your phone or Linkus and try again.")
    for start, text in FAILURE_REASONS:
        if low.startswith(start):
            return text.format(ext=ext)
    return f"The PBX could not place the call: {reason.strip() or 'no reason given'}."


def dial_error(errcode: int, errmsg: str, ext: str, number: str) -> str:
    low = errmsg.lower()
    for words, text in DIAL_ERRORS:
        if any(w in low for w in words):
            return text.format(ext=ext, number=number) + f" (PBX: {errmsg}, errcode {errcode})"
    return f"The PBX refused the call: {errmsg or 'FAILURE'} (errcode {errcode})."
