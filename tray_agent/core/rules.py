"""Channel rules as data: what each channel type declares and how the core enforces it.

Nothing here knows a channel's name. A channel plugin declares a ``ChannelRules``; the
service asks these functions whether a start, a reply or a file is allowed and when an
idle conversation closes. Every function takes the time it should judge against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tray_agent.core import phone
from tray_agent.core.clock import utc
from tray_agent.core.errors import FileTooLarge, InvalidInput, ReplyWindowClosed, RuleViolation

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
class AddressKind:
    """A kind of customer address a channel accepts besides its main one: a WhatsApp
    user known only by a business-scoped id, an SMS sender id such as ``MyBank``.

    The kind is never stored: it is read back from the address's shape (``pattern``), so a
    phone channel's E.164 numbers (always ``+digits``) can never be mistaken for one.
    """

    #: Stored as the contact point's kind ("user_id", "sender_id").
    name: str
    #: Shown beside the address ("WhatsApp user ID").
    label: str
    #: A regular expression the whole address matches.
    pattern: str
    #: Can the business send to such an address?
    replyable: bool = True
    #: Why not, for the composer; ``{address}`` is replaced.
    not_replyable_reason: str = "{address} cannot be replied to on this channel."

    def matches(self, address: str) -> bool:
        return re.fullmatch(self.pattern, address) is not None

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "label": self.label, "replyable": self.replyable}


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
    #: Longest text the provider takes in one message, either way: longer replies are
    #: refused, and a longer inbound text is not the provider's (see ``cap_inbound_text``).
    max_text_chars: int = 4096
    #: Customer addresses other than the main kind this channel carries.
    other_address_kinds: tuple[AddressKind, ...] = ()

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
            "other_address_kinds": [k.to_dict() for k in self.other_address_kinds],
        }


def _secs(td: timedelta | None) -> int | None:
    return None if td is None else int(td.total_seconds())


#: Room above ``max_text_chars`` for the notes an adapter appends ("[a file was not received]").
INBOUND_NOTE_SLACK = 1000
TRUNCATED_MARK = "\n[… {n} more characters were not kept: longer than {label} messages can be.]"


def normalize_address(rules: ChannelRules, raw: str) -> str:
    """A customer address as stored: E.164 for a phone channel's numbers, the value as given
    for an opaque channel and for the channel's other address kinds."""
    text = (raw or "").strip()
    if rules.address_kind != "phone":
        if not text:
            raise InvalidInput("The customer address is empty.")
        return text
    try:
        return phone.normalize(text)
    except InvalidInput:
        if text and not text.startswith("+") and any(k.matches(text) for k in rules.other_address_kinds):
            return text
        raise


def address_kind(rules: ChannelRules, address: str) -> AddressKind | None:
    """The other kind a stored address is of; None for the channel's main kind."""
    if rules.address_kind == "phone" and address.startswith("+"):
        return None
    return next((k for k in rules.other_address_kinds if k.matches(address)), None)


def contact_kind(rules: ChannelRules, address: str) -> str:
    """The kind a contact point for this address is saved with."""
    other = address_kind(rules, address)
    return other.name if other is not None else rules.address_kind


def address_display(rules: ChannelRules, address: str) -> str:
    """How the customer's address is shown: a readable number, or the id and what it is."""
    other = address_kind(rules, address)
    if other is not None:
        return f"{address} ({other.label})"
    return phone.display(address) if rules.address_kind == "phone" else address


def check_replyable(rules: ChannelRules, address: str) -> None:
    """Refuse a send to an address the channel cannot deliver to (an SMS sender id)."""
    other = address_kind(rules, address)
    if other is not None and not other.replyable:
        raise RuleViolation(other.not_replyable_reason.format(address=address))


def cap_inbound_text(rules: ChannelRules, text: str, label: str) -> str:
    """An inbound text cut, with a mark, where it runs past anything the provider sends:
    the last line of defence for adapters that do not refuse such a body themselves."""
    limit = rules.max_text_chars + INBOUND_NOTE_SLACK
    if len(text) <= limit:
        return text
    return text[:limit] + TRUNCATED_MARK.format(n=len(text) - limit, label=label)


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
