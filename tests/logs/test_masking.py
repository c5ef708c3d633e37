"""`mask_text` masks every e-mail and phone number in free text, and nothing else a log line holds."""

from __future__ import annotations

import pytest

from connectors.masking import mask_identifier, mask_text

pytestmark = pytest.mark.unit

EMAILS = [
    "jane.doe@example.com",
    "Jane.Doe+newsletter@Mail.Example.co.uk",
    "john_smith99@example.org",
    "o'brien@example.ie",
    "a@b.io",
    "first-last@sub.domain-name.com",
    "UPPER.CASE@EXAMPLE.COM",
]

#: E.164 and national spellings, as the simulated sources (and real ones) write them.
PHONES = [
    "+4915112345678",
    "+14155550132",
    "+1 415-555-0132",
    "+1 (415) 555-0132",
    "(415) 555-0132",
    "415-555-0132",
    "415.555.0132",
    "415 555 0132",
    "1 415 555 0132",
    "4155550132",
    "07700 900123",
    "07700900123",
    "07700-900123",
    "+44 7700 900123",
    "+44 (0)7700 900123",
    "0044 7700 900123",
    "0151 2345678",
    "0151/2345678",
    "+49 151 2345678",
    "+49 (151) 2345678",
    "004915123456789",
    "06 12 34 56 78",
    "06.12.34.56.78",
    "+33 6 12 34 56 78",
    "+33 (0)6 12 34 56 78",
    "0033612345678",
]

#: What log lines hold that is not an identifier: dates, times, ids, counts, amounts, versions, digests.
NOT_IDENTIFIERS = [
    "2026-01-01",
    "2026-01-01T00:00:00+00:00",
    "2026-01-01 12:30:00",
    "31.12.2026",
    "12/31/2026",
    "batch_id=20261128T000000Z",
    "manual__2026-11-30T02:11:42.362465+00:00",
    "crm:contacts:12345678",
    "P0000123",
    "550e8400-e29b-41d4-a716-446655440000",
    "sha256 9f86d081884c7d659a2feaa0c55ad015",
    "1732838400",
    "1,234.56",
    "12345.67",
    "1.234.567",
    "took 12.345678 s",
    "3 rows, 1234567 bytes",
    "rows 1 2 3 4 5 6 7",
    "astronomer-cosmos 1.15.1",
    "127.0.0.1:5432",
]


@pytest.mark.parametrize("email", EMAILS)
def test_every_common_form_of_email_is_masked_like_mask_identifier(email):
    line = f"refused <{email}>, then {email}; retrying"
    masked = mask_text(line)
    assert email not in masked
    assert masked == line.replace(email, mask_identifier("email", email))


@pytest.mark.parametrize("phone", PHONES)
def test_e164_and_national_phone_spellings_are_masked(phone):
    line = f"customer phone {phone}, updated"
    masked = mask_text(line)
    assert phone not in masked
    digits = "".join(c for c in phone if c.isdigit())
    assert digits not in "".join(c for c in masked if c.isdigit() or c == "*")
    assert masked.startswith("customer phone ") and masked.endswith(", updated")
    assert "*" in masked


@pytest.mark.parametrize("phone", ["+4915112345678", "07700900123"])
@pytest.mark.parametrize("template", ["phone={}", "tel:{}", '"phone": "{}"', "({})"])
def test_phones_in_structured_context_are_masked(phone, template):
    assert phone not in mask_text(template.format(phone))


@pytest.mark.parametrize("text", NOT_IDENTIFIERS)
def test_dates_ids_and_amounts_are_left_alone(text):
    line = f"batch at {text} done"
    assert mask_text(line) == line


def test_masking_twice_changes_nothing_more():
    line = "jane.doe@example.com called from +4915112345678 on 2026-01-01"
    once = mask_text(line)
    assert once == "j***@example.com called from +49********678 on 2026-01-01"
    assert mask_text(once) == once


def test_empty_text():
    assert mask_text("") == ""
