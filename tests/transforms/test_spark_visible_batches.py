"""The batch listing Spark's lake source views call (`tessera_visible_lake_batches`): the visibility rule of
the other engines, on a folder and on an `s3://` lake alike."""

from __future__ import annotations

import pytest

from tests.lake_writer import land
from transforms.enrichment.spark_functions import visible_lake_batches


@pytest.mark.parametrize("where", ["folder", pytest.param("bucket", marks=pytest.mark.integration)])
def test_only_checked_batches_are_listed_with_when_they_became_visible(where, tmp_path, request):
    lake = tmp_path / "lake" if where == "folder" else request.getfixturevalue("s3_lake")
    land(lake, "crm", "contacts", "20260101T000000Z", [])
    land(lake, "crm", "contacts", "20260102T000000Z", [], visible=False)  # published, not checked yet
    listed = visible_lake_batches(str(lake / "raw" / "crm" / "contacts"))
    assert listed == [("20260101T000000Z", "2026-01-01 00:00:00.000000")]
    assert visible_lake_batches(None) == []
