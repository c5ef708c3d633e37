"""The gates end to end, through `tessera transform`'s code path: a held batch never reaches the golden
customers and a release lets the next run read it; a bad batch leaves no residue that blocks later runs; a
mart that fails a critical expectation is not published, and the published marts do not change."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.contract import contract_for
from connectors.lake import batch_dir, batch_state
from tessera.checks import CheckFailed, release_batch
from tessera.checks.context import expectations_dir
from tessera.dbt_runner import run_transform
from tessera.publication import published_path
from tests.checks.conftest import batch_id, contacts, publish
from tests.lake_writer import land, land_empty_streams

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # several whole builds each


def golden_contacts(home) -> set[str]:
    """CRM contact ids that reached the published golden customers."""
    with duckdb.connect(str(published_path(home)), read_only=True) as con:
        return {
            row[0]
            for row in con.execute(
                "select record_id from marts.customer_xref where source = 'crm' and stream = 'contacts'"
            ).fetchall()
        }


def land_unchecked(home, day: int, rows: list[dict]):
    """A batch as another loader lands it: the contract's Parquet, then `_SUCCESS`; the pipeline checks it."""
    return publish(land(home.lake, "crm", "contacts", batch_id(day), rows, visible=False))


def test_a_held_batch_never_reaches_the_golden_customers_and_a_release_lets_the_next_run_read_it(home):
    land_empty_streams(home.lake)
    land_unchecked(home, 0, contacts(3))
    run_transform(home)
    assert golden_contacts(home) == {"C00000", "C00001", "C00002"}

    future = [{**row, "updated_at": datetime(2099, 1, 1, tzinfo=UTC)} for row in contacts(2, start=10)]
    folder = land_unchecked(home, 1, future)
    run_transform(home)
    assert batch_state(folder) == "held"
    assert golden_contacts(home) == {"C00000", "C00001", "C00002"}, "a held batch must not be read"

    release_batch(home, contract_for("crm", "contacts"), batch_id(1), reason="dates confirmed", who="tester")
    run_transform(home)
    assert batch_state(folder) == "released"
    assert golden_contacts(home) == {"C00000", "C00001", "C00002", "C00010", "C00011"}


@pytest.mark.parametrize("breakage", ["null key", "integer key"])
def test_a_batch_that_breaks_the_contract_is_held_not_coerced_and_leaves_nothing_that_blocks_later_runs(home, breakage):
    land_empty_streams(home.lake)
    land_unchecked(home, 0, contacts(2))
    run_transform(home)

    schema = contract_for("crm", "contacts").schema
    row = {**contacts(1, start=5)[0], "_batch_id": batch_id(1), "_extracted_at": datetime(2026, 1, 2, tzinfo=UTC)}
    bad = pa.Table.from_pylist([row], schema=schema)
    if breakage == "null key":
        bad = bad.set_column(0, "contact_id", pa.array([None], pa.string()))
    else:  # a foreign loader typed the id as a number: it must not be read as text
        bad = bad.set_column(0, "contact_id", pa.array([5], pa.int64()))
    folder = batch_dir(home.lake, "raw", "crm", "contacts", batch_id(1))
    folder.mkdir(parents=True)
    pq.write_table(bad, folder / "part-00000.parquet")
    publish(folder)

    run_transform(home)  # the bad batch is held; the run itself succeeds on the rest
    assert batch_state(folder) == "held"
    held = json.loads((folder / "_HELD.json").read_text())
    assert any(f["column"] == "contact_id" for f in held["failures"]), held
    assert golden_contacts(home) == {"C00000", "C00001"}

    land_unchecked(home, 2, contacts(1, start=7))
    run_transform(home)  # later runs are not wedged by the held batch
    assert golden_contacts(home) == {"C00000", "C00001", "C00007"}


def test_marts_that_fail_a_critical_expectation_are_not_published(home, tmp_path, monkeypatch):
    land_empty_streams(home.lake)
    land_unchecked(home, 0, contacts(2))
    run_transform(home)
    before = published_path(home).read_bytes()

    # An analyst tightens the golden suite: at most one CRM contact per customer, as a review might ask.
    suites = tmp_path / "expectations"
    shutil.copytree(expectations_dir(), suites)
    golden = suites / "gx" / "expectations" / "marts" / "golden_customers.json"
    suite = json.loads(golden.read_text())
    for expectation in suite["expectations"]:
        if (
            expectation["type"] == "expect_column_values_to_be_between"
            and expectation["kwargs"]["column"] == "profile_records"
        ):
            expectation["kwargs"]["max_value"] = 1.0
    golden.write_text(json.dumps(suite, indent=2))
    monkeypatch.setenv("TESSERA_EXPECTATIONS_DIR", str(suites))

    duplicate = {**contacts(1, start=20)[0], "email": "person0@example.com", "phone": "+4915000000000"}
    land_unchecked(home, 1, [duplicate])  # the same person typed in twice: one customer, two contacts
    with pytest.raises(CheckFailed) as failed:
        run_transform(home)
    message = str(failed.value)
    assert "marts.golden_customers" in message and "profile_records" in message
    assert "expect_column_values_to_be_between" in message
    assert published_path(home).read_bytes() == before, "nothing is published from marts that failed"
