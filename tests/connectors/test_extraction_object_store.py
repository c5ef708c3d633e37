"""The extraction runner's guarantees with the lake on object storage (a real S3 server, SeaweedFS): incremental
reads, quarantine, re-runs, and recovery after a crash between writing and committing, or a process killed
between committing and `_SUCCESS`, with no rename to lean on."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import Window
from connectors.extraction import extract
from connectors.lake import CHECKED, batch_dir, batch_files, batch_ids, batch_state, is_visible, write_marker
from connectors.state import StateStore
from tessera.home import TesseraHome
from tests.connectors.memory_stream import MemoryEvents, event, extract_and_die_after_commit
from tests.lake_reader import column, landed

pytestmark = pytest.mark.integration

D1 = datetime(2026, 1, 1, tzinfo=UTC)
D2, D3 = D1 + timedelta(days=1), D1 + timedelta(days=2)
B1, B2 = "20260101T000000Z", "20260102T000000Z"


@pytest.fixture
def home(tmp_path, s3_lake):
    return TesseraHome(tmp_path / "home", lake_location=str(s3_lake))


def run(stream, start, end, home):
    return extract(stream, Window(start, end), lake=home.lake, state_dir=home.state)


def ids(home, zone="raw"):
    return column(landed(home.lake, "email", "events", zone), "event_id")


def test_incremental_runs_and_quarantine_land_in_the_bucket(home):
    bad = event("bad", D1 + timedelta(hours=2), type="bogus")
    stream = MemoryEvents([event("e0", D1), event("e1", D1 + timedelta(hours=1)), bad])
    first = run(stream, D1, D2, home)
    assert (first.rows, first.quarantined) == (2, 1)
    assert str(home.lake).startswith("s3://") and batch_ids(home.lake / "raw" / "email" / "events") == [B1]
    quarantined = landed(home.lake, "email", "events", zone="quarantine")
    assert column(quarantined, "_reason") == ["type 'bogus' is not an event type"]

    stream.records.append(event("e2", D2 + timedelta(hours=1)))
    assert run(stream, D2, D3, home).rows == 1
    assert sorted(ids(home)) == ["e0", "e1", "e2"]
    assert batch_state(batch_dir(home.lake, "raw", "email", "events", B2)) == "pending"


def test_rerunning_an_interval_replaces_its_batch_and_its_check(home):
    stream = MemoryEvents([event("a", D1)])
    run(stream, D1, D2, home)
    folder = batch_dir(home.lake, "raw", "email", "events", B1)
    write_marker(folder, CHECKED, {"at": D2.isoformat()})
    stream.records.append(event("b", D1 + timedelta(hours=3)))
    run(stream, D1, D2, home)
    assert sorted(ids(home)) == ["a", "b"] and len(batch_files(folder)) == 1
    assert not is_visible(folder)  # the new version is checked again


def test_a_crash_between_writing_and_committing_is_recovered_without_duplicates(home, monkeypatch):
    records = [event(f"e{i}", D1 + timedelta(hours=i)) for i in range(4)]
    stream = MemoryEvents(records)

    def crash(self, state):
        raise KeyboardInterrupt("killed before the state was committed")

    monkeypatch.setattr(StateStore, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        run(stream, D1, D2, home)
    monkeypatch.undo()
    assert batch_state(batch_dir(home.lake, "raw", "email", "events", B1)) == "writing"  # so no reader takes it

    records.append(event("e4", D2 + timedelta(hours=1)))
    result = run(stream, D2, D3, home)
    assert result.recovered == [B1]
    assert Counter(ids(home)) == Counter({f"e{i}": 1 for i in range(5)})


def test_a_process_killed_between_committing_and_success_is_completed_by_the_next_run(home):
    killed = extract_and_die_after_commit(home, D1)
    assert killed.returncode == 9, killed.stderr
    folder = batch_dir(home.lake, "raw", "email", "events", B1)
    assert batch_state(folder) == "writing"  # committed, but not yet visible

    stream = MemoryEvents([event(f"e{i}", D1 + timedelta(hours=i)) for i in range(4)] + [event("n", D2)])
    result = run(stream, D2, D3, home)

    assert result.completed == [B1] and result.recovered == []
    assert batch_state(folder) == "pending"
    assert Counter(ids(home)) == Counter({"e0": 1, "e1": 1, "e2": 1, "e3": 1, "n": 1})


def test_the_checks_read_the_listed_files_and_make_the_batch_visible(home):
    from connectors.contract import contract_for
    from tessera.checks.batch_checks import check_pending

    stream = MemoryEvents([event("a", D1), event("b", D1 + timedelta(hours=1)), event("c", D1 + timedelta(hours=2))])
    run(stream, D1, D2, home)
    folder = batch_dir(home.lake, "raw", "email", "events", B1)
    write_marker(folder, CHECKED, {"at": D2.isoformat()})
    stream.records.append(event("d", D1 + timedelta(hours=5)))
    writer_parts = len(batch_files(folder))
    run(stream, D1, D2, home)  # a re-run: the checks must see the new version's files only

    (result,) = check_pending(home, contract_for("email", "events"))

    assert (result.batch_id, result.passed, result.rows) == (B1, True, 4) and writer_parts == 1
    assert is_visible(folder) and len(batch_files(folder)) == 1
