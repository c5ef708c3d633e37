"""The extraction runner's guarantees, on an in-memory stream: incremental reads, late arrivals,
idempotent re-runs, quarantine, recovery after a crash between writing and committing or between
committing and `_SUCCESS`, and a lake shared with other loaders."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from connectors.base import Window
from connectors.contract import contract_for
from connectors.extraction import LOADER_NAME, extract
from connectors.lake import (
    CHECKED,
    LOADER,
    ForeignBatchError,
    batch_dir,
    batch_state,
    read_marker,
    write_marker,
)
from connectors.state import StateStore, StreamLockTimeout
from tests.connectors.memory_stream import MemoryEvents, event, extract_and_die_after_commit
from tests.lake_reader import column, landed
from tests.lake_writer import land

pytestmark = pytest.mark.unit

D1 = datetime(2026, 1, 1, tzinfo=UTC)
D2, D3, D4 = D1 + timedelta(days=1), D1 + timedelta(days=2), D1 + timedelta(days=3)
B1, B2 = "20260101T000000Z", "20260102T000000Z"


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
    assert batch_state(batch_dir(home.lake, "raw", "email", "events", B1)) == "writing"  # so no reader takes it

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


def test_a_committed_batch_names_its_loader_and_a_rerun_is_checked_again(home):
    stream = MemoryEvents([event("a", D1), event("b", D1 + timedelta(hours=1), type="bogus")])
    run(stream, D1, D2, home)
    record = StateStore(home.state, "email", "events").load().batches[B1]
    for zone in ("raw", "quarantine"):
        folder = batch_dir(home.lake, zone, "email", "events", B1)
        assert batch_state(folder) == "pending"  # published and committed: the checks take it from here
        assert read_marker(folder, LOADER) == {
            "loader": LOADER_NAME,
            "source": "email",
            "stream": "events",
            "batch_id": B1,
            "publication": record.publication,
        }
        write_marker(folder, CHECKED, {"at": D2.isoformat()})

    run(stream, D1, D2, home)  # the interval re-runs: the connector replaces its own batch

    rerun = StateStore(home.state, "email", "events").load().batches[B1]
    for zone in ("raw", "quarantine"):
        folder = batch_dir(home.lake, zone, "email", "events", B1)
        assert batch_state(folder) == "pending", "a replaced batch must be checked again"
        assert read_marker(folder, LOADER)["publication"] == rerun.publication != record.publication
    assert ids(home) == ["a"]


def test_a_process_killed_between_committing_and_success_is_completed_by_the_next_run(home):
    """Kill a real extraction process after it committed the state and before it wrote `_SUCCESS`."""
    killed = extract_and_die_after_commit(home, D1)
    assert killed.returncode == 9, killed.stderr
    folder = batch_dir(home.lake, "raw", "email", "events", B1)
    assert B1 in StateStore(home.state, "email", "events").load().batches
    assert batch_state(folder) == "writing"  # committed, but not yet visible

    stream = MemoryEvents([event(f"e{i}", D1 + timedelta(hours=i)) for i in range(4)] + [event("n", D2)])
    result = run(stream, D2, D3, home)

    assert result.completed == [B1] and result.recovered == []
    assert batch_state(folder) == "pending"
    assert Counter(ids(home)) == Counter({"e0": 1, "e1": 1, "e2": 1, "e3": 1, "n": 1})


def test_an_interrupted_rerun_puts_back_the_committed_batch_with_its_markers(home, monkeypatch):
    records = [event("a", D1)]
    stream = MemoryEvents(records)
    run(stream, D1, D2, home)
    folder = batch_dir(home.lake, "raw", "email", "events", B1)
    write_marker(folder, CHECKED, {"at": D2.isoformat()})
    records.append(event("late", D1 + timedelta(hours=1)))

    def crash(self, state):
        raise KeyboardInterrupt("killed before the state was committed")

    monkeypatch.setattr(StateStore, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        run(stream, D1, D2, home)  # the re-run published its version, then died
    monkeypatch.undo()
    assert batch_state(folder) == "writing"

    result = run(stream, D2, D3, home)

    assert result.recovered == [] and batch_state(folder) == "checked"
    table = landed(home.lake, "email", "events")
    # The restored batch holds what was committed; `late` lands once, in the next batch.
    assert dict(zip(column(table, "event_id"), column(table, "_batch_id"), strict=True)) == {"a": B1, "late": B2}


def test_batches_of_other_loaders_are_never_deleted_or_replaced(home):
    # Another loader landed two batches by the contract, one published (`_SUCCESS`, checked) and one
    # still between its rename and its `_SUCCESS`, and a quarantine batch of its own.
    theirs = land(
        home.lake, "email", "events", "20251231T000000Z", [{"event_id": "x", "event_type": "open", "occurred_at": D1}]
    )
    publishing = land(
        home.lake,
        "email",
        "events",
        "20251230T000000Z",
        [{"event_id": "y", "event_type": "open", "occurred_at": D1}],
        visible=False,
    )
    quarantined = batch_dir(home.lake, "quarantine", "email", "events", "20251231T000000Z")
    quarantined.mkdir(parents=True)
    payload = (theirs / "part-00000.parquet").read_bytes()
    (quarantined / "part-00000.parquet").write_bytes(payload)

    class BadToken(MemoryEvents):
        def fetch(self, since, before):
            raise PermissionError("401 Unauthorized: bad token")

    with pytest.raises(PermissionError):
        run(BadToken([]), D1, D2, home)
    result = run(MemoryEvents([event("a", D1)]), D1, D2, home)

    assert result.recovered == []
    assert batch_state(theirs) == "checked" and batch_state(publishing) == "writing"
    assert (quarantined / "part-00000.parquet").read_bytes() == payload
    assert sorted(ids(home)) == ["a", "x", "y"]

    # Their batch id is never taken over, not even by a run of that interval.
    with pytest.raises(ForeignBatchError, match=r"batch_id=20251231T000000Z holds a batch of email/events landed by"):
        extract(
            MemoryEvents([event("b", D1)]),
            Window(None, D1),
            lake=home.lake,
            state_dir=home.state,
            batch_id="20251231T000000Z",
        )
    assert batch_state(theirs) == "checked" and sorted(ids(home)) == ["a", "x", "y"]
    assert "20251231T000000Z" not in StateStore(home.state, "email", "events").load().batches


def test_a_run_that_cannot_get_the_stream_lock_fails_naming_the_stream_and_lock_file(home):
    from filelock import FileLock

    store = StateStore(home.state, "email", "events")
    store.path.parent.mkdir(parents=True)
    with FileLock(store.lock_path):  # another extraction of the stream is running
        with pytest.raises(StreamLockTimeout, match=rf"email/events: .* its lock {store.lock_path} for over 0.2 s"):
            extract(
                MemoryEvents([event("a", D1)]), Window(D1, D2), lake=home.lake, state_dir=home.state, lock_timeout=0.2
            )
    assert ids(home) == [] and not store.path.exists()
    run(MemoryEvents([event("a", D1)]), D1, D2, home)  # once it is free, the run goes ahead
    assert ids(home) == ["a"]
