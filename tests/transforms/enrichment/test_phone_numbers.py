"""Phone numbers as typed in four countries become one E.164 form; junk and guesses do not."""

from __future__ import annotations

import pyarrow as pa
import pytest

from transforms.enrichment.phone_numbers import region_of, region_of_array, to_e164, to_e164_array

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("(212) 555-0123", "US", "+12125550123"),
        ("212.555.0123", "US", "+12125550123"),
        ("1 212 555 0123", "US", "+12125550123"),
        ("+1 (212) 555-0123", None, "+12125550123"),
        ("07400 123456", "GB", "+447400123456"),
        ("07400-123456", "gb", "+447400123456"),
        ("+44 (0)7400 123456", None, "+447400123456"),
        ("0044 7400 123456", "GB", "+447400123456"),
        ("0044 7400 123456", None, "+447400123456"),
        ("0151/12345678", "DE", "+4915112345678"),
        ("+49 (151) 12345678", None, "+4915112345678"),
        ("0049 151 12345678", "DE", "+4915112345678"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("06.12.34.56.78", "FR", "+33612345678"),
        ("+33 (0)6 12 34 56 78", "US", "+33612345678"),
        # Newly assigned ranges are missing from libphonenumber's metadata; a possible length is enough.
        ("0151 1234567", "DE", "+491511234567"),
        ("(280) 555-0123", "US", "+12805550123"),
    ],
)
def test_national_and_international_formats_become_e164(typed, region, e164):
    assert to_e164(typed, region) == e164


@pytest.mark.parametrize(
    ("typed", "region"),
    [
        (None, "US"),
        ("", "US"),
        ("n/a", "US"),
        ("unknown", None),
        ("0000000000", "US"),
        ("000-000-0000", "US"),
        ("1234567890", "US"),
        ("123", "US"),
        ("07400 123456", None),  # national, and no country to read it in
        ("07400 123456", "US"),  # a UK number read as American is not a number
        ("4807111570", "GB"),  # UK numbers are written with their 0: this is not one
        ("(012) 555-0123", "US"),  # no North American area code starts with 0
    ],
)
def test_junk_and_unreadable_numbers_are_none(typed, region):
    assert to_e164(typed, region) is None


def test_region_of_a_number():
    assert region_of("+447400123456") == "GB"
    assert region_of("+12125550123") == "US"
    assert region_of("+33612345678") == "FR"
    assert region_of("+4915112345678") == "DE"
    assert region_of("not a number") is None
    assert region_of(None) is None


def test_arrow_columns_keep_row_order_and_nulls():
    phones = pa.chunked_array([["(212) 555-0123", None, "07400 123456"], ["07400 123456", "n/a", "+33 6 12 34 56 78"]])
    regions = pa.chunked_array([["US", "US", "GB"], [None, "GB", None]])
    e164 = to_e164_array(phones, regions)
    assert e164.to_pylist() == ["+12125550123", None, "+447400123456", None, None, "+33612345678"]
    assert region_of_array(e164).to_pylist() == ["US", None, "GB", None, None, "FR"]


def test_each_distinct_number_is_parsed_once():
    to_e164.cache_clear()
    phones = pa.array(["(212) 555-0123"] * 5000 + ["07400 123456"] * 5000)
    regions = pa.array(["US"] * 5000 + ["GB"] * 5000)
    assert to_e164_array(phones, regions).null_count == 0
    assert to_e164.cache_info().misses == 2
