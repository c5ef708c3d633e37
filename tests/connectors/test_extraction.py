"""The extraction runner's guarantees, on an in-memory stream: incremental reads, late arrivals,
idempotent re-runs, quarantine, and recovery after a crash between writing and committing."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from connectors.base import Window
from connectors.contract import contract_for
from connectors.extraction import extract
from connectors.lake import batch_dir
from connectors.state import StateStore
from tests.connectors.memory_stream import MemoryEvents, event
from tests.lake_reader import column, landed

pytestmark = pytest.mark.unit

D1 = datetime(2026, 1, 1, tzinfo=UTC)
D2, D3, D4 = D1 + timedelta(days=1), D1 + timedelta(days=2), D1 + timedelta(days=3)


def run(stream, start, end, home):
    return extract(stream, Window(start, end), lake=home.lake, state_dir=home.state)


def ids(home):
    return column(landed(home.lake, "email", "events"), "event_id")


def test_incremental_runs_land_only_new_records(home):
    records = [event(f"e{i}", D1 + timedelta(hours=i)) for i in range(10)]
    stream = MemoryEvents(records)
    first = run(stream, D1, D2, home)
    assert first.rows == 10 and first.batch_id == "20260101T000000Z"

    records += [event("e10", D2 + timedelta(hours=1)), event("e11", D2 + timedelta(hours=5))]
    second = run(stream, D2, D3, home)
    assert second.rows == 2
    assert sorted(ids(home)) == sorted(f"e{i}" for i in range(12))
    # The second read started one lookback before the cursor (e9 at 09:00), not at the beginning.
    assert stream.fetches[-1] == (D1 + timedelta(hours=9) - stream.lookback, D3)


def test_a_late_record_within_the_lookback_is_picked_up_once(home):
    records = [event("a", D1 + timedelta(hours=23, minutes=30))]
    stream = MemoryEvents(records)
    run(stream, D1, D2, home)
    # Arrives after the first run, dated before the cursor but within the one-hour lookback.
    records.append(event("late", D1 + timedelta(hours=23)))
    result = run(stream, D2, D3, home)
    assert result.rows == 1 and result.skipped_seen == 1
    assert Counter(ids(home)) == Counter({"a": 1, "late": 1})


def test_an_updated_record_lands_again_as_a_new_version(home):
    records = [event("a", D1 + timedelta(hours=1))]
    stream = MemoryEvents(records)
    run(stream, D1, D2, home)
    records.append(event("a", D2 + timedelta(hours=2), email="new@example.com"))
    run(stream, D2, D3, home)
    table = landed(home.lake, "email", "events")
    assert Counter(zip(column(table, "event_id"), column(table, "email"), strict=True)) == Counter(
        {("a", None): 1, ("a", "new@example.com"): 1}
    )


def test_rerunning_an_interval_replaces_its_batch(home):
    records = [event(f"e{i}", D1 + timedelta(hours=i)) for i in range(5)]
    stream = MemoryEvents(records)
    run(stream, D1, D2, home)
    records.append(event("n", D2 + timedelta(hours=1)))
    run(stream, D2, D3, home)
    state_before = StateStore(home.state, "email", "events").load().current

    rerun = run(stream, D1, D2, home)
    assert rerun.rerun and rerun.rows == 5
    assert Counter(ids(home)) == Counter({f"e{i}": 1 for i in range(5)} | {"n": 1})
    assert StateStore(home.state, "email", "events").load().current == state_before

    again = run(stream, D2, D3, home)
    assert again.rerun and again.rows == 1
    assert len(ids(home)) == 6


def test_bad_records_go_to_quarantine_with_reason_and_payload(home):
    records = [
        event("good", D1 + timedelta(hours=1)),
        event("bad-type", D1 + timedelta(hours=2), type="bogus"),
        event("bad-ts", D1 + timedelta(hours=3), timestamp="N/A"),
        event("", D1 + timedelta(hours=4)),
    ]
    result = run(MemoryEvents(records), D1, D2, home)
    assert (result.rows, result.quarantined) == (1, 3)
    q = landed(home.lake, "email", "events", zone="quarantine")
    reasons = dict(zip(column(q, "_record_id"), column(q, "_reason"), strict=True))
    assert reasons == {
        "bad-type": "type 'bogus' is not an event type",
        "bad-ts": "timestamp is not an ISO-8601 timestamp: 'N/A'",
        None: "missing required field event_id",
    }
    assert all('"type":' in r for r in column(q, "_record"))
    # A re-read within the lookback does not quarantine the same records twice.
    again = run(MemoryEvents(records), D2, D3, home)
    assert (again.rows, again.quarantined) == (0, 0)


def test_landed_files_follow_the_contract(home):
    run(MemoryEvents([event("a", D1)]), D1, D2, home)
    folder = batch_dir(home.lake, "raw", "email", "events", "20260101T000000Z")
    (part,) = folder.glob("*.parquet")
    assert pq.read_schema(part).remove_metadata() == contract_for("email", "events").schema


def test_a_crash_between_writing_and_committing_is_recovered_without_duplicates(home, monkeypatch):
    records = [event(f"e{i}", D1 + timedelta(hours=i)) for i in range(4)]
    stream = MemoryEvents(records)

    def crash(self, state):
        raise KeyboardInterrupt("killed before the state was committed")

    monkeypatch.setattr(StateStore, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        run(stream, D1, D2, home)
    monkeypatch.undo()
    assert len(ids(home)) == 4  # written, but not committed

    records.append(event("e4", D2 + timedelta(hours=1)))
    result = run(stream, D2, D3, home)  # the next interval, not a re-run
    assert result.recovered == ["20260101T000000Z"]
    assert Counter(ids(home)) == Counter({f"e{i}": 1 for i in range(5)})


def test_an_interrupted_replacement_restores_the_previous_batch(home):
    stream = MemoryEvents([event("a", D1)])
    run(stream, D1, D2, home)
    target = batch_dir(home.lake, "raw", "email", "events", "20260101T000000Z")
    target.rename(target.parent / f".replaced-{target.name}-deadbeef")  # the state a crash mid-swap leaves
    run(stream, D2, D3, home)
    assert ids(home) == ["a"]


def test_a_window_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(None, datetime(2026, 1, 1))
