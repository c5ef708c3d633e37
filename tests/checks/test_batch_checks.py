"""The batch gate: a landed batch becomes visible when its checks pass, and is held on a critical failure."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.contract import contract_for
from connectors.lake import CHECKED, HELD, batch_state, read_marker
from tessera.checks import check_batch, check_pending
from tessera.checks.suites import suite_file
from tests.checks.conftest import (
    NOW,
    batch_id,
    contacts,
    contract_table,
    land_pending,
    land_table,
    subscribers,
)
from tests.lake_writer import land

pytestmark = pytest.mark.unit

CONTACTS = contract_for("crm", "contacts")
SUBSCRIBERS = contract_for("email", "subscribers")


def failures_on(result, column):
    return [(f.expectation_type, f.severity) for f in (*result.critical, *result.warnings) if f.column == column]


def test_a_good_batch_passes_and_becomes_visible_with_the_time_it_did(home):
    folder = land_pending(home.lake, "crm", "contacts", 0, contacts(20))
    before = datetime.now(UTC)

    result = check_batch(home, CONTACTS, batch_id(0), now=NOW)

    assert result.passed and result.critical == [] and result.warnings == []
    assert result.rows == 20 and result.expectations == len(read_suite("crm.contacts"))
    assert batch_state(folder) == "checked" and not (folder / HELD).exists()
    marker = read_marker(folder, CHECKED)
    at = datetime.fromisoformat(marker["at"])
    assert at.utcoffset() == timedelta(0) and before <= at <= datetime.now(UTC)
    assert marker["warnings"] == [] and marker["suite"] == "crm.contacts" and marker["rows"] == 20
    assert result.docs_page is not None and result.docs_page.is_file()
    assert batch_id(0) in result.docs_page.read_text()


def test_an_empty_batch_passes(home):
    folder = land_pending(home.lake, "crm", "contacts", 0, [])

    result = check_batch(home, CONTACTS, batch_id(0), now=NOW)

    assert result.passed and result.rows == 0 and result.warnings == []
    assert batch_state(folder) == "checked"


def test_null_keys_hold_the_batch(home):
    rows = contacts(10)
    rows[3]["contact_id"] = rows[7]["contact_id"] = None
    folder = land_table(home.lake, "crm", "contacts", batch_id(0), contract_table("crm", "contacts", batch_id(0), rows))

    result = check_batch(home, CONTACTS, batch_id(0), now=NOW)

    assert not result.passed and batch_state(folder) == "held" and not (folder / CHECKED).exists()
    (failure,) = result.critical
    assert (failure.expectation_type, failure.column, failure.observed) == (
        "expect_column_values_to_not_be_null",
        "contact_id",
        "2 of 10 rows (20.0%)",
    )
    held = read_marker(folder, HELD)
    assert held["failures"] == [failure.to_dict()] and datetime.fromisoformat(held["at"]) <= datetime.now(UTC)


def test_a_duplicated_id_holds_the_batch_and_is_named(home):
    rows = contacts(10)
    rows[9]["contact_id"] = rows[2]["contact_id"]  # C00002 twice
    land_pending(home.lake, "crm", "contacts", 0, rows)

    result = check_batch(home, CONTACTS, batch_id(0), now=NOW)

    (failure,) = result.critical
    assert (failure.expectation_type, failure.column) == ("expect_column_values_to_be_unique", "contact_id")
    assert failure.sample_values == ("C00002",)
    assert "2 of 10 non-null values" in failure.observed


def test_timestamps_in_the_future_or_before_the_source_existed_hold_the_batch(home):
    rows = contacts(10)
    rows[1]["updated_at"] = NOW + timedelta(days=30)
    rows[4]["updated_at"] = datetime(1999, 12, 31, tzinfo=UTC)
    rows[5]["created_at"] = NOW + timedelta(days=1)  # an optional timestamp: a warning only
    land_pending(home.lake, "crm", "contacts", 0, rows)

    result = check_batch(home, CONTACTS, batch_id(0), now=NOW)

    (failure,) = result.critical
    assert (failure.expectation_type, failure.column) == ("expect_column_values_to_be_between", "updated_at")
    assert failure.expected == f"values between 2000-01-01T00:00:00+00:00 and {NOW.isoformat()}"
    assert set(failure.sample_values) == {
        "contact_id=C00001: 2026-07-01T00:00:00+00:00",
        "contact_id=C00004: 1999-12-31T00:00:00+00:00",
    }
    assert failures_on(result, "created_at") == [("expect_column_values_to_be_between", "warning")]


def test_a_dropped_column_holds_the_batch_once_not_once_per_expectation(home):
    table = contract_table("crm", "contacts", batch_id(0), contacts(10)).drop_columns(["email"])
    folder = land_table(home.lake, "crm", "contacts", batch_id(0), table)

    result = check_batch(home, CONTACTS, batch_id(0), now=NOW)

    assert batch_state(folder) == "held"
    assert [(f.expectation_type, f.column, f.observed) for f in result.critical] == [
        ("expect_column_to_have_arrow_type", "email", "missing")
    ]
    (drift,) = result.warnings
    assert (drift.expectation_type, drift.observed) == ("expect_table_columns_to_match_set", "missing column(s) email")


def test_an_int_column_where_the_contract_says_string_is_held_never_coerced(home):
    table = contract_table("crm", "contacts", batch_id(0), contacts(5))
    table = table.set_column(0, pa.field("contact_id", pa.int64()), pa.array(range(5), pa.int64()))
    folder = land_table(home.lake, "crm", "contacts", batch_id(0), table)
    part = folder / "part-00000.parquet"
    digest = hashlib.sha256(part.read_bytes()).hexdigest()

    result = check_batch(home, CONTACTS, batch_id(0), now=NOW)

    assert batch_state(folder) == "held"
    (failure,) = result.critical
    assert (failure.column, failure.expected, failure.observed) == ("contact_id", "Arrow type string", "int64")
    message = result.message()
    assert f"crm.contacts batch {batch_id(0)} failed" in message
    assert (
        "expect_column_to_have_arrow_type on contact_id (critical): expected Arrow type string; observed int64"
        in message
    )
    assert "must be present with Arrow type" in result.docs_page.read_text()  # Data Docs say it in words
    assert hashlib.sha256(part.read_bytes()).hexdigest() == digest
    assert pq.read_schema(part).field("contact_id").type == pa.int64()


def test_a_wrong_type_is_held_on_a_column_whose_values_no_expectation_reads(home):
    """The check reads only the values its row-level expectations need; the types come from the landed schema."""
    table = contract_table("crm", "contacts", batch_id(0), contacts(5))
    index = table.schema.get_field_index("_record")
    table = table.set_column(index, pa.field("_record", pa.int64()), pa.array(range(5), pa.int64()))
    folder = land_table(home.lake, "crm", "contacts", batch_id(0), table)

    result = check_batch(home, CONTACTS, batch_id(0), now=NOW)

    assert batch_state(folder) == "held"
    assert [(f.column, f.expected, f.observed) for f in result.critical] == [("_record", "Arrow type string", "int64")]


def test_an_extra_column_is_drift_a_warning_and_the_batch_is_checked(home):
    table = contract_table("crm", "contacts", batch_id(0), contacts(5))
    table = table.append_column("loyalty_tier", pa.array(["gold"] * 5))
    folder = land_table(home.lake, "crm", "contacts", batch_id(0), table)

    result = check_batch(home, CONTACTS, batch_id(0), now=NOW)

    assert result.passed and batch_state(folder) == "checked"
    (drift,) = result.warnings
    assert (drift.expectation_type, drift.severity, drift.observed) == (
        "expect_table_columns_to_match_set",
        "warning",
        "extra column(s) loyalty_tier",
    )
    assert read_marker(folder, CHECKED)["warnings"] == [drift.to_dict()]


def test_rows_that_name_another_batch_hold_the_batch(home):
    """Readers join rows to their folder on `_batch_id`: rows copied under another id would go unread."""
    first = land_pending(home.lake, "crm", "contacts", 0, contacts(4))
    copy = shutil.copytree(first, first.with_name(f"batch_id={batch_id(1)}"))

    result = check_batch(home, CONTACTS, batch_id(1), now=NOW)

    assert batch_state(copy) == "held"
    (failure,) = result.critical
    assert (failure.expectation_type, failure.column, failure.expected) == (
        "expect_column_values_to_be_in_set",
        "_batch_id",
        f"values in {{{batch_id(1)}}}",
    )
    assert failure.sample_values[0] == f"contact_id=C00000: {batch_id(0)}"


def test_an_unreadable_part_file_holds_the_batch(home):
    folder = land_pending(home.lake, "crm", "contacts", 0, contacts(4))
    (folder / "part-00001.parquet").write_bytes(b"not parquet")

    result = check_batch(home, CONTACTS, batch_id(0), now=NOW)

    (failure,) = result.critical
    assert failure.expectation_type == "parquet_part_files"
    assert failure.observed.startswith("part-00001.parquet cannot be read")
    assert batch_state(folder) == "held"


def test_a_volume_collapse_after_normal_batches_warns(home):
    for day, size in enumerate([100, 120, 110, 130, 105, 115]):
        land(home.lake, "crm", "contacts", batch_id(day), contacts(size, start=day * 1000))  # checked, visible
    land_pending(home.lake, "crm", "contacts", 6, contacts(10, start=6000))

    (result,) = check_pending(home, CONTACTS, now=NOW)

    assert result.passed and result.critical == []
    (volume,) = result.warnings
    assert (volume.expectation_type, volume.observed) == ("expect_table_row_count_to_be_between", "10")
    assert volume.expected == "a row count between 25 and 520"  # 0.25 × 100 and 4 × 130


def test_no_volume_band_before_enough_history(home):
    for day, size in enumerate([100, 120, 110]):
        land(home.lake, "crm", "contacts", batch_id(day), contacts(size, start=day * 1000))
    land_pending(home.lake, "crm", "contacts", 3, contacts(2, start=3000))

    (result,) = check_pending(home, CONTACTS, now=NOW)

    assert result.passed and result.warnings == []


def test_malformed_emails_at_scale_warn_then_hold(home):
    rows = subscribers(20_000)
    for row in rows[::7]:  # 2,858 of 20,000 (14%): below the 90% warning line, above the 50% critical one
        row["email"] = row["email"].replace("@example.org", "@example")
    land_pending(home.lake, "email", "subscribers", 0, rows)
    broken = subscribers(20_000)
    for i, row in enumerate(broken):
        if i % 10 < 7:  # 70% malformed: the feed is broken
            row["email"] = row["email"].replace("@example.org", "@example")
    land_pending(home.lake, "email", "subscribers", 1, broken)

    some, most = check_pending(home, SUBSCRIBERS, now=NOW)

    assert some.passed and some.critical == []
    (warning,) = some.warnings
    assert (warning.expectation_type, warning.column) == ("expect_column_values_to_match_regex", "email")
    assert warning.observed == "2,858 of 20,000 non-null values (14.3%)"
    assert warning.sample_values[0] == "subscriber_id=S000000: r***@example"
    assert not most.passed
    assert [(f.expectation_type, f.column) for f in most.critical] == [("expect_column_values_to_match_regex", "email")]
    assert "for at least 50% of non-null values" in most.critical[0].expected
    for result in (some, most):
        assert "reader0@example" not in result.message()


def test_a_handful_of_malformed_emails_only_warns(home):
    rows = subscribers(10)
    for row in rows[:8]:
        row["email"] = "n/a"
    land_pending(home.lake, "email", "subscribers", 0, rows)

    result = check_batch(home, SUBSCRIBERS, batch_id(0), now=NOW)

    assert result.passed
    assert [f.severity for f in result.warnings] == ["warning", "warning"]
    assert "(critical from 200 rows; this batch has 10)" in result.warnings[1].expected
    assert result.warnings[1].sample_values == tuple(f"subscriber_id=S00000{i}: n/a" for i in range(5))


def test_check_pending_takes_published_unchecked_batches_and_all_takes_every_published_one(home):
    land(home.lake, "crm", "contacts", batch_id(0), contacts(3))  # checked already
    pending = land_pending(home.lake, "crm", "contacts", 1, contacts(3))
    writing = land(home.lake, "crm", "contacts", batch_id(2), contacts(3), visible=False)  # no _SUCCESS yet

    assert [r.batch_id for r in check_pending(home, now=NOW)] == [batch_id(1)]
    assert batch_state(pending) == "checked"
    assert [r.batch_id for r in check_pending(home, CONTACTS, all=True, now=NOW)] == [batch_id(0), batch_id(1)]
    assert batch_state(writing) == "writing"
    with pytest.raises(RuntimeError, match="not published yet"):
        check_batch(home, CONTACTS, batch_id(2), now=NOW)


def test_a_new_verdict_replaces_the_stale_one(home):
    rows = contacts(4)
    rows[1]["contact_id"] = rows[0]["contact_id"]
    folder = land_pending(home.lake, "crm", "contacts", 0, rows)
    assert not check_batch(home, CONTACTS, batch_id(0), now=NOW).passed

    pq.write_table(contract_table("crm", "contacts", batch_id(0), contacts(4)), folder / "part-00000.parquet")
    assert check_batch(home, CONTACTS, batch_id(0), now=NOW).passed
    assert (folder / CHECKED).exists() and not (folder / HELD).exists()

    pq.write_table(contract_table("crm", "contacts", batch_id(0), rows), folder / "part-00000.parquet")
    assert not check_batch(home, CONTACTS, batch_id(0), now=NOW).passed
    assert (folder / HELD).exists() and not (folder / CHECKED).exists()


def read_suite(name: str) -> list:
    import json

    return json.loads(suite_file(name).read_text())["expectations"]
