"""Requests normalise the identifier they name, and the suppression list drops an erased person's records
at landing: counted, neither landed nor quarantined, and not remembered in the state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import Window
from connectors.extraction import SUPPRESSED_REASON, extract
from connectors.state import StateStore
from tessera.erasure import InvalidRequest, parse_request, request_from_document
from tessera.erasure.suppression import is_suppressed, suppress, suppression_path
from tests.connectors.memory_stream import MemoryEvents, event
from tests.lake_reader import column, landed

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_requests_are_normalised_and_name_exactly_one_identifier():
    assert parse_request("email", "  Ann.Lee@Example.COM ").value == "ann.lee@example.com"
    assert parse_request("phone", "+49 157 6077 4570").value == "+4915760774570"
    assert parse_request("crm-id", " C0000031 ").value == "C0000031"
    assert request_from_document({"customer_id": "cus_1"}).kind == "customer_id"
    with pytest.raises(InvalidRequest, match="international"):
        parse_request("phone", "0157 60774570")  # a national number means nothing without its country
    with pytest.raises(InvalidRequest, match="exactly one"):
        request_from_document({"email": "a@b.example", "phone": "+4915760774570"})
    with pytest.raises(InvalidRequest) as refused:
        parse_request("email", "no-at-sign.example")
    assert "no-at-sign" not in str(refused.value)  # errors never repeat the value


def test_suppressed_records_are_dropped_at_landing_and_counted(home):
    suppress(home, [("email", "Gone@Example.com"), ("phone_digits", "0157 60774570")])
    assert is_suppressed(home, "email", " gone@example.COM")
    assert "gone@example.com" not in suppression_path(home).read_text().lower()  # hashes only
    records = [
        event("e1", T0, email="kept@example.com"),
        event("e2", T0 + timedelta(minutes=1), email=" GONE@example.com"),
        event("e3", T0 + timedelta(minutes=2), email="kept@example.com"),
    ]
    stream = MemoryEvents(records)
    result = extract(stream, Window(None, T0 + timedelta(hours=1)), lake=home.lake, state_dir=home.state)
    assert (result.rows, result.quarantined, result.suppressed) == (2, 0, 1)
    assert result.reasons[SUPPRESSED_REASON] == 1
    assert column(landed(home.lake, "email", "events"), "event_id") == ["e1", "e3"]
    assert landed(home.lake, "email", "events", zone="quarantine").num_rows == 0
    state = StateStore(home.state, "email", "events").load()
    assert len(state.current["seen"]) == 2  # the suppressed record left no fingerprint
    assert "suppressed" in result.summary()


def test_without_a_suppression_list_everything_lands(home):
    stream = MemoryEvents([event("e1", T0, email="gone@example.com")])
    result = extract(stream, Window(None, T0 + timedelta(hours=1)), lake=home.lake, state_dir=home.state)
    assert (result.rows, result.suppressed) == (1, 0)


def test_the_state_forgets_their_fingerprints_and_cursor_key_without_moving_back(home):
    from tessera.erasure.lake import erase_from_lake, find_spellings
    from tessera.erasure.resolve import ErasurePlan
    from tessera.erasure.state import erase_from_state

    records = [
        event("e1", T0, email="kept@example.com"),
        event("e2", T0 + timedelta(minutes=5), email="Gone@x.example"),
    ]
    extract(MemoryEvents(records), Window(None, T0 + timedelta(hours=1)), lake=home.lake, state_dir=home.state)
    store = StateStore(home.state, "email", "events")
    before = store.load()
    assert before.current["cursor"]["key"] == "e2" and len(before.current["seen"]) == 2

    plan = ErasurePlan(parse_request("email", "gone@x.example"))
    find_spellings(home, plan)
    assert "e2" in plan.record_ids and len(plan.fingerprints["email.events"]) == 1
    assert erase_from_lake(home, plan).rows == {"raw": 1, "quarantine": 0}
    assert erase_from_state(home, plan) == 2  # the fingerprint and the cursor key (the first batch started empty)
    after = store.load()
    assert after.current["cursor"] == {"ts": before.current["cursor"]["ts"], "key": ""}
    assert set(after.current["seen"]) == set(before.current["seen"]) - plan.fingerprints["email.events"]
    assert '"e2"' not in store.path.read_text() and "gone@" not in store.path.read_text().lower()
    assert column(landed(home.lake, "email", "events"), "event_id") == ["e1"]
    assert erase_from_state(home, plan) == 0
