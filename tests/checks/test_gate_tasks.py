"""The callables the extract DAGs' `check_<stream>` tasks run: a critical failure fails the task with a message
naming the suite, the expectation, the column and sample values, and the batch is held; warnings do not fail it."""

from __future__ import annotations

import pytest

from connectors.lake import batch_dir, batch_state
from tessera.checks import CheckFailed
from tessera.gates import check_landed_batch
from tests.checks.conftest import batch_id, contacts, contract_table, land_pending, land_table

pytestmark = pytest.mark.integration


def test_a_good_batch_passes_and_a_batch_with_only_warnings_does_not_fail_the_task(home):
    land_pending(home.lake, "crm", "contacts", 0, contacts(5))
    assert check_landed_batch("crm", "contacts", batch_id(0), home=home) == {
        "stream": "crm.contacts",
        "batch_id": batch_id(0),
        "checked": True,
        "warnings": 0,
    }
    # A few malformed e-mails: below the warning threshold, above the critical one.
    rows = contacts(20, start=100)
    for row in rows[:3]:
        row["email"] = "not-an-address"
    land_pending(home.lake, "crm", "contacts", 1, rows)
    summary = check_landed_batch("crm", "contacts", batch_id(1), home=home)
    assert summary["warnings"] >= 1
    assert batch_state(batch_dir(home.lake, "raw", "crm", "contacts", batch_id(1))) == "checked"


def test_a_critical_failure_fails_the_task_naming_suite_expectation_column_and_samples(home):
    table = contract_table("crm", "contacts", batch_id(2), [*contacts(2), contacts(1)[0]])  # C00000 twice
    land_table(home.lake, "crm", "contacts", batch_id(2), table)
    with pytest.raises(CheckFailed) as failed:
        check_landed_batch("crm", "contacts", batch_id(2), home=home)
    message = str(failed.value)
    assert "crm.contacts" in message and "expect_column_values_to_be_unique" in message
    assert "contact_id" in message and "C00000" in message
    assert batch_state(batch_dir(home.lake, "raw", "crm", "contacts", batch_id(2))) == "held"


def test_an_interval_that_landed_no_rows_has_nothing_to_check(home):
    assert check_landed_batch("crm", "contacts", batch_id(3), home=home)["checked"] is False
