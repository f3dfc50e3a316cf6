"""Phone identities, normalised to E.164 with the phonenumbers library."""

from __future__ import annotations

from functools import lru_cache

from tray_agent.core.errors import InvalidInput

#: What every "not a number" error says to do (a number the product accepts).
FORMAT_HINT = "use the international format, e.g. +14155550123"


@lru_cache(maxsize=4096)  # pure, parsing costs ~100 µs and bursts repeat numbers; ~170 B an entry, so bounded
def normalize(raw: str, default_region: str | None = None) -> str:
    """``raw`` as E.164 (``+15551234567``), or InvalidInput saying why it is not a number.

    WhatsApp ids (digits without ``+``) and ``whatsapp:``/``tel:`` prefixes are accepted.
    """
    import phonenumbers  # on first use: its region tables (~60 modules) stay out of an idle daemon

    text = (raw or "").strip()
    for prefix in ("whatsapp:", "tel:", "sms:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    if text and text[0].isdigit() and default_region is None:
        text = "+" + text  # WhatsApp ids carry the country code without '+'
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"{raw!r} is not a phone number; {FORMAT_HINT}.") from None
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"{raw!r} is not a valid phone number; {FORMAT_HINT}.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=4096)
def display(e164: str) -> str:
    """A human-friendly international rendering of an E.164 number."""
    import phonenumbers

    try:
        return phonenumbers.format_number(
            phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
    except phonenumbers.NumberParseException:
        return e164
