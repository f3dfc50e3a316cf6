"""Errors a new user reads: a file just over a limit shows both sizes apart, and a number
the product refuses says which format it expects (and the README's numbers are accepted)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tray_agent.core import rules as R
from tray_agent.core.errors import FileTooLarge, InvalidInput
from tray_agent.core.phone import normalize

README = Path(__file__).resolve().parents[2] / "README.md"


def test_a_file_one_byte_over_the_limit_shows_its_exact_size():
    whatsapp = R.ChannelRules(business_can_start=False, max_file_bytes=100 * R.MB)
    with pytest.raises(FileTooLarge) as exc:
        R.check_file(whatsapp, 100_000_001, "application/zip", "WhatsApp")
    assert str(exc.value) == ("The file is 100,000,001 bytes; WhatsApp takes files up to "
                              "100,000,000 bytes (100 MB).")


def test_sizes_stay_short_when_rounding_already_shows_the_difference():
    assert R.sizes_apart(150_000_000, 100_000_000) == ("150 MB", "100 MB")
    assert R.sizes_apart(100_500_000, 100_000_000) == ("100.5 MB", "100 MB")


def test_an_invalid_number_says_which_format_to_use(world):
    with pytest.raises(InvalidInput, match=r"^'\+15551234567' is not a valid phone number; use the international "
                                           r"format, e\.g\. \+14155550123\.$"):
        world.inbox.start_conversation(world.me.id, world.sms.id, "+15551234567", "hi")
    with pytest.raises(InvalidInput, match=r"^'12' is not a phone number; use the international format"):
        normalize("12")


def test_every_phone_number_in_the_readme_and_docs_is_accepted():
    texts = [README.read_text()] + [p.read_text() for p in (README.parent / "docs").glob("*.md")]
    numbers = {n for t in texts for n in re.findall(r"(?<![\w/])\+\d{8,15}\b", t)}
    assert numbers, "the README shows example numbers"
    refused = []
    for n in sorted(numbers):
        try:
            normalize(n)
        except InvalidInput:
            refused.append(n)
    assert refused == []



def test_the_readme_rules_table_says_what_the_telegram_plugin_does():
    from tray_agent_telegram.plugin import RULES

    days = RULES.auto_close_after.days  # type: ignore[union-attr]
    [row] = [line for line in README.read_text().splitlines() if line.startswith("| idle conversations close |")]
    telegram = row.strip("|").split("|")[-1].strip()
    assert telegram.startswith(f"after {days} days")
    assert ("configurable" in telegram) == RULES.auto_close_configurable


def test_every_command_in_the_readme_table_exists():
    from tray_agent.cli import cli

    text = README.read_text()
    table = [line for line in text.splitlines() if line.startswith("| `tray-agent ")]
    named = {m for line in table for m in re.findall(r"`tray-agent ([a-z-]+)", line)}
    assert {"agent", "queue", "channel", "retry", "open", "search"} <= named
    assert sorted(n for n in named if cli.get_command(None, n) is None) == []  # type: ignore[arg-type]
    assert "channel set CHANNEL --queue Q" in text
