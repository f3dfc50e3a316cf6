"""Channel rules as data: what each channel type declares and how the core enforces it.

Nothing here knows a channel's name. A channel plugin declares a ``ChannelRules``; the
service asks these functions whether a start, a reply or a file is allowed and when an
idle conversation closes. Every function takes the time it should judge against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tray_agent.core.clock import utc
from tray_agent.core.errors import FileTooLarge, ReplyWindowClosed, RuleViolation

MB = 1_000_000
PRODUCT_MAX_FILE_BYTES = 100 * MB
DEFAULT_FILE_RETENTION = timedelta(hours=24)


def human_size(n: int, digits: int = 3) -> str:
    """1_500_000 → "1.5 MB"; decimal units, as the providers state their limits."""
    for unit, size in (("GB", 10**9), ("MB", MB), ("kB", 1000)):
        if n >= size:
            return f"{n / size:.{digits}g} {unit}"
    return f"{n} bytes"


def sizes_apart(size: int, limit: int) -> tuple[str, str]:
    """A file's size and a limit it exceeds, written so that the difference shows:
    "100.5 MB" against "100 MB", or exact bytes when rounding would make them look equal."""
    for digits in (3, 4, 5):
        a, b = human_size(size, digits), human_size(limit, digits)
        if a != b:
            return a, b
    return f"{size:,} bytes", f"{limit:,} bytes ({human_size(limit)})"


@dataclass(frozen=True)
class ChannelRules:
    """What a channel type allows. Declared by its plugin, enforced by the core, shown by the UI."""

    #: May the business open a conversation (SMS yes, WhatsApp no)?
    business_can_start: bool
    #: Free-form replies are allowed only this long after the customer's last message.
    reply_window: timedelta | None = None
    #: An open conversation with no activity for this long is closed; None = never.
    auto_close_after: timedelta | None = None
    #: May the administrator change ``auto_close_after`` per channel (SMS: yes)?
    auto_close_configurable: bool = False
    #: The product's per-file limit on this channel.
    max_file_bytes: int = PRODUCT_MAX_FILE_BYTES
    #: Lower native limits by MIME prefix ("image/" → 5 MB). Over them the channel must
    #: send a download link instead (``files_as_links``) or the file is refused.
    native_file_limits: dict[str, int] = field(default_factory=dict)
    #: Files over a native limit are sent as a link served by the agent.
    files_as_links: bool = True
    #: Files are deleted this long after they arrived; the message stays, marked expired.
    file_retention: timedelta = DEFAULT_FILE_RETENTION
    one_to_one: bool = True
    read_receipts: bool = False
    templates: bool = False
    #: How customer addresses are normalised: "phone" (E.164) or "opaque" (kept as given).
    address_kind: str = "phone"
    #: Longest text the provider takes in one message.
    max_text_chars: int = 4096

    def to_dict(self) -> dict[str, object]:
        return {
            "business_can_start": self.business_can_start,
            "reply_window_seconds": _secs(self.reply_window),
            "auto_close_after_seconds": _secs(self.auto_close_after),
            "auto_close_configurable": self.auto_close_configurable,
            "max_file_bytes": self.max_file_bytes,
            "native_file_limits": dict(self.native_file_limits),
            "files_as_links": self.files_as_links,
            "file_retention_seconds": _secs(self.file_retention),
            "one_to_one": self.one_to_one,
            "read_receipts": self.read_receipts,
            "templates": self.templates,
            "address_kind": self.address_kind,
            "max_text_chars": self.max_text_chars,
        }


def _secs(td: timedelta | None) -> int | None:
    return None if td is None else int(td.total_seconds())


def window_closes_at(rules: ChannelRules, last_inbound_at: datetime | None) -> datetime | None:
    """When free-form replies stop being allowed; None when the channel has no window."""
    if rules.reply_window is None or last_inbound_at is None:
        return None
    # In UTC: adding hours to a zoned time is wall-clock arithmetic, wrong across DST.
    return utc(last_inbound_at) + rules.reply_window


def check_reply(rules: ChannelRules, last_inbound_at: datetime | None, now: datetime) -> None:
    """Raise ReplyWindowClosed when a free-form reply at ``now`` falls outside the window."""
    if rules.reply_window is None:
        return
    if last_inbound_at is None:
        raise RuleViolation("The customer has not written yet; this channel only allows replies.")
    closes = utc(last_inbound_at) + rules.reply_window
    if utc(now) >= closes:
        raise ReplyWindowClosed(closes)


def check_start(rules: ChannelRules, channel_label: str) -> None:
    if not rules.business_can_start:
        raise RuleViolation(
            f"{channel_label} conversations can only be started by the customer."
        )


def auto_close_due(
    rules: ChannelRules, override: timedelta | None, last_activity_at: datetime, now: datetime
) -> bool:
    """Has an open conversation been idle long enough to close by itself?"""
    after = effective_auto_close(rules, override)
    return after is not None and utc(now) >= utc(last_activity_at) + after


def effective_auto_close(rules: ChannelRules, override: timedelta | None) -> timedelta | None:
    """The channel's idle-closure time: the administrator's setting where the rules allow one."""
    if rules.auto_close_configurable and override is not None:
        return override if override.total_seconds() > 0 else None
    return rules.auto_close_after


def check_file(rules: ChannelRules, size: int, mime_type: str, channel_label: str) -> bool:
    """Refuse a file the channel cannot carry; return True if it must go as a download link."""
    if size <= 0:
        raise FileTooLarge("The file is empty.")
    if size > rules.max_file_bytes:
        got, most = sizes_apart(size, rules.max_file_bytes)
        raise FileTooLarge(f"The file is {got}; {channel_label} takes files up to {most}.")
    limit = native_limit(rules, mime_type)
    if limit is not None and size > limit:
        if not rules.files_as_links:
            got, most = sizes_apart(size, limit)
            raise FileTooLarge(f"{channel_label} takes {mime_type} files up to {most}; this one is {got}.")
        return True
    return False


def native_limit(rules: ChannelRules, mime_type: str) -> int | None:
    """The most specific native limit for ``mime_type`` ("image/png" before "image/" before "")."""
    best: tuple[int, int] | None = None
    for prefix, limit in rules.native_file_limits.items():
        if mime_type.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), limit)
    return None if best is None else best[1]
