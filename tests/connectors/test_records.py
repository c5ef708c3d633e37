"""Parsing source values into contract types, and the reasons given when that fails."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connectors.records import RecordError, parse_bool, parse_decimal, parse_int, parse_timestamp, require, to_json

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-01-02T03:04:05.678Z", datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
        ("2026-01-02T04:04:05+01:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02 03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (None, None),
        ("", None),
    ],
)
def test_timestamps_become_utc(value, expected):
    assert parse_timestamp(value, "ts") == expected


@pytest.mark.parametrize("value", ["N/A", "yesterday", "2026-13-01T00:00:00Z"])
def test_bad_timestamps_name_the_field_and_value(value):
    with pytest.raises(RecordError, match=rf"updatedAt is not an ISO-8601 timestamp: '{value}'"):
        parse_timestamp(value, "updatedAt")


def test_booleans_as_sources_write_them():
    assert [parse_bool(v, "f") for v in ("true", "FALSE", "yes", "0", True, None, "")] == [
        True,
        False,
        True,
        False,
        True,
        None,
        None,
    ]
    with pytest.raises(RecordError, match="f is not a boolean: 'maybe'"):
        parse_bool("maybe", "f")


def test_decimals_keep_two_places_and_refuse_what_does_not_fit():
    assert parse_decimal("12.5", "amount") == Decimal("12.50")
    assert parse_decimal(19.99, "amount") == Decimal("19.99")
    for bad, reason in [("12,50", "not a decimal"), ("1.234", "more than 2 decimal places"), ("1e20", "out of range")]:
        with pytest.raises(RecordError, match=reason):
            parse_decimal(bad, "amount")


def test_integers():
    assert parse_int("3", "n") == 3
    with pytest.raises(RecordError, match="n is not an integer: 'three'"):
        parse_int("three", "n")


def test_required_fields_are_named():
    with pytest.raises(RecordError, match="missing required fields a, b"):
        require({"a": None, "c": 1}, ("a", "b", "c"))


def test_canonical_json_is_stable():
    assert to_json({"b": 1, "a": [1, 2]}) == to_json({"a": [1, 2], "b": 1}) == '{"a":[1,2],"b":1}'
