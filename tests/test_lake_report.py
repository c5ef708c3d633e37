"""`tessera status`'s lake table and the run report's lake volume count the same rows, from the files each batch
is made of: in a folder lake and in a bucket, where a part file its `_SUCCESS` does not list is no part of it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.contract import quarantine_schema
from connectors.lake import BatchWriter, batch_dir
from tessera.home import TesseraHome
from tessera.lake_report import lake_report
from tessera.report.gather import Missing, lake_volume
from tests.lake_writer import EXTRACTED_AT, land

EVENT = {"message_id": "m1", "type": "page", "occurred_at": EXTRACTED_AT}
CONTACT = {"contact_id": "c1", "email": "a@example.com", "updated_at": EXTRACTED_AT}


def quarantine(lake, source: str, stream: str, batch_id: str, records: int) -> None:
    """A quarantine batch as the extraction writes one (connectors/extraction.py)."""
    writer = BatchWriter(batch_dir(lake, "quarantine", source, stream, batch_id), quarantine_schema())
    refused = {
        "_record_id": "x",
        "_reason": "not a record",
        "_record": "{}",
        "_batch_id": batch_id,
        "_extracted_at": EXTRACTED_AT,
    }
    writer.write(pa.Table.from_pylist([refused] * records, schema=quarantine_schema()))
    writer.publish()
    writer.complete()


@pytest.fixture(params=["folder", pytest.param("bucket", marks=pytest.mark.integration)])
def lake(request, tmp_path):
    return tmp_path / "lake" if request.param == "folder" else request.getfixturevalue("s3_lake")


def test_status_and_report_count_each_batch_its_rows_and_its_quarantined_records(lake, tmp_path):
    land(lake, "crm", "contacts", "20260101T000000Z", [CONTACT, {**CONTACT, "contact_id": "c2"}])
    land(lake, "crm", "contacts", "20260102T000000Z", [])  # an empty batch is a batch too
    land(lake, "web", "events", "20260102T000000Z", [EVENT])
    quarantine(lake, "crm", "contacts", "20260102T000000Z", 3)

    by_stream = {(r.source, r.stream): (r.batches, r.rows, r.quarantined) for r in lake_report(lake)}
    assert by_stream[("crm", "contacts")] == (2, 2, 3)
    assert by_stream[("web", "events")] == (1, 1, 0)
    assert by_stream[("pos", "transactions")] == (0, 0, 0)

    volume = lake_volume(TesseraHome(tmp_path / "home", lake_location=str(lake)))
    by_day = {(d.source, d.day): (d.landed, d.quarantined) for d in volume.days}
    assert by_day == {("crm", "2026-01-01"): (2, 0), ("crm", "2026-01-02"): (0, 3), ("web", "2026-01-02"): (1, 0)}


def test_an_empty_lake_is_missing_from_the_report_and_counts_nothing(lake, tmp_path):
    assert all((r.batches, r.rows, r.quarantined) == (0, 0, 0) for r in lake_report(lake))
    assert isinstance(lake_volume(TesseraHome(tmp_path / "home", lake_location=str(lake))), Missing)


@pytest.mark.integration
def test_a_part_file_the_batch_does_not_list_is_not_counted(s3_lake):
    folder = land(s3_lake, "crm", "contacts", "20260101T000000Z", [CONTACT])
    with (folder / "part-unpublished-00000.parquet").open("wb") as sink:  # a re-run's upload, not yet published
        pq.write_table(pa.table({"contact_id": ["c9", "c10"]}), sink)
    (report,) = [r for r in lake_report(s3_lake) if (r.source, r.stream) == ("crm", "contacts")]
    assert (report.batches, report.rows) == (1, 1)
