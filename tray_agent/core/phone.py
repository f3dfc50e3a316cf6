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


#: Big enough for a team's customers: a snapshot of 10,000 conversations must not cycle
#: an LRU it overflows (every lookup a miss); ~200 B an entry, filled only by use.
DISPLAY_CACHE = 32_768


@lru_cache(maxsize=DISPLAY_CACHE)
def display(e164: str) -> str:
    """A human-friendly international rendering of an E.164 number."""
    import phonenumbers

    number = _from_e164(e164)
    try:
        if number is None:
            number = phonenumbers.parse(e164)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def _from_e164(e164: str):  # type: ignore[no-untyped-def]  # -> phonenumbers.PhoneNumber | None
    """The number a stored ``+<digits>`` address holds, as ``parse`` would read it but
    without its generic extraction (two thirds of a display's cost, the largest part of a
    cold snapshot); None for anything else, which ``parse`` handles."""
    from phonenumbers import PhoneMetadata, PhoneNumber
    from phonenumbers.phonenumberutil import (
        COUNTRY_CODE_TO_REGION_CODE, ValidationResult, _maybe_strip_national_prefix_carrier_code,
        _test_number_length, region_code_for_country_code,
    )

    digits = e164[1:]
    if not e164.startswith("+") or not digits.isascii() or not digits.isdigit() or len(digits) > 17:
        return None
    for k in (1, 2, 3):  # country calling codes are prefix-free
        cc = int(digits[:k])
        if cc not in COUNTRY_CODE_TO_REGION_CODE:
            continue
        nsn = digits[k:]
        if len(nsn) < 2:
            return None
        meta = PhoneMetadata.metadata_for_region_or_calling_code(cc, region_code_for_country_code(cc))
        if meta is not None:  # as parse does: a national prefix is dropped if what is left is possible
            _carrier, stripped, _ = _maybe_strip_national_prefix_carrier_code(nsn, meta)
            if _test_number_length(stripped, meta) not in (ValidationResult.TOO_SHORT, ValidationResult.INVALID_LENGTH,
                                                            ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
                nsn = stripped
        number = PhoneNumber(country_code=cc, national_number=int(nsn))
        if len(nsn) > 1 and nsn[0] == "0":  # Italy and others keep national leading zeros
            number.italian_leading_zero = True
            zeros = 1
            while zeros < len(nsn) - 1 and nsn[zeros] == "0":
                zeros += 1
            if zeros != 1:
                number.number_of_leading_zeros = zeros
        return number
    return None
