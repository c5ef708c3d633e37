"""The result objects: messages that name what failed, never a whole e-mail address or phone number."""

from __future__ import annotations

import pytest

from tessera.checks import CheckFailed, CheckResult, Failure, raise_on_critical
from tessera.checks.results import mask_value

pytestmark = pytest.mark.unit

DUPLICATE = Failure(
    suite="crm.contacts",
    expectation_type="expect_column_values_to_be_unique",
    column="contact_id",
    severity="critical",
    observed="2 of 10 non-null values (20.0%)",
    sample_values=("C00002",),
    expected="unique values",
)


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [
        ("email", "jane.doe@example.com", "j***@example.com"),
        ("receipt_email", "n/a", "n/a"),
        ("email", "jane.doe.example.com", "jan***"),
        ("phone", "+4915112345678", "+49********678"),
        ("phone", "0000", "0000"),
        ("first_name", "Jane", "J***"),
        ("contact_id", "C00002", "C00002"),
        ("occurred_at", None, "null"),
    ],
)
def test_failing_values_are_masked_like_explain_masks_identifiers(column, value, shown):
    assert mask_value(column, value, pii=frozenset({"email", "receipt_email", "phone", "first_name"})) == shown


def test_a_failure_message_names_suite_expectation_column_and_values():
    assert DUPLICATE.message() == (
        "crm.contacts: expect_column_values_to_be_unique on contact_id (critical): expected unique values; "
        "observed 2 of 10 non-null values (20.0%); failing values: C00002"
    )
    assert Failure.from_dict(DUPLICATE.to_dict()) == DUPLICATE


def test_raise_on_critical_raises_only_for_results_with_critical_failures():
    held = CheckResult("crm.contacts", "/lake/raw/crm/contacts/batch_id=B1", False, [DUPLICATE], batch_id="B1")
    warned = CheckResult("marts.golden_customers", "/warehouse.duckdb", True, warnings=[DUPLICATE], expectations=7)

    raise_on_critical([warned])
    with pytest.raises(CheckFailed) as failed:
        raise_on_critical([warned, held])

    message = str(failed.value)
    assert message.startswith(
        "crm.contacts batch B1 failed: 1 critical failure(s) (/lake/raw/crm/contacts/batch_id=B1)\n"
        f"  - {DUPLICATE.message()}\n"
    )
    assert "tessera check --release crm.contacts B1 --reason" in message
    assert "marts.golden_customers" not in message
