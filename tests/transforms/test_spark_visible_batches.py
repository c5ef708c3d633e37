"""The batch listing Spark's lake source views call (`tessera_visible_lake_batches`): the visibility rule of
the other engines, on a folder and on an `s3://` lake alike, with the files each batch is made of."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.lake_writer import land
from transforms.enrichment.spark_functions import visible_lake_batches


@pytest.mark.parametrize("where", ["folder", pytest.param("bucket", marks=pytest.mark.integration)])
def test_only_checked_batches_are_listed_with_when_they_became_visible(where, tmp_path, request):
    lake = tmp_path / "lake" if where == "folder" else request.getfixturevalue("s3_lake")
    land(lake, "crm", "contacts", "20260101T000000Z", [])
    land(lake, "crm", "contacts", "20260102T000000Z", [], visible=False)  # published, not checked yet
    listed = visible_lake_batches(str(lake / "raw" / "crm" / "contacts"))
    assert [(batch, at) for batch, at, _ in listed] == [("20260101T000000Z", "2026-01-01 00:00:00.000000")]
    assert visible_lake_batches(None) == []


def test_a_folder_batch_is_every_parquet_file_in_it(tmp_path):
    folder = land(tmp_path / "lake", "crm", "contacts", "20260101T000000Z", [])
    pq.write_table(pa.table({"contact_id": ["c2"]}), folder / "part-00001.parquet")
    (folder / "notes.txt").write_text("not a part file")
    listed = visible_lake_batches(str(tmp_path / "lake" / "raw" / "crm" / "contacts"))
    assert listed == [("20260101T000000Z", "2026-01-01 00:00:00.000000", ["part-00000.parquet", "part-00001.parquet"])]


@pytest.mark.integration
def test_a_bucket_batch_is_the_files_its_success_lists(s3_lake):
    """A part file `_SUCCESS` does not list (a re-run's upload not yet published, or an earlier version not yet
    deleted) is not the batch, though it sits in the batch's folder."""
    folder = land(s3_lake, "crm", "contacts", "20260101T000000Z", [])
    with (folder / "part-unpublished-00000.parquet").open("wb") as sink:
        pq.write_table(pa.table({"contact_id": ["c2"]}), sink)
    [(batch, _, files)] = visible_lake_batches(str(s3_lake / "raw" / "crm" / "contacts"))
    assert batch == "20260101T000000Z"
    assert len(files) == 1 and files[0].startswith("part-") and files[0] != "part-unpublished-00000.parquet"
    assert sorted(part.name for part in folder.glob("*.parquet")) == sorted([*files, "part-unpublished-00000.parquet"])


@pytest.mark.integration
def test_a_bucket_is_listed_as_it_is_now_by_a_process_that_listed_it_before(s3_lake):
    """Spark's Python workers live on between dbt invocations: a batch checked since their last listing is read."""
    stream = str(s3_lake / "raw" / "crm" / "contacts")
    land(s3_lake, "crm", "contacts", "20260101T000000Z", [])
    land(s3_lake, "crm", "contacts", "20260102T000000Z", [], visible=False)
    assert [batch for batch, _, _ in visible_lake_batches(stream)] == ["20260101T000000Z"]
    land(s3_lake, "crm", "contacts", "20260102T000000Z", [])  # published and checked since
    assert [batch for batch, _, _ in visible_lake_batches(stream)] == ["20260101T000000Z", "20260102T000000Z"]
