"""Forgetting a person in a lake on object storage (a real S3 server): the files holding their rows are
replaced whole, each by one upload, and the batch keeps the same files, so `_SUCCESS` still lists them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import Window
from connectors.extraction import extract
from connectors.lake import batch_dir, batch_files
from tessera.erasure.lake import erase_from_lake, find_spellings
from tessera.erasure.requests import parse_request
from tessera.erasure.resolve import ErasurePlan
from tessera.home import TesseraHome
from tests.connectors.memory_stream import MemoryEvents, event
from tests.lake_reader import column, landed

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_their_rows_leave_the_bucket_and_everyone_elses_stay(tmp_path, s3_lake):
    home = TesseraHome(tmp_path / "home", lake_location=str(s3_lake))
    records = [
        event("e1", T0, email="kept@example.com"),
        event("e2", T0 + timedelta(minutes=5), email="Gone@x.example"),
        event("e3", T0 + timedelta(minutes=9), email="other@example.com"),
    ]
    extract(MemoryEvents(records), Window(None, T0 + timedelta(hours=1)), lake=home.lake, state_dir=home.state)
    folder = batch_dir(home.lake, "raw", "email", "events", "upto-20260301T010000Z")
    files = batch_files(folder)
    assert len(files) == 1 and str(files[0]).startswith("s3://")

    plan = ErasurePlan(parse_request("email", "gone@x.example"))
    find_spellings(home, plan)
    assert "e2" in plan.record_ids
    assert erase_from_lake(home, plan).rows == {"raw": 1, "quarantine": 0}

    assert sorted(column(landed(home.lake, "email", "events"), "event_id")) == ["e1", "e3"]
    assert batch_files(folder) == files  # the same files, fewer rows
    assert erase_from_lake(home, plan).rows == {"raw": 0, "quarantine": 0}
