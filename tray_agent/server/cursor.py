"""Sync cursors: ``"<epoch>:<seq>"``. A cursor from another database epoch, from after the
log's end (a restored backup) or from before what the log keeps is told ``must_resync``.
"""

from __future__ import annotations

from tray_agent.core.errors import InvalidInput, TrayAgentError


class MustResync(TrayAgentError):
    status = 410
    code = "must_resync"


def format_cursor(epoch: str, seq: int) -> str:
    return f"{epoch}:{seq}"


def parse_cursor(cursor: str) -> tuple[str, int]:
    epoch, sep, seq = (cursor or "").strip().rpartition(":")
    if not sep or not epoch or not seq.isdigit():
        raise InvalidInput("since must be a cursor like \"<epoch>:<seq>\" from a snapshot or an event.")
    return epoch, int(seq)


def check_cursor(cursor: str, epoch: str, oldest: int, newest: int) -> int:
    """The seq to read after, or MustResync with the reason."""
    their_epoch, seq = parse_cursor(cursor)
    if their_epoch != epoch:
        raise MustResync("This cursor is from another database (a new or restored server); "
                         "take a new snapshot.")
    if seq > newest:
        raise MustResync("This cursor is ahead of the server's event log (it was restored from "
                         "a backup); take a new snapshot.")
    if oldest and seq < oldest - 1:
        raise MustResync("The server no longer keeps the events after this cursor; take a new snapshot.")
    return seq
