"""How stored numbers are shown: the fast reading of a stored E.164 address gives what
phonenumbers' own parse gives, for every region's numbers, and a team's customers fit
the display cache (a snapshot of 10,000 conversations does not cycle it)."""

from __future__ import annotations

import random

import phonenumbers
from phonenumbers import PhoneNumberFormat

from tray_agent.core import phone


def _parsed(e164: str) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164), PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def _numbers() -> list[str]:
    out = [phonenumbers.format_number(ex, PhoneNumberFormat.E164)
           for region in phonenumbers.SUPPORTED_REGIONS for kind in range(12)
           if (ex := phonenumbers.example_number_for_type(region, kind)) is not None]
    rnd = random.Random(12)
    for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:  # leading zeros, national prefixes, junk lengths
        out += [f"+{cc}" + "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 15))) for _ in range(40)]
    return out + ["+", "+1", "+٣٣١٢٣٤٥٦٧٨", "+1 415 555 0123", "whatsapp:+14155550123", "14155550123"]


def test_every_regions_numbers_show_as_phonenumbers_formats_them():
    phone.display.cache_clear()
    mismatched = [(n, phone.display(n), _parsed(n)) for n in _numbers() if phone.display(n) != _parsed(n)]
    assert mismatched == []


def test_ten_thousand_customers_shown_twice_are_formatted_once():
    phone.display.cache_clear()
    numbers = [f"+1{646 + i // 10000}555{i % 10000:04d}" for i in range(10_000)]
    first = [phone.display(n) for n in numbers]
    assert first[:2] == ["+1 646-555-0000", "+1 646-555-0001"]
    assert [phone.display(n) for n in numbers] == first
    assert phone.display.cache_info().hits == 10_000
